"""`dockovn ls`: dockovn networks and ports with container names, as a table."""

from __future__ import annotations

import json

import click
from rich.table import Table

from dockovn.cli.cloud import open_neutron, password_if_needed, underlay_options
from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST, DockerEngine
from dockovn.host.ovs import DEFAULT_OVS_DB, OvsError
from dockovn.host.vm_bridge import VmBridge
from dockovn.network.overlay import inventory
from dockovn.network.underlay import inventory as underlay_inventory
from dockovn.network.api import DRIVER_NAME
from dockovn.ovn.sb import Southbound

COLUMNS = ("network", "subnet", "port", "container", "ip", "mac", "chassis", "up")
UNDERLAY_COLUMNS = ("network", "neutron_network", "subnet", "port", "container", "ip", "mac",
                    "vlan")


@click.command("ls")
@click.option("--mode", type=click.Choice(["overlay", "underlay"]), default="overlay",
              show_default=True, envvar="DOCKOVN_MODE")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
@click.option("--bridge", default="breth0", show_default=True, help="Underlay: the VM's bridge.")
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True,
              envvar="DOCKER_HOST", help="Underlay: where container names come from.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@underlay_options
def ls(mode: str, nb: str | None, sb: str | None, ovs_db: str, bridge: str, docker_host: str,
       as_json: bool, vif_id: str | None, os_cloud: str | None,
       neutron_url: str | None) -> None:
    """List networks and their ports: container, IP, MAC, chassis/VLAN, up."""
    if mode == "underlay":
        rows, columns = _underlay_rows(ovs_db, bridge, docker_host, vif_id, os_cloud,
                                       neutron_url), UNDERLAY_COLUMNS
    else:
        rows, columns = _overlay_rows(nb, sb, ovs_db), COLUMNS
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        return
    table = Table(title=f"dockovn networks ({mode})")
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*(getattr(r, c) for c in columns))
    console.print(table)


def _overlay_rows(nb, sb, ovs_db):
    _, default_sb, ssl = host_connection(ovs_db)
    nbc = open_northbound(nb, ovs_db)
    try:
        try:
            sbc = Southbound(sb or default_sb, timeout=5, ssl=ssl)
            chassis = sbc.port_chassis()
            sbc.close()
        except Exception:  # SB down: still show what NB knows
            chassis = {}
        return inventory.rows(nbc, chassis)
    finally:
        nbc.close()


def _underlay_rows(ovs_db, bridge, docker_host, vif_id, os_cloud, neutron_url):
    neutron = open_neutron(os_cloud, neutron_url, vif_id, password_if_needed(os_cloud), 10)
    try:
        vm_bridge = VmBridge(ovs_db, bridge, timeout=10)
    except OvsError as exc:
        neutron.close()
        raise click.ClickException(str(exc)) from exc
    try:
        try:
            engine = DockerEngine(docker_host)
            try:
                networks = {n.id: n.name for n in engine.networks(DRIVER_NAME)}
                containers = engine.live_endpoints(DRIVER_NAME)
            finally:
                engine.close()
        except Exception:  # dockerd down: still show what Neutron knows
            networks, containers = {}, {}
        return underlay_inventory.rows(neutron, vm_bridge, vif_id, networks, containers)
    finally:
        vm_bridge.close()
        neutron.close()
