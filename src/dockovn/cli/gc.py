"""`dockovn gc`: remove ports, veths, networks and pools whose owner is gone."""

from __future__ import annotations

import socket

import click
from rich.table import Table

from dockovn.cli.common import console, open_northbound
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST, DockerEngine
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch, OvsError
from dockovn.network.gc import Collector


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--min-age", default=60.0, show_default=True,
              help="Spare rows younger than this many seconds (requests in flight).")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
@click.option("--bridge", default="br-int", show_default=True)
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True, envvar="DOCKER_HOST")
def gc(dry_run: bool, min_age: float, nb: str | None, ovs_db: str, bridge: str,
       docker_host: str) -> None:
    """Find and remove state whose container, endpoint or network is gone."""
    nbc = open_northbound(nb, ovs_db, timeout=10)
    try:
        ovs = LocalSwitch(ovs_db, bridge, timeout=10)
    except OvsError as exc:
        nbc.close()
        raise click.ClickException(str(exc)) from exc
    try:
        host_id = ovs.system_id() or socket.gethostname()
        collector = Collector(nbc, ovs, host_id, lambda: DockerEngine(docker_host), min_age)
        try:
            results = collector.run(dry_run=dry_run)
        except Exception as exc:  # dockerd unreachable: nothing was removed
            raise click.ClickException(f"cannot tell what is live ({exc}); nothing removed") \
                from exc
    finally:
        nbc.close()
        ovs.close()
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
