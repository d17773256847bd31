"""Routing between networks in OVN: each network's gateway address is a port of a
logical router (one of its own, or a named router it shares with other networks)."""

from __future__ import annotations

from dockovn.network import external_ids, identifiers, spec
from dockovn.network.api import StaticRoute
from dockovn.ovn.nb import LogicalSwitch, Northbound, RouterAttachment


def router_attachment(network_id: str, want: spec.NetworkSpec) -> RouterAttachment | None:
    """The gateway as a logical router port: it answers on every host (OVN routers
    are distributed), and routes to the other networks of a named router."""
    networks = []
    if want.gateway is not None:
        networks.append(f"{want.gateway}/{want.subnet.prefixlen}")
    if want.gateway6 is not None and want.subnet6 is not None:
        networks.append(f"{want.gateway6}/{want.subnet6.prefixlen}")
    if not networks:
        return None
    lr, lrp, rtr = identifiers.router_names(network_id, want.router)
    mac = identifiers.mac_for_ipv4(str(want.gateway)) if want.gateway else \
        identifiers.mac_for_ipv4("0.0.0.1")
    return RouterAttachment(router=lr, router_external_ids={external_ids.ROUTER: want.router or ""},
                            router_port=lrp, switch_port=rtr, mac=mac,
                            networks=tuple(networks))


def routes_to_peers(nb: Northbound, switch: LogicalSwitch) -> list[StaticRoute]:
    """A container's routes to the other networks of its network's named router, through
    its network's gateway address (the router's port)."""
    router = switch.external_ids.get(external_ids.ROUTER)
    if not router:
        return []
    routes = []
    for other in nb.switches_with(external_ids.ROUTER, router):
        if other.name == switch.name:
            continue
        for subnet_key, gw_key in ((external_ids.SUBNET, external_ids.GATEWAY),
                                   (external_ids.SUBNET6, external_ids.GATEWAY6)):
            gateway = switch.external_ids.get(gw_key)
            if other.external_ids.get(subnet_key) and gateway:
                routes.append(StaticRoute(destination=other.external_ids[subnet_key],
                                          route_type=0, next_hop=gateway))
    return routes
