"""`dockovn ui`: the cluster on a live web page (dockovn/ui)."""

from __future__ import annotations

import asyncio
import signal

import click
from aiohttp import web

from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.diagnose.doctor import checkup
from dockovn.diagnose.trace import run as tracing
from dockovn.diagnose.trace.endpoints import TraceInputError
from dockovn.diagnose.trace.report import as_dict
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.metrics.exporter import parse_address
from dockovn.ovn.sb import Southbound
from dockovn.plugin.server import PLUGIN_DIR
from dockovn.ui.server import Live, make_app
from dockovn.ui.state import Sources, Watcher


@click.command("ui")
@click.option("--address", default="127.0.0.1:8090", show_default=True,
              help="Serve the page on http://ADDRESS/ (it shows the whole cluster: keep it "
                   "on loopback, or behind something that asks who you are).")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True,
              help="This host's Open vSwitch (its set-up, doctor's host checks, traces).")
@click.option("--ovn-rundir", default="/var/run/ovn", show_default=True,
              help="ovn-controller's control socket (doctor's host checks).")
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True,
              envvar="DOCKER_HOST", help="This host's dockerd (doctor's host checks).")
@click.option("--plugin-dir", default=PLUGIN_DIR, show_default=True,
              help="Where the driver's socket is (doctor's host checks).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.2, 60),
              help="Seconds between reads of the cluster.")
@click.option("--doctor-interval", default=30.0, show_default=True,
              type=click.FloatRange(0, 3600), help="Seconds between doctor's runs (0: none).")
def ui_command(address, nb, sb, ovs_db, ovn_rundir, docker_host, plugin_dir, interval,
               doctor_interval) -> None:
    """Show the cluster live in a browser: hosts with their containers and networks,
    Raft members and the leader, doctor's findings, policies and services; trace a
    packet between two containers from the page."""
    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("metrics address", "address"),
                                 param_hint="--address") from None
    recorded_nb, recorded_sb, ssl = host_connection(ovs_db)
    nb_remote, sb_remote = nb or recorded_nb, sb or recorded_sb
    nbc = open_northbound(nb_remote, ovs_db)
    try:
        sbc = Southbound(sb_remote, timeout=5, ssl=ssl)
    except Exception as exc:  # the page still shows NB's side (no hosts, no bindings)
        console.print(f"[yellow]warning:[/] OVN Southbound at {sb_remote}: {exc}")
        sbc = None
    doctor = checkup.Config(nb=nb_remote, sb=sb_remote, ssl=ssl, ovs_db=ovs_db,
                            ovn_rundir=ovn_rundir, docker_host=docker_host,
                            plugin_dir=plugin_dir, probe_seconds=1.0) \
        if doctor_interval > 0 else None
    src = Sources(nbc, sbc, nb_remote, sb_remote, doctor)

    def trace(src_name: str, dst_name: str, protocol: str, port: int | None) -> dict:
        if sbc is None:
            return {"error": f"OVN Southbound at {sb_remote} was not reachable"}
        try:
            local, missing = tracing.local_host(ovs_db)
            report = tracing.trace(nbc, sbc, sb_remote, ssl, src_name, dst_name, protocol,
                                   port, 2.0, local, missing)
        except (TraceInputError, tracing.TraceError) as exc:
            return {"error": str(exc)}
        return as_dict(report)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        live = Live(loop)
        watcher = Watcher(src, live.publish, interval, doctor_interval or 1e9)
        watcher.start()
        runner = web.AppRunner(make_app(live, trace), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        console.print(f"dockovn ui on http://{address}/ (Ctrl-C stops)")
        try:
            await stop.wait()
        finally:
            watcher.stop()
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        if sbc is not None:
            sbc.close()
        nbc.close()
