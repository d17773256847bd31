"""`dockovn trace`'s endpoints: which logical ports SRC and DST mean, and the packet to trace.

SRC and DST are what a person types: a container name (on any host: the name comes
from NB, where every host's driver records it), a container or endpoint ID prefix, or
an address. A container on several networks gives several candidate ports; the pair
traced is the one a real packet would use: a network both are on, else networks
routed to each other through a shared router (``-o dockovn.router``), else (isolated)
the first, so the trace can show where it stops.

The packet is ovnkube-trace's: from the source port's own MAC and address, to the
destination's MAC on a shared switch or to the source network's gateway (its router
port) otherwise, TTL 64, and a fixed source port for TCP/UDP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from dockovn.network import external_ids, identifiers
from dockovn.network.lookup import network_name
from dockovn.ovn.nb import Northbound

SOURCE_PORT = 52888            # ovnkube-trace's: any fixed unprivileged port will do
SAME_NETWORK, ROUTED, ISOLATED = "same-network", "routed", "isolated"


class TraceInputError(LookupError):
    """SRC or DST names nothing traceable; the message says which and why."""


@dataclass(frozen=True)
class Endpoint:
    """A container's port on one dockovn network; ``ip`` is the address traced."""
    port: str            # the Logical_Switch_Port (Docker's EndpointID)
    container: str       # Docker's name, or the endpoint ID's start before it is known
    network: str         # the network's Docker name
    switch: str
    router: str          # the shared router it is on (-o dockovn.router), "" none
    gateway_mac: str     # its network's router port, "" without a gateway
    host: str            # the chassis name its host's driver recorded (OVS system-id)
    hostname: str
    mac: str
    ips: tuple[str, ...]
    up: bool | None      # NB's view: ovn-controller installed its flows
    ip: str = ""

    @property
    def label(self) -> str:
        return f"{self.container} ({self.ip or ' '.join(self.ips)} on {self.network}, " \
               f"host {self.hostname or self.host})"


@dataclass(frozen=True)
class Pair:
    src: Endpoint
    dst: Endpoint
    path: str            # SAME_NETWORK, ROUTED or ISOLATED
    router: str = ""

    @property
    def eth_dst(self) -> str:
        """Where the source sends the frame: the peer on a shared switch, else its gateway."""
        if self.path == SAME_NETWORK or not self.src.gateway_mac:
            return self.dst.mac
        return self.src.gateway_mac


def read_endpoints(nb: Northbound) -> list[Endpoint]:
    """Every container port on every dockovn overlay network (NB: every host's)."""
    out = []
    for switch in nb.switches_with(external_ids.NETWORK_ID):
        ids = switch.external_ids
        gateway = ids.get(external_ids.GATEWAY)
        # The driver's own rule for its router port's MAC (overlay/driver.py).
        gateway_mac = identifiers.mac_for_ipv4(gateway) if gateway else (
            identifiers.mac_for_ipv4("0.0.0.1") if ids.get(external_ids.GATEWAY6) else "")
        for port in nb.ports(switch.name):
            pids = port.external_ids
            if external_ids.ENDPOINT_ID not in pids or not port.addresses:
                continue
            out.append(Endpoint(
                port=port.name, container=pids.get(external_ids.CONTAINER_NAME) or port.name[:12],
                network=network_name(switch), switch=switch.name,
                router=ids.get(external_ids.ROUTER, ""), gateway_mac=gateway_mac,
                host=pids.get(external_ids.HOST, ""),
                hostname=pids.get(external_ids.HOSTNAME, ""),
                mac=port.addresses[0].split()[0], ips=tuple(port.ips), up=port.up))
    return out


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def resolve(text: str, endpoints: list[Endpoint], what: str) -> list[Endpoint]:
    """The ports ``text`` names: an address (narrowed to it), a container name, or a
    container/endpoint ID prefix (6+ characters)."""
    ip = _address(text)
    if ip is not None:
        found = [replace(e, ip=ip) for e in endpoints if ip in e.ips]
        if not found:
            raise TraceInputError(f"{what} {text}: no container on a dockovn network has "
                                  "this address")
        return found
    name = text.lstrip("/")
    found = [e for e in endpoints if e.container == name]
    if not found and len(name) >= 6:
        found = [e for e in endpoints if e.port.startswith(name)]
    if not found:
        raise TraceInputError(f"{what} {text!r}: no container of that name or ID on a dockovn "
                              "network (a container must be running to have a port)")
    return found


def _path(src: Endpoint, dst: Endpoint) -> tuple[str, str]:
    if src.switch == dst.switch:
        return SAME_NETWORK, ""
    if src.router and src.router == dst.router:
        return ROUTED, src.router
    return ISOLATED, ""


def _addresses(src: Endpoint, dst: Endpoint) -> tuple[str, str] | None:
    """(source IP, destination IP) of one family; IPv4 first, as a name would resolve."""
    dst_ips = [dst.ip] if dst.ip else sorted(dst.ips, key=lambda a: ":" in a)
    for dip in dst_ips:
        version = ipaddress.ip_address(dip).version
        same = [s for s in ([src.ip] if src.ip else src.ips)
                if ipaddress.ip_address(s).version == version]
        if same:
            return same[0], dip
    return None


def choose_pair(srcs: list[Endpoint], dsts: list[Endpoint]) -> Pair:
    """The (source port, destination port) a packet would take; see the module's doc."""
    candidates = []
    for s in srcs:
        for d in dsts:
            if s.port == d.port:
                continue
            ips = _addresses(s, d)
            if ips is None:
                continue
            path, router = _path(s, d)
            rank = (SAME_NETWORK, ROUTED, ISOLATED).index(path)
            candidates.append((rank, s.network, d.network,
                               Pair(replace(s, ip=ips[0]), replace(d, ip=ips[1]), path, router)))
    if not candidates:
        if {s.port for s in srcs} & {d.port for d in dsts}:
            raise TraceInputError("source and destination are the same container port")
        raise TraceInputError("source and destination have no address family in common")
    return min(candidates, key=lambda c: c[:3])[3]


def ovn_microflow(pair: Pair, protocol: str, port: int | None) -> str:
    """The packet for ovn-trace, entering at the source's logical port."""
    v6 = ":" in pair.src.ip
    ip = "ip6" if v6 else "ip4"
    terms = [f'inport == "{pair.src.port}"', f"eth.src == {pair.src.mac}",
             f"eth.dst == {pair.eth_dst}", f"{ip}.src == {pair.src.ip}",
             f"{ip}.dst == {pair.dst.ip}", "ip.ttl == 64"]
    if protocol == "icmp":
        terms += ["icmp6.type == 128", "icmp6.code == 0"] if v6 else \
            ["icmp4.type == 8", "icmp4.code == 0"]
    else:
        terms += [f"{protocol}.src == {SOURCE_PORT}", f"{protocol}.dst == {port}"]
    return " && ".join(terms)


def openflow_microflow(pair: Pair, protocol: str, port: int | None, in_port: str) -> str:
    """The same packet for `ovs-appctl ofproto/trace`, entering at the container's veth."""
    v6 = ":" in pair.src.ip
    proto = protocol + ("6" if v6 else "")
    fields = [f"in_port={in_port}", proto, f"dl_src={pair.src.mac}", f"dl_dst={pair.eth_dst}"]
    fields += [f"ipv6_src={pair.src.ip}", f"ipv6_dst={pair.dst.ip}"] if v6 else \
        [f"nw_src={pair.src.ip}", f"nw_dst={pair.dst.ip}"]
    fields.append("nw_ttl=64")
    if protocol == "icmp":
        fields += ["icmp_type=128" if v6 else "icmp_type=8", "icmp_code=0"]
    else:
        fields += [f"tp_src={SOURCE_PORT}", f"tp_dst={port}"]
    return ",".join(fields)


def describe_protocol(protocol: str, port: int | None) -> str:
    return protocol if protocol == "icmp" else f"{protocol}/{port}"
