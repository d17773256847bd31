"""What the overlay driver's calls do about the way out: the network's localport at
CreateNetwork, the gateway at Join, published ports at Program/RevokeExternalConnectivity,
and the host's side going with the container (Leave) or the network (DeleteNetwork)."""

from __future__ import annotations

import ipaddress
from typing import Any

from dockovn.host.ovs import LocalSwitch
from dockovn.network import external_ids, plugging
from dockovn.network.api import StaticRoute
from dockovn.network import identifiers
from dockovn.network.gateway import LOCALPORT_PREFIX, gateway_address
from dockovn.network.gateway.host_ports import GatewayPorts, gateway6, subnets_of
from dockovn.network.gateway.published import published_ports
from dockovn.ovn.nb import LocalPort, LogicalPort, LogicalSwitch, Northbound

WAYS_OUT = ("nat", "routed")  # the EGRESS values that give a gateway


def localport(nb: Northbound, network_id: str, egress: str) -> LocalPort | None:
    """The network's localport (created with its switch), unless it has no way out."""
    if egress not in WAYS_OUT:
        return None
    ip = gateway_address(network_id, nb.localport_addresses())
    return LocalPort(LOCALPORT_PREFIX + network_id, identifiers.mac_for_ipv4(ip), ip,
                     {external_ids.NETWORK_ID: network_id})


class Connectivity:
    def __init__(self, nb: Northbound, ovs: LocalSwitch, userspace_datapath: bool = True):
        self.nb = nb
        self.ovs = ovs
        self.ports = GatewayPorts(ovs, userspace_datapath)

    def start(self) -> None:
        self.ports.restore()

    def join(self, switch: LogicalSwitch) -> tuple[str | None, str | None, list[StaticRoute]]:
        """(the IPv4 gateway, the IPv6 one, the route that reaches the first) for a Join:
        this host's gateway port on the network is made if need be. (None, None, []) for
        a network without a way out through dockovn (``--internal``, or made before:
        Docker's gwbridge then)."""
        if switch.external_ids.get(external_ids.EGRESS) not in WAYS_OUT:
            return None, None, []
        port = self.nb.port(LOCALPORT_PREFIX + switch.name)
        if port is None or not port.addresses or len(port.addresses[0].split()) < 2:
            return None, None, []  # (a localport lost: Docker's gwbridge rather than nothing)
        mac, ip = port.addresses[0].split()[:2]
        self.ports.ensure(switch, ip, mac)
        # The gateways are outside the subnets: a connected route to each first (Docker
        # adds Join's routes before the default routes, which need one). The IPv6 one is
        # link-local, but Docker 26 looks its route up before the container's interface
        # has its own link-local route ("route for the gateway ... could not be found").
        ip6 = gateway6(mac, subnets_of(switch))
        routes = [StaticRoute(destination=f"{ip}/32", route_type=1)]
        if ip6:
            routes.append(StaticRoute(destination=f"{ip6}/128", route_type=1))
        return ip, ip6, routes

    def program(self, port: LogicalPort, endpoint_id: str, options: dict[str, Any] | None
                ) -> None:
        """Publish the container's ``-p`` ports on this host (nothing published: nothing
        done, the usual case: every container start on a network with a gateway calls it)."""
        ips = [ipaddress.ip_address(a) for a in port.addresses[0].split()[1:]] \
            if port.addresses else []
        ip4 = next((ip for ip in ips if ip.version == 4), None)
        ip6 = next((ip for ip in ips if ip.version == 6), None)
        wanted = published_ports(options, ip4, ip6, endpoint_id)
        bridge_port = plugging.plugged_port(self.ovs, endpoint_id)
        if bridge_port is None:
            return  # not joined here (Docker calls this after Join only)
        if wanted or self._has_published(bridge_port):
            self.ports.publish(bridge_port, endpoint_id, wanted)

    def revoke(self, endpoint_id: str) -> None:
        bridge_port = plugging.plugged_port(self.ovs, endpoint_id)
        if bridge_port is not None and self._has_published(bridge_port):
            self.ports.publish(bridge_port, endpoint_id, [])

    def published_here(self, endpoint_id: str) -> bool:
        """Whether the endpoint has published ports on this host (Leave then refreshes
        the firewall once its port is gone)."""
        bridge_port = plugging.plugged_port(self.ovs, endpoint_id)
        return bridge_port is not None and self._has_published(bridge_port)

    def refresh(self) -> None:
        self.ports.refresh()

    def network_gone(self, switch_name: str) -> None:
        self.ports.remove(switch_name)

    def _has_published(self, bridge_port: str) -> bool:
        port = self.ovs.port(bridge_port)
        return port is not None and external_ids.OVS_PUBLISHED in port.external_ids
