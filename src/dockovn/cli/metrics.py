"""`dockovn metrics`: OVS's and OVN's counters of a machine without a driver (the central)."""

from __future__ import annotations

import asyncio
import signal

import click
from prometheus_client import CollectorRegistry

from dockovn.cli.common import console
from dockovn.metrics.daemons import DaemonCounters
from dockovn.metrics.exporter import parse_address, serve_metrics

DEFAULT_ADDRESS = "127.0.0.1:9477"  # beside a driver's 9476 on an all-in-one machine


@click.command("metrics")
@click.option("--address", default=DEFAULT_ADDRESS, show_default=True,
              help="Serve on http://ADDRESS/metrics.")
@click.option("--rundir", "rundirs", multiple=True,
              default=("/var/run/ovn", "/var/run/openvswitch"), show_default=True,
              help="Where the daemons' pidfiles and control sockets are. Repeatable.")
def metrics_command(address: str, rundirs: tuple[str, ...]) -> None:
    """Serve the counters of the OVS and OVN daemons on this machine in Prometheus'
    format: ovn-northd, the NB and SB databases with their Raft term and role,
    ovn-controller, ovs-vswitchd. A host's driver serves these already (`dockovn driver
    --metrics-address`); this is for the central's machines."""
    try:
        parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    registry = CollectorRegistry()
    registry.register(DaemonCounters(list(rundirs)))
    console.print(f"metrics on http://{address}/metrics (Ctrl-C stops)")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_metrics(address, registry, stop)

    asyncio.run(main())
