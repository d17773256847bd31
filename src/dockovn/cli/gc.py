"""`dockovn gc`: remove ports, veths, networks and pools whose owner is gone."""

from __future__ import annotations

import socket

import click
from rich.table import Table

from dockovn.cli.cloud import open_neutron, password_if_needed, underlay_options
from dockovn.cli.common import console, open_northbound
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST, DockerEngine
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch, OvsError
from dockovn.host.vm_bridge import VmBridge
from dockovn.network.collector import BaseCollector
from dockovn.network.overlay.gc import Collector
from dockovn.network.overlay import dead_host
from dockovn.network.underlay.gc import UnderlayCollector
from dockovn.ovn.nb import NorthboundError
from dockovn.ovn.sb import Southbound


@click.command("gc")
@click.option("--mode", type=click.Choice(["overlay", "underlay"]), default="overlay",
              show_default=True, envvar="DOCKOVN_MODE")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--min-age", default=60.0, show_default=True,
              help="Spare rows younger than this many seconds (requests in flight).")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
@click.option("--bridge", default=None, help="[default: br-int; underlay: breth0]")
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True, envvar="DOCKER_HOST")
@click.option("--forget-host", default=None, metavar="HOST",
              help="Instead: remove everything HOST (chassis name or hostname), gone for "
                   "good, left in NB: its containers' ports and addresses, its network views.")
@click.option("--sb", default=None,
              help="With --forget-host: also delete HOST's chassis from this SB (needs full "
                   "access: the central's unix socket).")
@click.option("--yes", is_flag=True, help="With --forget-host: do not ask.")
@underlay_options
def gc(mode: str, dry_run: bool, min_age: float, nb: str | None, ovs_db: str,
       bridge: str | None, docker_host: str, forget_host: str | None, sb: str | None,
       yes: bool, vif_id: str | None, os_cloud: str | None, neutron_url: str | None) -> None:
    """Find and remove state whose container, endpoint or network is gone."""
    if forget_host:
        return _forget_host(forget_host, nb, ovs_db, sb, dry_run, yes)
    closers = []
    try:
        if mode == "underlay":
            neutron = open_neutron(os_cloud, neutron_url, vif_id, password_if_needed(os_cloud),
                                   timeout=10)
            closers.append(neutron.close)
            ovs = _open(VmBridge, ovs_db, bridge or "breth0")
            closers.append(ovs.close)
            collector: BaseCollector = UnderlayCollector(
                neutron, ovs, vif_id, lambda: DockerEngine(docker_host), min_age)
        else:
            nbc = open_northbound(nb, ovs_db, timeout=10)
            closers.append(nbc.close)
            ovs = _open(LocalSwitch, ovs_db, bridge or "br-int")
            closers.append(ovs.close)
            host_id = ovs.system_id() or socket.gethostname()
            collector = Collector(nbc, ovs, host_id, lambda: DockerEngine(docker_host), min_age)
        try:
            results = collector.run(dry_run=dry_run)
        except Exception as exc:  # dockerd (or Neutron) unreachable: nothing was removed
            raise click.ClickException(f"cannot tell what is live ({exc}); nothing removed") \
                from exc
    finally:
        for close in reversed(closers):
            close()
    if not results:
        console.print("nothing stale")
        return
    table = Table(title="dockovn gc" + (" (dry run)" if dry_run else ""))
    for col in ("what", "name", "why", "outcome"):
        table.add_column(col)
    for item, outcome in results:
        table.add_row(item.kind, item.name[:40], item.reason, outcome)
    console.print(table)
    if any(o.startswith("failed") for _, o in results):
        raise SystemExit(1)


def _forget_host(host: str, nb: str | None, ovs_db: str, sb: str | None, dry_run: bool,
                 yes: bool) -> None:
    nbc = open_northbound(nb, ovs_db, timeout=10)
    try:
        state = dead_host.find(nbc, host)
        chassis = None
        if sb:
            sbc = Southbound(sb, timeout=10)
            try:
                chassis = sbc.chassis_named(host)
                if chassis and not dry_run and (yes or click.confirm(
                        f"delete chassis {chassis} from the Southbound DB?")):
                    sbc.delete_chassis(chassis)
                    console.print(f"chassis {chassis} deleted")
            finally:
                sbc.close()
        if state.empty:
            console.print(f"nothing of host {host} in NB")
            return
        table = Table(title=f"state of host {host}" + (" (dry run)" if dry_run else ""))
        for col in ("network", "port", "container"):
            table.add_column(col)
        for switch, port, who in state.ports:
            table.add_row(switch[:12], port[:12], who)
        console.print(table)
        console.print(f"{len(state.ports)} port(s), "
                      f"{sum(len(a) for a in state.releases.values())} address(es), "
                      f"{sum(len(k) for k in state.aliases.values())} network view(s)")
        if dry_run:
            return
        if not yes and not click.confirm(f"host {host} is gone for good: remove all this?"):
            raise click.ClickException("nothing removed")
        try:
            dead_host.forget(nbc, state)
        except NorthboundError as exc:
            raise click.ClickException(str(exc)) from exc
        console.print(f"host {host} forgotten" + (
            "" if sb or chassis else "; on the central, `ovn-sbctl chassis-del` its chassis "
            "(or pass --sb unix:/var/run/ovn/ovnsb_db.sock there)"))
    finally:
        nbc.close()


def _open(cls, ovs_db: str, bridge: str):
    try:
        return cls(ovs_db, bridge, timeout=10)
    except OvsError as exc:
        raise click.ClickException(str(exc)) from exc
