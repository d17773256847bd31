"""The cluster's container names, indexed per network: pure logic, no I/O.

Every driver writes on its own logical ports the container's name and its network
aliases (``dockovn:container-name``, ``dockovn:aliases``); every host reads all of
them from NB. A name answers on a network with the addresses of every port there
that carries it (several containers sharing an alias give all their addresses, as
Docker does on one host). Forms, as Docker's embedded DNS has them: ``NAME`` and
``NAME.NETWORK``; reverse: ``<ip>`` -> ``CONTAINER.NETWORK``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from dockovn.network import external_ids


def normal(name: str) -> str:
    """Names compare as DNS does: case-insensitively, without the root dot."""
    return name.rstrip(".").lower()


@dataclass
class NetworkNames:
    """One network's names: name -> its addresses, address -> the name it reverses to."""

    forward: dict[str, set[str]] = field(default_factory=dict)
    reverse: dict[str, str] = field(default_factory=dict)


@dataclass
class NameIndex:
    networks: dict[str, NetworkNames] = field(default_factory=dict)  # switch name -> names

    def lookup(self, name: str, switches: set[str]) -> set[str] | None:
        """Addresses of ``name`` on any of ``switches``; None if no such name there."""
        found = None
        for switch in switches:
            addresses = self.networks.get(switch, NetworkNames()).forward.get(normal(name))
            if addresses is not None:
                found = (found or set()) | addresses
        return found

    def reverse(self, address: str, switches: set[str]) -> str | None:
        for switch in sorted(switches):
            name = self.networks.get(switch, NetworkNames()).reverse.get(address)
            if name is not None:
                return name
        return None


def build(switches, ports_of) -> NameIndex:
    """The index of every dockovn network: ``switches`` are NB LogicalSwitch rows,
    ``ports_of(switch_name)`` their LogicalPort rows."""
    index = NameIndex()
    for switch in switches:
        ids = switch.external_ids
        if external_ids.NETWORK_ID not in ids:
            continue
        network = normal(ids.get(external_ids.NETWORK_NAME, ""))
        names = index.networks.setdefault(switch.name, NetworkNames())
        for port in ports_of(switch.name):
            pids = port.external_ids
            container = normal(pids.get(external_ids.CONTAINER_NAME, ""))
            if external_ids.ENDPOINT_ID not in pids or not container:
                continue  # not named yet (Docker events name it a moment after Join)
            addresses = [str(ipaddress.ip_address(a)) for a in port.ips]
            labels = {container, *(normal(a) for a in pids.get(external_ids.ALIASES, "").split())}
            for label in labels:
                forms = [label] + ([f"{label}.{network}"] if network else [])
                for form in forms:
                    names.forward.setdefault(form, set()).update(addresses)
            for address in addresses:
                names.reverse[address] = f"{container}.{network}" if network else container
    return index
