"""Pure validation: what a CreateNetwork / CreateEndpoint request asks for.

Everything here raises DriverError with a message fit for the user, before any
state is touched, so a rejected request leaves nothing behind.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from dockovn.network import identifiers
from dockovn.network.api import CreateEndpointRequest, CreateNetworkRequest, DriverError, IPAMData

GENERIC_OPTIONS = "com.docker.network.generic"  # where `docker network create -o k=v` lands
MTU_OPTIONS = ("mtu", "com.docker.network.driver.mtu")
ADOPT_OPTION = "dockovn.network"  # set by dockovn itself on other hosts: join this switch
ROUTER_OPTION = "dockovn.router"  # networks on the same named router reach each other
NAT_OPTION = "dockovn.nat"        # "false": what leaves the host keeps its address (routed)
INTERNAL = "com.docker.network.internal"  # --internal: no way out
KNOWN_OPTIONS = (*MTU_OPTIONS, ADOPT_OPTION, ROUTER_OPTION, NAT_OPTION)
ROUTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
MIN_MTU = 1280  # IPv6's minimum; below it IPv6 on the network would break


@dataclass(frozen=True)
class NetworkSpec:
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None
    subnet6: ipaddress.IPv6Network | None
    gateway6: ipaddress.IPv6Address | None
    mtu: int
    address_space: str = ""     # whose IPAM gave the pool
    adopt: str | None = None    # an existing switch this network is another host's view of
    router: str | None = None   # a named router shared with other networks (opt-in routing)
    aux: tuple[str, ...] = ()   # --aux-address reservations (addresses, both families)
    egress: str = "nat"         # "nat", "routed", or "none" (--internal: no way out)


@dataclass(frozen=True)
class EndpointSpec:
    ipv4: ipaddress.IPv4Interface
    ipv6: ipaddress.IPv6Interface | None
    mac: str
    mac_chosen_by_driver: bool

    @property
    def lsp_address(self) -> str:
        """OVN's "MAC IP [IP6]" form, used for addresses and port_security."""
        parts = [self.mac, str(self.ipv4.ip)]
        if self.ipv6 is not None:
            parts.append(str(self.ipv6.ip))
        return " ".join(parts)


def one_pool(data: list[IPAMData] | None, version: int):
    pools = data or []
    if len(pools) > 1:
        raise DriverError(f"dockovn supports one IPv{version} subnet per network, got {len(pools)}")
    if not pools:
        return None, None
    pool = pools[0]
    try:
        subnet = ipaddress.ip_network(pool.pool, strict=True)
    except ValueError as exc:
        raise DriverError(f"invalid IPv{version} pool {pool.pool!r}: {exc}") from None
    if subnet.version != version:
        raise DriverError(f"IPv{version} pool {pool.pool} is not an IPv{version} subnet")
    gateway = None
    if pool.gateway:
        try:
            gateway = ipaddress.ip_interface(pool.gateway).ip
        except ValueError as exc:
            raise DriverError(f"invalid gateway {pool.gateway!r}: {exc}") from None
        if gateway not in subnet:
            raise DriverError(f"gateway {gateway} is outside subnet {subnet}")
    return subnet, gateway


def generic_options(options: dict[str, Any] | None,
                    known: tuple[str, ...] = KNOWN_OPTIONS) -> dict[str, Any]:
    """The `-o key=value` options, refusing any not in ``known`` by name."""
    generic = (options or {}).get(GENERIC_OPTIONS) or {}
    if not isinstance(generic, dict):
        raise DriverError(f"{GENERIC_OPTIONS} must be an object, got {type(generic).__name__}")
    unknown = sorted(set(generic) - set(known))
    if unknown:
        raise DriverError(
            f"unknown option(s) {', '.join(unknown)}; dockovn knows: {', '.join(known)}")
    return generic


def option_mtu(generic: dict[str, Any], default_mtu: int) -> int:
    for key in MTU_OPTIONS:
        if key in generic:
            raw = generic[key]
            try:
                mtu = int(str(raw), 10)
            except ValueError:
                raise DriverError(f"option {key}={raw!r} is not a number") from None
            if not MIN_MTU <= mtu <= 65535:
                raise DriverError(f"option {key}={mtu} is out of range {MIN_MTU}-65535")
            return mtu
    return default_mtu


def network_spec(req: CreateNetworkRequest, default_mtu: int) -> NetworkSpec:
    subnet, gateway = one_pool(req.ipv4_data, 4)
    if subnet is None:
        raise DriverError("an IPv4 subnet is required (docker network create --subnet ...)")
    subnet6, gateway6 = one_pool(req.ipv6_data, 6)
    generic = generic_options(req.options)
    mtu = option_mtu(generic, default_mtu)
    adopt = generic.get(ADOPT_OPTION) or None
    if adopt is not None and not isinstance(adopt, str):
        raise DriverError(f"option {ADOPT_OPTION} must be a string")
    router = generic.get(ROUTER_OPTION) or None
    if router is not None and not (isinstance(router, str) and ROUTER_NAME.fullmatch(router)):
        raise DriverError(f"option {ROUTER_OPTION}={router!r}: use 1-40 letters, digits, . _ -")
    space = (req.ipv4_data or [None])[0].address_space
    return NetworkSpec(subnet, gateway, subnet6, gateway6, mtu, space, adopt, router,
                       aux_addresses(req), egress_mode(req.options, generic))


def egress_mode(options: dict[str, Any] | None, generic: dict[str, Any]) -> str:
    """How the network leaves its hosts: "nat" (the default), "routed"
    (``-o dockovn.nat=false``) or "none" (``--internal``)."""
    internal = (options or {}).get(INTERNAL, False)
    if not isinstance(internal, bool):
        raise DriverError(f"{INTERNAL} must be true or false, got {internal!r}")
    nat = str(generic.get(NAT_OPTION, "true")).lower()
    if nat not in ("true", "false"):
        raise DriverError(f"option {NAT_OPTION}={generic[NAT_OPTION]!r}: use true or false")
    if internal:
        if nat == "false":
            raise DriverError(f"option {NAT_OPTION} means nothing on an --internal network "
                              "(it has no way out)")
        return "none"
    return "nat" if nat == "true" else "routed"


def aux_addresses(req: CreateNetworkRequest) -> tuple[str, ...]:
    """The --aux-address reservations Docker's IPAM made for the network ("ip/len" values)."""
    found = []
    for data in (req.ipv4_data or []) + (req.ipv6_data or []):
        for key, value in (data.aux_addresses or {}).items():
            try:
                found.append(str(ipaddress.ip_interface(value).ip))
            except ValueError:
                raise DriverError(f"invalid --aux-address {key}={value!r}") from None
    return tuple(sorted(found))


def endpoint_spec(req: CreateEndpointRequest, subnet: str, subnet6: str | None) -> EndpointSpec:
    iface = req.interface
    if iface is None or not iface.address:
        raise DriverError(f"endpoint {req.endpoint_id[:12]} has no IPv4 address from IPAM")
    try:
        ipv4 = ipaddress.IPv4Interface(iface.address)
    except ValueError as exc:
        raise DriverError(f"invalid IPv4 address {iface.address!r}: {exc}") from None
    if ipv4.ip not in ipaddress.IPv4Network(subnet):
        raise DriverError(f"address {ipv4.ip} is outside the network's subnet {subnet}")
    ipv6 = None
    if iface.address_ipv6:
        try:
            ipv6 = ipaddress.IPv6Interface(iface.address_ipv6)
        except ValueError as exc:
            raise DriverError(f"invalid IPv6 address {iface.address_ipv6!r}: {exc}") from None
        if subnet6 and ipv6.ip not in ipaddress.IPv6Network(subnet6):
            raise DriverError(f"address {ipv6.ip} is outside the network's subnet {subnet6}")
    if iface.mac_address:
        try:
            mac = identifiers.normalize_mac(iface.mac_address)
        except ValueError as exc:
            raise DriverError(str(exc)) from None
        return EndpointSpec(ipv4, ipv6, mac, mac_chosen_by_driver=False)
    return EndpointSpec(ipv4, ipv6, identifiers.mac_for_ipv4(str(ipv4.ip)), mac_chosen_by_driver=True)
