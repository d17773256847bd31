"""What the underlay driver remembers, as keys of the VM bridge's external_ids.

Pure encoding and choice rules (no I/O), so they are unit-tested alone:

- ``dockovn-pool:<cidr>``  = "" while a pool waits for its network, then
                              "<subnet id> <network id>" (Neutron's)
- ``dockovn-net:<docker network id>`` = JSON NetworkRecord
- ``dockovn-vlan:<tag>``  = the endpoint that holds VLAN tag <tag> on this VM
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass

from dockovn.host.vm_bridge import ClaimRefused

POOL = "dockovn-pool:"
NET = "dockovn-net:"
VLAN = "dockovn-vlan:"
VLAN_RANGE = range(1, 4095)  # 0 is "untagged", 4095 reserved
FREE_POOLS = ipaddress.ip_network("10.200.0.0/13")  # /24s for pools asked without --subnet


@dataclass(frozen=True)
class NetworkRecord:
    """A Docker network's Neutron network and subnet on this VM."""

    network: str          # Neutron network id
    subnet: str           # Neutron subnet id
    cidr: str
    gateway: str | None   # the Neutron subnet's gateway (None: no default route)
    mtu: int
    created: bool         # made by dockovn (deleted with the Docker network) or adopted

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "NetworkRecord":
        return cls(**json.loads(text))


def pool_key(cidr: str) -> str:
    return POOL + cidr


def net_key(network_id: str) -> str:
    return NET + network_id


def vlan_key(tag: int) -> str:
    return VLAN + str(tag)


def pool_value(subnet_id: str, network_id: str) -> str:
    return f"{subnet_id} {network_id}"


def parse_pool_value(value: str) -> tuple[str, str] | None:
    """(subnet id, network id), or None for a pool whose network is not made yet."""
    parts = value.split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


def network_record(records: dict[str, str], network_id: str) -> NetworkRecord | None:
    text = records.get(net_key(network_id))
    return NetworkRecord.from_json(text) if text else None


def vlan_of(records: dict[str, str], endpoint_id: str) -> int | None:
    for key, holder in records.items():
        if key.startswith(VLAN) and holder == endpoint_id:
            return int(key[len(VLAN):])
    return None


def choose_vlan(endpoint_id: str):
    """A ``claim`` rule: the endpoint's tag if it has one (a replay), else the lowest free."""

    def choose(records: dict[str, str]) -> tuple[str, str]:
        tag = vlan_of(records, endpoint_id)
        if tag is None:
            tag = next((t for t in VLAN_RANGE if vlan_key(t) not in records), None)
        if tag is None:
            raise ClaimRefused(f"all {len(VLAN_RANGE)} VLAN tags of this VM are in use")
        return vlan_key(tag), endpoint_id

    return choose


def choose_pool(cidr: str | None, value: str, taken_elsewhere: set[str]):
    """A ``claim`` rule for a new pool: ``cidr`` if no Docker network on this VM
    uses it, or (``cidr`` None) the first free /24 of FREE_POOLS that neither
    this VM nor Neutron (``taken_elsewhere``) has."""

    taken = [n for n in map(ipaddress.ip_network, taken_elsewhere) if n.version == 4]

    def choose(records: dict[str, str]) -> tuple[str, str]:
        if cidr is not None:
            if pool_key(cidr) in records:
                raise ClaimRefused(f"subnet {cidr} is already used by another dockovn network "
                                   "on this VM")
            return pool_key(cidr), value
        for candidate in FREE_POOLS.subnets(new_prefix=24):
            text = str(candidate)
            if pool_key(text) not in records and not any(candidate.overlaps(t) for t in taken):
                return pool_key(text), value
        raise ClaimRefused(f"no free /24 left in {FREE_POOLS}: give --subnet")

    return choose
