"""Pure naming rules: interface names and MAC addresses for endpoints."""

from __future__ import annotations

import ipaddress

IFNAMSIZ = 15  # Linux interface names are at most 15 characters

OUTER_PREFIX = "dov"  # host end of the veth, an OVS port on br-int
INNER_PREFIX = "dvc"  # container end until Docker renames it eth<N>


def veth_names(endpoint_id: str, attempt: int = 0) -> tuple[str, str]:
    """The (outer, inner) veth names for an endpoint.

    Names are cut from the endpoint ID; ``attempt`` slides the cut along the ID
    so that a name already taken by another endpoint is not reused (the
    upstream driver's names could collide).
    """
    width = IFNAMSIZ - len(OUTER_PREFIX)
    start = attempt * width
    part = endpoint_id[start:start + width]
    if len(part) < width:
        raise ValueError(f"no free interface name left for endpoint {endpoint_id}")
    return OUTER_PREFIX + part, INNER_PREFIX + part


def mac_for_ipv4(address: str) -> str:
    """A locally administered unicast MAC derived from the IPv4 address.

    Deterministic (as in ovn-kubernetes' 0a:58:<ip>): a reused address keeps its
    MAC, so neighbours' ARP caches stay right, and addresses unique in a subnet
    give MACs unique on its switch.
    """
    packed = ipaddress.IPv4Address(address).packed
    return "0a:58:" + ":".join(f"{b:02x}" for b in packed)


def link_local_for_mac(mac: str) -> str:
    """The IPv6 link-local address a kernel makes from ``mac`` (modified EUI-64)."""
    b = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def normalize_mac(mac: str) -> str:
    """Lower-case colon form; raises ValueError for anything that is not a unicast MAC."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    try:
        octets = [int(p, 16) for p in parts]
    except ValueError:
        raise ValueError(f"not a MAC address: {mac!r}") from None
    if octets[0] & 1:
        raise ValueError(f"{mac} is a multicast MAC address")
    return ":".join(f"{o:02x}" for o in octets)


def router_names(network_id: str, router: str | None) -> tuple[str, str, str]:
    """(logical router, its port, the switch's router-type port) for a network.

    Without a named router each network gets a router of its own, so that its
    gateway address answers (ARP, ping) on every host; networks naming the same
    router share it and are routed to each other.
    """
    lr = f"{ROUTER_PREFIX}router-{router}" if router else f"{ROUTER_PREFIX}gw-{network_id}"
    return lr, f"{ROUTER_PORT_PREFIX}{network_id}", f"rtr-{network_id}"


ROUTER_PREFIX = "dockovn-"   # every router dockovn makes for networks starts so
ROUTER_PORT_PREFIX = "lrp-"  # + the network (switch) name
