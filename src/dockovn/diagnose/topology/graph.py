"""A Topology drawn as a Graphviz graph: one box per host with its containers inside,
networks, routers and service VIPs between them.

Pure (model in, ``graphviz.Digraph`` out): the DOT source is the picture's whole
content, so tests check it without the ``dot`` binary; only rendering to SVG/PNG
needs it.

Node names are prefixed by kind and never contain ':' (DOT reads ``a:b`` in an
edge as node a, port b).
"""

from __future__ import annotations

import graphviz

from dockovn.diagnose.topology.model import Container, Host, Topology

FONT = "Helvetica"
UP = {"style": "filled,rounded", "fillcolor": "#d9f2d9", "color": "#2e7d32"}
# Down: not bound by ovn-controller, so no traffic reaches it: greyed and dashed.
DOWN = {"style": "filled,rounded,dashed", "fillcolor": "#eeeeee", "color": "#9e9e9e",
        "fontcolor": "#757575"}


def _node(kind: str, *parts: str) -> str:
    return "_".join((kind, *parts)).replace(":", "_")


def host_node(name: str) -> str:
    return _node("host", name)


def container_node(key: str) -> str:
    return _node("c", key)


def network_node(network_id: str) -> str:
    return _node("n", network_id)


def router_node(logical_router: str) -> str:
    return _node("r", logical_router)


def service_node(name: str, network_id: str) -> str:
    return _node("s", name, network_id)


def lines(*parts: str) -> str:
    """A multi-line label; DOT's own line break, with user text escaped."""
    return "\\n".join(graphviz.escape(p) for p in parts if p)


def graph(topo: Topology, title: str = "dockovn topology") -> graphviz.Digraph:
    g = graphviz.Digraph("dockovn", graph_attr={
        "rankdir": "LR", "compound": "true", "fontname": FONT, "label": title,
        "labelloc": "t", "nodesep": "0.3", "ranksep": "1.0"},
        node_attr={"fontname": FONT, "fontsize": "10"},
        edge_attr={"fontname": FONT, "fontsize": "9"})
    for host in topo.hosts:
        _host(g, host, topo.on_host(host.name), topo)
    for net in topo.networks:
        g.node(network_node(net.id), lines(net.name, *net.subnets,
                                           *(f"gw {gw}" for gw in net.gateways)),
               shape="ellipse", style="filled", fillcolor="#e3f2fd", color="#1565c0")
    for router in topo.routers:
        if not router.shared:
            continue  # a network's own router is its gateway, shown on the network
        g.node(router_node(router.logical_router), lines(f"router {router.name}"),
               shape="octagon", style="filled", fillcolor="#fff3e0", color="#e65100")
        for net in router.networks:
            g.edge(network_node(net), router_node(router.logical_router))
    for c in topo.containers:
        for a in c.attachments:
            g.edge(container_node(c.key), network_node(a.network),
                   label=graphviz.escape(" ".join(a.addresses)),
                   **({} if a.up else {"style": "dashed", "color": "#9e9e9e"}))
    for s in topo.services:
        node = service_node(s.name, s.network)
        g.node(node, lines(f"service {s.name}", f"VIP {s.vip}",
                           "health-checked" if s.health_checked else ""),
               shape="component", style="filled", fillcolor="#f3e5f5", color="#6a1b9a")
        g.edge(node, network_node(s.network), label="VIP", color="#6a1b9a")
        for key in s.backends:  # which containers the VIP sends to now
            g.edge(node, container_node(key), style="dotted", color="#6a1b9a",
                   arrowhead="vee", constraint="false")
    return g


def _host(g: graphviz.Digraph, host: Host, containers: list[Container],
          topo: Topology) -> None:
    label = lines(host.label, *host.encaps, "" if host.registered else "(no chassis in SB)")
    with g.subgraph(name=f"cluster_{host_node(host.name)}") as sub:
        sub.attr(label=label, style="rounded" if host.registered else "rounded,dashed",
                 color="#424242" if host.registered else "#9e9e9e", fontname=FONT)
        if not containers:
            # An empty cluster is not drawn at all: an invisible point keeps the host.
            sub.node(host_node(host.name), "", shape="point", style="invis")
        for c in containers:
            sub.node(container_node(c.key), _container_label(c, topo), shape="box",
                     **(UP if c.up else DOWN))


def _container_label(c: Container, topo: Topology) -> str:
    # Its networks and addresses are on its edges; the label adds what edges cannot say.
    odd = []
    for a in c.attachments:
        if a.chassis and a.chassis != c.host:  # bound elsewhere than its host says
            net = topo.network(a.network)
            odd.append(f"{net.name if net else a.network[:12]} bound on {a.chassis}")
    return lines(c.name, *odd,
                 *(f"service {s}" for s in c.services),
                 *(f"policy {p}" for p in c.policies),
                 "" if c.up else "down")
