"""`dockovn doctor`: check this host and the cluster; every problem says what to do."""

from __future__ import annotations

import json

import click
from rich.table import Table

from dockovn.cli.common import console, host_connection
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.diagnose.doctor import checkup
from dockovn.diagnose.doctor.findings import HOST, Severity, failed
from dockovn.network.overlay.driver import DEFAULT_MTU
from dockovn.plugin.server import PLUGIN_DIR

STYLE = {Severity.OK: "[green]ok[/]", Severity.WARN: "[yellow]warn[/]",
         Severity.FAIL: "[red]FAIL[/]", Severity.SKIP: "[dim]skip[/]"}


@click.command("doctor")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
@click.option("--ovs-rundir", default="",
              help="ovs-vswitchd's pidfile and bridge sockets [default: the --ovs-db "
                   "socket's folder].")
@click.option("--ovn-rundir", default="/var/run/ovn", show_default=True,
              help="ovn-controller's pidfile and control socket (OVN_RUNDIR).")
@click.option("--bridge", default="br-int", show_default=True)
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True,
              envvar="DOCKER_HOST")
@click.option("--plugin-dir", default=PLUGIN_DIR, show_default=True,
              help="Where the driver's socket is.")
@click.option("--central-rundir", default=None,
              help="On a central member: its rundir, to add its own Raft role and "
                   "ovn-northd state.")
@click.option("--central-dbdir", default="/var/lib/ovn", show_default=True)
@click.option("--probe-seconds", default=3.0, show_default=True, type=click.FloatRange(0.5, 60),
              help="How long tunnel traffic is watched.")
@click.option("--mtu", "default_mtu", default=DEFAULT_MTU, show_default=True,
              help="The driver's --mtu (networks created without -o mtu have it).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def doctor_command(nb: str | None, sb: str | None, ovs_db: str, ovs_rundir: str,
                   ovn_rundir: str, bridge: str, docker_host: str, plugin_dir: str,
                   central_rundir: str | None, central_dbdir: str, probe_seconds: float,
                   default_mtu: int, as_json: bool) -> None:
    """Check this host (OVS, ovn-controller, chassis, tunnels, MTU, datapath, driver,
    dockerd, containers) and the cluster (NB/SB, Raft, ovn-northd, lag, Docker vs NB).

    Exit status 1 when any check fails. A check whose prerequisite failed is skipped:
    one fault, one finding."""
    recorded_nb, recorded_sb, ssl = host_connection(ovs_db)
    findings = checkup.run(checkup.Config(
        nb=nb or recorded_nb, sb=sb or recorded_sb, ssl=ssl, ovs_db=ovs_db,
        ovs_rundir=ovs_rundir, ovn_rundir=ovn_rundir, bridge=bridge, docker_host=docker_host,
        plugin_dir=plugin_dir, central_rundir=central_rundir, central_dbdir=central_dbdir,
        probe_seconds=probe_seconds, default_mtu=default_mtu))
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        console.print(_table(findings))
        problems = [f for f in findings if f.problem]
        console.print(f"{len(problems)} problem(s)" if problems else "no problems found")
    if failed(findings):
        raise SystemExit(1)


def _table(findings) -> Table:
    table = Table(title="dockovn doctor")
    for col in ("scope", "check", "status", "found", "what to do"):
        table.add_column(col)
    for f in findings:
        table.add_row("host" if f.scope == HOST else "cluster", f.check, STYLE[f.severity],
                      f.summary, f.action)
    return table
