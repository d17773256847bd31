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
from dockovn.network.underlay.gc import UnderlayCollector


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
@underlay_options
def gc(mode: str, dry_run: bool, min_age: float, nb: str | None, ovs_db: str,
       bridge: str | None, docker_host: str, vif_id: str | None, os_cloud: str | None,
       neutron_url: str | None) -> None:
    """Find and remove state whose container, endpoint or network is gone."""
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


def _open(cls, ovs_db: str, bridge: str):
    try:
        return cls(ovs_db, bridge, timeout=10)
    except OvsError as exc:
        raise click.ClickException(str(exc)) from exc
