"""`dockovn topology`: the cluster as a picture (Graphviz), as JSON, or as an outline."""

from __future__ import annotations

import json
import os

import click
import graphviz
from rich.tree import Tree

from dockovn.cli.common import console, host_connection, open_northbound
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.diagnose.topology import model
from dockovn.diagnose.topology.graph import graph
from dockovn.ovn.sb import Southbound

# .dot/.gv: the DOT source itself (no Graphviz binary needed); the rest through `dot`.
SOURCE_SUFFIXES = (".dot", ".gv")
RENDERED_SUFFIXES = (".svg", ".png", ".pdf")


@click.command("topology")
@click.option("--out", "out", default=None, metavar="FILE",
              help="Write the picture: FILE.svg, FILE.png, FILE.pdf (need Graphviz's dot), "
                   "or FILE.dot (the DOT source).")
@click.option("--json", "as_json", is_flag=True, help="Print the topology as JSON.")
@click.option("--nb", default=None, help="NB connection (default: this host's set-up).")
@click.option("--sb", default=None, help="SB connection (default: this host's set-up).")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)
def topology_command(out: str | None, as_json: bool, nb: str | None, sb: str | None,
                     ovs_db: str) -> None:
    """Hosts, networks, routers, containers (up or down) and service VIPs, from OVN.

    Each host is a box holding its containers; containers point at their networks
    (edge label: address), networks at their shared router, service VIPs at their
    network and (dotted) at the containers they balance over now. A container whose
    port is not bound (not running, or its host is down) is grey and dashed.
    Without --out or --json: an outline on the terminal.
    """
    suffix = os.path.splitext(out)[1].lower() if out else ""
    if out and suffix not in SOURCE_SUFFIXES + RENDERED_SUFFIXES:
        raise click.UsageError(f"--out {out}: give a .svg, .png, .pdf or .dot file")
    topo = _read(nb, sb, ovs_db)
    if out:
        _write(topo, out, suffix)
    if as_json:
        click.echo(json.dumps(topo.to_dict(), indent=2))
    elif not out:
        console.print(outline(topo))
    if not topo.southbound:
        click.echo("Southbound unreachable: hosts and bindings are NB's view only", err=True)


def _read(nb: str | None, sb: str | None, ovs_db: str) -> model.Topology:
    _, default_sb, ssl = host_connection(ovs_db)
    nbc = open_northbound(nb, ovs_db)
    try:
        try:
            sbc = Southbound(sb or default_sb, timeout=5, ssl=ssl)
        except Exception:  # SB down: still show what NB knows
            sbc = None
        try:
            return model.read(nbc, sbc)
        finally:
            if sbc is not None:
                sbc.close()
    finally:
        nbc.close()


def _write(topo: model.Topology, out: str, suffix: str) -> None:
    g = graph(topo)
    if suffix in SOURCE_SUFFIXES:
        data = g.source.encode()
    else:
        try:
            data = g.pipe(format=suffix[1:])
        except graphviz.ExecutableNotFound:
            raise click.ClickException(
                f"drawing {suffix[1:].upper()} needs Graphviz's dot (apt-get install graphviz); "
                "--out FILE.dot works without it") from None
    with open(out, "wb") as f:
        f.write(data)
    click.echo(f"wrote {out}", err=True)


def outline(topo: model.Topology) -> Tree:
    names = {n.id: n.name for n in topo.networks}
    tree = Tree("dockovn topology")
    for host in topo.hosts:
        encaps = ", ".join(host.encaps) or ("no chassis in SB" if not host.registered else "")
        branch = tree.add(f"[bold]{host.label}[/] {encaps}")
        for c in topo.on_host(host.name):
            state = "[green]up[/]" if c.up else "[red]down[/]"
            nets = ", ".join(f"{names.get(a.network, a.network[:12])} {' '.join(a.addresses)}"
                             for a in c.attachments)
            branch.add(f"{c.name} {state}: {nets}")
    nets = tree.add("[bold]networks[/]")
    for n in topo.networks:
        router = f", router {n.router}" if n.router else ""
        nets.add(f"{n.name} {' '.join(n.subnets)}{router}")
    if topo.services:
        services = tree.add("[bold]services[/]")
        for s in topo.services:
            services.add(f"{s.name} VIP {s.vip} on {names.get(s.network, s.network[:12])}: "
                         f"{len(s.backends)} backend(s)")
    return tree
