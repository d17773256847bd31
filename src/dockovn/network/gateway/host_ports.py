"""This host's side of the gateway: a port into its own stack per network, and the
firewall that follows them and the published ports.

Everything is kept in the local OVS database, so a restarted driver (or a rebooted
host, whose kernel forgot addresses, routes and rules) makes it all again from there:
- the gateway port of network N is the OVS internal port ``dgw<N[:12]>`` with
  ``iface-id`` = N's localport and the subnets it routes (``OVS_SUBNETS``);
- a container port's published ports are a JSON list on its own OVS Interface
  (``OVS_PUBLISHED``), gone with it when the container leaves;
- TCP ports no container may reach (the metrics') are on the Open_vSwitch row
  (``OVS_HOST_ONLY_PORTS``), set by the driver at start.
The firewall (host/firewall.py) is always rewritten from that whole state.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading

from dockovn.host import firewall, links
from dockovn.host.firewall import FirewallError, GatewayPort, PublishedPort
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.network import external_ids, identifiers
from dockovn.network.api import DriverError
from dockovn.network.gateway import LOCALPORT_PREFIX
from dockovn.ovn.nb import LogicalSwitch

LOG = logging.getLogger(__name__)


def port_name(switch_name: str) -> str:
    return firewall.PORT_PREFIX + switch_name[:12]


def subnets_of(switch: LogicalSwitch) -> list[str]:
    ids = switch.external_ids
    return [ids[k] for k in (external_ids.SUBNET, external_ids.SUBNET6) if ids.get(k)]


def gateway6(mac: str, subnets: list[str]) -> str | None:
    """The IPv6 gateway of a network with an IPv6 subnet: the link-local address of the
    localport's MAC (the same on every host, like the IPv4 one)."""
    return identifiers.link_local_for_mac(mac) if any(":" in s for s in subnets) else None


def _encode(ports: list[PublishedPort]) -> str:
    return json.dumps([[p.protocol, p.host_port, p.host_port_end, str(p.container_ip), p.port,
                        str(p.host_ip) if p.host_ip else None] for p in ports])


def _decode(text: str, owner: str) -> list[PublishedPort]:
    out = []
    for protocol, host_port, end, container_ip, port, host_ip in json.loads(text):
        out.append(PublishedPort(protocol, host_port, end, ipaddress.ip_address(container_ip),
                                 port, ipaddress.ip_address(host_ip) if host_ip else None,
                                 owner))
    return out


class GatewayPorts:
    def __init__(self, ovs: LocalSwitch, userspace_datapath: bool = True):
        self.ovs = ovs
        # The netdev datapath cannot finish checksums the kernel leaves for offload (what
        # the host sends a container through its port: -p answers, DNAT'd traffic).
        self.userspace_datapath = userspace_datapath
        self._lock = threading.Lock()
        self._ready: set[str] = set()  # networks whose port this process has set up

    def ensure(self, switch: LogicalSwitch, ip: str, mac: str) -> None:
        """This host's gateway port on the network, with the address and MAC of its
        localport, made and configured if need be (the first Join of the network on this
        host pays for it)."""
        name = port_name(switch.name)
        # Set up by this process, and still there (gc may have removed it: an index
        # lookup in the OVS cache)
        if switch.name in self._ready and self.ovs.port(name) is not None:
            return
        with self._lock:
            if switch.name in self._ready and self.ovs.port(name) is not None:
                return
            mtu = int(switch.external_ids.get(external_ids.MTU, "1500"))
            subnets = subnets_of(switch)
            try:
                self.ovs.add_internal_port(name, {
                    "iface-id": LOCALPORT_PREFIX + switch.name,
                    external_ids.OVS_GATEWAY: switch.name,
                    external_ids.OVS_SUBNETS: " ".join(subnets),
                    external_ids.OVS_EGRESS: switch.external_ids.get(external_ids.EGRESS, ""),
                    external_ids.OVS_GATEWAY_IP: ip,
                }, mtu, mac)  # the localport's: OVN delivers to that MAC
                links.configure_gateway_port(name, ip, subnets, mtu,
                                             link_local6=gateway6(mac, subnets))
                if self.userspace_datapath:
                    links.disable_tx_checksum(name)
                self._apply_firewall()
            except (OvsError, links.LinkError, FirewallError) as exc:
                raise DriverError(f"the host's gateway port on network {switch.name[:12]}: "
                                  f"{exc}") from exc
            self._ready.add(switch.name)
            LOG.info("gateway port %s for network %s (%s)", name, switch.name[:12],
                     ", ".join(subnets))

    def remove(self, switch_name: str) -> None:
        """The network is gone from this host: its gateway port and rules with it."""
        with self._lock:
            name = port_name(switch_name)
            self._ready.discard(switch_name)
            if self.ovs.port(name) is None:
                return
            try:
                self.ovs.unplug(name)
                self._apply_firewall()
            except (OvsError, FirewallError) as exc:
                raise DriverError(f"removing the host's gateway port {name}: {exc}") from exc

    def publish(self, bridge_port: str, endpoint_id: str, ports: list[PublishedPort]) -> None:
        """Record a container's published ports on its OVS port and apply them."""
        with self._lock:
            try:
                if ports:
                    self.ovs.set_interface_ids(bridge_port,
                                               {external_ids.OVS_PUBLISHED: _encode(ports)})
                else:
                    self.ovs.set_interface_ids(bridge_port, {}, (external_ids.OVS_PUBLISHED,))
                self._apply_firewall()
            except (OvsError, FirewallError) as exc:
                raise DriverError(f"publishing ports of endpoint {endpoint_id[:12]}: "
                                  f"{exc}") from exc

    def restore(self) -> None:
        """At start: every gateway port in OVS configured again (a rebooted host's kernel
        forgot addresses and routes; vswitchd re-makes the interfaces and their MTU), the
        firewall rewritten."""
        with self._lock:
            for port in self.ovs.ports():
                subnets = port.external_ids.get(external_ids.OVS_SUBNETS, "").split()
                ip = port.external_ids.get(external_ids.OVS_GATEWAY_IP)
                if external_ids.OVS_GATEWAY in port.external_ids and subnets and ip:
                    mac = identifiers.mac_for_ipv4(ip)  # the localport's (gateway.localport)
                    try:
                        links.configure_gateway_port(port.name, ip, subnets,
                                                     link_local6=gateway6(mac, subnets))
                        if self.userspace_datapath:
                            links.disable_tx_checksum(port.name)
                    except links.LinkError as exc:
                        LOG.warning("gateway port %s: %s", port.name, exc)
            try:
                self._apply_firewall()
            except FirewallError as exc:
                LOG.warning("the host's firewall: %s", exc)

    def refresh(self) -> None:
        """Rewrite the firewall from OVS (after a published container's port went)."""
        with self._lock:
            try:
                self._apply_firewall()
            except FirewallError as exc:
                raise DriverError(f"updating the host's firewall: {exc}") from exc

    # -- the firewall, from OVS ------------------------------------------------------------

    def _apply_firewall(self) -> None:
        gateways, published = [], []
        for port in self.ovs.ports():
            ids = port.external_ids
            if external_ids.OVS_GATEWAY in ids:
                nat = ids.get(external_ids.OVS_EGRESS) != "routed"
                gateways += [GatewayPort(port.name, ipaddress.ip_network(s), nat)
                             for s in ids.get(external_ids.OVS_SUBNETS, "").split()]
            elif external_ids.OVS_PUBLISHED in ids:
                try:
                    published += _decode(ids[external_ids.OVS_PUBLISHED],
                                         ids.get(external_ids.OVS_ENDPOINT, ""))
                except (ValueError, TypeError) as exc:
                    LOG.warning("port %s: unreadable published ports (%s); skipped",
                                port.name, exc)
        closed = self.ovs.host_config().get(external_ids.OVS_HOST_ONLY_PORTS, "").split()
        firewall.apply(gateways, published, bridge_only=identifiers.OUTER_PREFIX,
                       host_only_tcp=tuple(int(p) for p in closed if p.isdigit()))
