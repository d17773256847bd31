"""`dockovn service ...`: the service registry and load-balanced VIPs."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from typing import Iterator

import click
from rich.table import Table

from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.network.services.manager import Services
from dockovn.network.services.model import CHECK_FAILURES, CHECK_INTERVAL, ServiceError
from dockovn.ovn.nb import NorthboundError
from dockovn.ovn.sb import Southbound

COLUMNS = ("service", "network", "vip", "container", "address", "chassis", "healthy")


def _connection_options(fn):
    fn = click.option("--nb", default=None, help="NB connection (default: this host's set-up).")(fn)
    fn = click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)(fn)
    return fn


@contextlib.contextmanager
def _services(nb: str | None, ovs_db: str) -> Iterator[Services]:
    nbc = open_northbound(nb, ovs_db)
    try:
        yield Services(nbc)
    except (ServiceError, NorthboundError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        nbc.close()


@click.group("service")
def service_group() -> None:
    """Services: a name for a set of containers, balanced in OVN or by the client.

    A container is an instance of a service when started with
    `--label dockovn.service=NAME --label dockovn.port=PORT` (or after
    `dockovn service add`). `dockovn service create` gives the service a VIP
    on a network, balanced by OVN, with backends that follow the instances.
    """


@service_group.command("ls")
@_connection_options
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def ls(nb: str | None, ovs_db: str, sb: str | None, as_json: bool) -> None:
    """Services, their VIPs and instances: container, IP:port, chassis, healthy.

    healthy: yes/no from OVN's health checks of the VIP's backends ("pending"
    before the first probe); "-" without a health check (client-side balancing
    decides for itself); "down" when the container's port is not bound.
    """
    _, default_sb, ssl = host_connection(ovs_db)
    try:
        sbc = Southbound(sb or default_sb, timeout=5, ssl=ssl)
        monitors = sbc.service_monitors()
        sbc.close()
    except Exception:  # SB down: still show what NB knows
        monitors = {}
    with _services(nb, ovs_db) as services:
        rows = services.listing(monitors)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title="dockovn services")
    for col in COLUMNS:
        table.add_column(col)
    for r in rows:
        healthy = {"yes": "[green]yes[/]", "no": "[red]no[/]"}.get(r.healthy, r.healthy)
        table.add_row(*(getattr(r, c) for c in COLUMNS[:-1]), healthy)
    console.print(table)


@service_group.command("create")
@click.argument("name")
@click.option("--network", required=True, help="The dockovn network (name or ID).")
@click.option("--vip", required=True, metavar="IP:PORT",
              help="Address clients connect to, on the network's subnet and used by "
                   "nothing else.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Backend port [default: each instance's dockovn.port].")
@click.option("--health-check/--no-health-check", default=True, show_default=True,
              help="OVN probes each backend (TCP connect) and leaves out dead ones.")
@click.option("--health-check-ip", default=None, metavar="IP",
              help="Source address of the probes: an unused address of the subnet "
                   "[default: the highest free one; reserved if the network uses dockovn's "
                   "IPAM].")
@click.option("--check-interval", type=click.IntRange(1, 300), default=CHECK_INTERVAL,
              show_default=True, help="Seconds between probes (and each probe's timeout).")
@click.option("--check-failures", type=click.IntRange(1, 100), default=CHECK_FAILURES,
              show_default=True, help="Missed probes before a backend is taken out.")
@_connection_options
def create(name: str, network: str, vip: str, port: int | None, health_check: bool,
           health_check_ip: str | None, check_interval: int, check_failures: int,
           nb: str | None, ovs_db: str) -> None:
    """Give service NAME a load-balanced VIP on a network (an OVN Load_Balancer)."""
    with _services(nb, ovs_db) as services:
        slb = services.create(name, network, vip, port, health_check, health_check_ip,
                              check_interval, check_failures)
        backends = [b for b in (slb.lb.vips.get(slb.vip_key, "") if slb.lb else "").split(",")
                    if b]
    checks = f"health checks from {slb.health_ip}" if slb.health_ip else "no health checks"
    click.echo(f"service {name}: VIP {slb.vip_key} on network {network}, "
               f"{len(backends)} backend(s) now, {checks}")


@service_group.command("delete")
@click.argument("name")
@click.option("--network", default=None, help="Only the VIP on this network.")
@_connection_options
def delete(name: str, network: str | None, nb: str | None, ovs_db: str) -> None:
    """Remove service NAME's VIP(s). Its instances stay registered."""
    with _services(nb, ovs_db) as services:
        gone = services.delete(name, network)
    for slb in gone:
        click.echo(f"service {name}: VIP {slb.vip_key} removed")


@service_group.command("add")
@click.argument("name")
@click.option("--container", required=True, help="Container name (or ID).")
@click.option("--port", type=click.IntRange(1, 65535), required=True,
              help="TCP port the container serves NAME on.")
@click.option("--network", default=None, help="Only its port on this network.")
@_connection_options
def add(name: str, container: str, port: int, network: str | None, nb: str | None,
        ovs_db: str) -> None:
    """Register a running container as an instance of service NAME (what the labels
    dockovn.service / dockovn.port do, for a container started without them)."""
    with _services(nb, ovs_db) as services:
        ports = services.add(name, container, port, network)
    click.echo(f"{container}: instance of {name} on port {port} "
               f"({len(ports)} network{'s' if len(ports) != 1 else ''})")


@service_group.command("remove")
@click.argument("name")
@click.option("--container", required=True, help="Container name (or ID).")
@click.option("--network", default=None, help="Only its port on this network.")
@_connection_options
def remove(name: str, container: str, network: str | None, nb: str | None,
           ovs_db: str) -> None:
    """Take a container out of service NAME. (A container labelled for the service
    is registered again when the driver restarts: its labels win.)"""
    with _services(nb, ovs_db) as services:
        services.remove(name, container, network)
    click.echo(f"{container}: no longer an instance of {name}")
