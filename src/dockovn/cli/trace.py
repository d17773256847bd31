"""`dockovn trace SRC DST`: whether a packet gets through, and if not, why."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.diagnose.trace import run as tracing
from dockovn.diagnose.trace.report import as_dict
from dockovn.diagnose.trace.endpoints import TraceInputError
from dockovn.ovn.sb import Southbound


class TraceFailed(click.ClickException):
    """The trace could not be made: exit 2 (1 means "it does not get through")."""
    exit_code = 2


@click.command("trace")
@click.argument("src")
@click.argument("dst")
@click.option("--tcp", "tcp_port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="A TCP connection to PORT (its first packet).")
@click.option("--udp", "udp_port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="A UDP datagram to PORT.")
@click.option("--icmp", is_flag=True, help="An ICMP echo request (the default).")
@click.option("--wait", type=click.FloatRange(0, 60), default=5.0, show_default=True,
              metavar="SECONDS",
              help="Seconds the hosts' ovn-controllers get to show they are alive; 0: do not "
                   "ask (asking raises NB_Global.nb_cfg, as `ovn-nbctl --wait=hv sync` does).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@click.option("--show-traces", is_flag=True, help="Also print ovn-trace's and ofproto/trace's "
                                                  "own output.")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True,
              help="This host's Open vSwitch (for its set-up and the OpenFlow trace).")
def trace_command(src, dst, tcp_port, udp_port, icmp, wait, as_json, show_traces, nb, sb,
                  ovs_db):
    """Does a packet from SRC get to DST? If not, why.

    SRC and DST are container names (on any host), container IDs or addresses. Uses
    OVN's logical trace (ovn-trace on the cluster's Southbound DB) and, when SRC is on
    this host, this host's OpenFlow tables (ofproto/trace). Exit status: 0 it gets
    through, 1 it does not, 2 the trace could not be made.
    """
    chosen = [p for p in (("tcp", tcp_port), ("udp", udp_port)) if p[1] is not None]
    if len(chosen) + bool(icmp) > 1:
        raise click.UsageError("give one of --tcp PORT, --udp PORT, --icmp")
    protocol, port = chosen[0] if chosen else ("icmp", None)

    _, default_sb, ssl = host_connection(ovs_db)
    sb_remote = sb or default_sb
    nbc = open_northbound(nb, ovs_db)
    try:
        try:
            sbc = Southbound(sb_remote, timeout=5, ssl=ssl)
        except Exception as exc:
            raise TraceFailed(f"cannot connect to OVN Southbound at {sb_remote}: {exc}") \
                from exc
        try:
            local, missing = tracing.local_host(ovs_db)
            report = tracing.trace(nbc, sbc, sb_remote, ssl, src, dst, protocol, port, wait,
                                   local, missing)
        except (TraceInputError, tracing.TraceError) as exc:
            raise TraceFailed(str(exc)) from exc
        finally:
            sbc.close()
    finally:
        nbc.close()

    if as_json:
        click.echo(json.dumps(as_dict(report, show_traces), indent=2))
    else:
        _print(report, show_traces)
    click.get_current_context().exit(0 if report.verdict.through else 1)


def _print(report: tracing.Report, show_traces: bool) -> None:
    f, v = report.facts, report.verdict
    path = {"same-network": "same network", "routed": f"routed via router {f.pair.router}",
            "isolated": "different networks, no shared router"}[f.pair.path]
    console.print(f"{f.pair.src.label} -> {f.pair.dst.label}: {f.protocol}, {path}",
                  highlight=False)
    style = "green" if v.through else "red"
    console.print(f"[{style}]{'THROUGH' if v.through else 'NOT THROUGH'}[/]: "
                  f"{escape(v.reason)}", highlight=False)
    step = report.logical.step
    logical = "delivered" if report.logical.delivered else (
        f"stops at {step.describe()}" if step else report.logical.kind)
    console.print(f"  OVN logical trace: {logical}", highlight=False, markup=False)
    if report.openflow is not None:
        o = report.openflow
        where = f"tunnel to {', '.join(o.tunnel_to)}" if o.tunnel_to else (
            "dropped" if o.dropped else "a port on this host")
        console.print(f"  this host's OpenFlow: {where} (datapath actions: "
                      f"{o.datapath_actions or 'none'})", highlight=False, markup=False)
    else:
        console.print(f"  this host's OpenFlow: not traced: {report.openflow_skipped}",
                      highlight=False, markup=False)
    for note in v.notes:
        console.print(f"  note: {note}", highlight=False, markup=False)
    if show_traces:
        console.print("\n--- ovn-trace ---\n" + report.logical_text, highlight=False,
                      markup=False)
        if report.openflow_text:
            console.print("--- ofproto/trace ---\n" + report.openflow_text, highlight=False,
                          markup=False)
