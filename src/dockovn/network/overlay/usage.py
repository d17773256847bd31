"""What the overlay driver has in use, for its metrics (metrics.state): its database
sessions, the cluster's address pools, and the container ports on this host. All read
from the caches the driver keeps anyway; nothing here asks a server."""

from __future__ import annotations

import ipaddress
from collections import Counter

from dockovn.host.ovs import LocalSwitch
from dockovn.metrics.state import Connection, PoolUsage
from dockovn.network import external_ids
from dockovn.network.overlay.ipam import POOL_RANGE, POOL_SUBNET
from dockovn.ovn.nb import Northbound
from dockovn.ovsdb import connected, connections_made


def connections(nb: Northbound, ovs: LocalSwitch) -> list[Connection]:
    return [Connection(db, connected(api), connections_made(api))
            for db, api in (("nb", nb.api), ("ovs", ovs.api))]


def capacity(subnet: str, address_range: str | None) -> int:
    """Addresses a pool can hand out (the gateway's included, which it holds like the
    others): its range (or subnet), less an IPv4 subnet's network and broadcast
    addresses."""
    net = ipaddress.ip_network(address_range or subnet, strict=False)
    whole = ipaddress.ip_network(subnet, strict=False)
    count = net.num_addresses
    if whole.version == 4 and whole.prefixlen < 31:
        count -= sum(1 for a in (whole.network_address, whole.broadcast_address) if a in net)
    return max(0, count)


def pools(nb: Northbound) -> list[PoolUsage]:
    out = []
    for pool in nb.pools():
        subnet = pool.external_ids.get(POOL_SUBNET)
        if not subnet:
            continue  # not an address pool of dockovn's IPAM
        try:
            size = capacity(subnet, pool.external_ids.get(POOL_RANGE))
        except ValueError:
            continue
        out.append(PoolUsage(pool.name, subnet, len(pool.addresses), size))
    return out


def ports_here(nb: Northbound, ovs: LocalSwitch) -> dict[str, int]:
    """Container ports on this host's bridge, by network name (its id when unnamed)."""
    per_switch = Counter(port.external_ids[external_ids.OVS_NETWORK] for port in ovs.ports()
                         if external_ids.OVS_ENDPOINT in port.external_ids
                         and external_ids.OVS_NETWORK in port.external_ids)
    out = {}
    for switch_name, count in per_switch.items():
        switch = nb.switch(switch_name)
        name = switch.external_ids.get(external_ids.NETWORK_NAME) if switch else None
        out[name or switch_name[:12]] = count
    return out
