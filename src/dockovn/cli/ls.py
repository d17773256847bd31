"""`dockovn ls`: dockovn networks and ports with container names, as a table."""

from __future__ import annotations

import json

import click
from rich.table import Table

from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.network import inventory
from dockovn.ovn.sb import Southbound

COLUMNS = ("network", "subnet", "port", "container", "ip", "mac", "chassis", "up")


@click.command("ls")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def ls(nb: str | None, sb: str | None, ovs_db: str, as_json: bool) -> None:
    """List networks and their ports: container, IP, MAC, chassis, up."""
    _, default_sb, ssl = host_connection(ovs_db)
    nbc = open_northbound(nb, ovs_db)
    try:
        try:
            sbc = Southbound(sb or default_sb, timeout=5, ssl=ssl)
            chassis = sbc.port_chassis()
            sbc.close()
        except Exception:  # SB down: still show what NB knows
            chassis = {}
        rows = inventory.rows(nbc, chassis)
    finally:
        nbc.close()
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        return
    table = Table(title="dockovn networks")
    for col in COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(*(getattr(r, c) for c in COLUMNS))
    console.print(table)
