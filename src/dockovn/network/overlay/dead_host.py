"""Reclaim what a host that is gone for good left in NB.

A host's driver removes its own stale state (gc); a host that never comes back
cannot. Its containers' logical ports keep their addresses, keep counting as
service backends, and make `docker network rm` on every other host answer that
the network "still has containers on <host>". `dockovn gc --forget-host NAME`
(on any host, or the central) removes, in one NB transaction:

- every logical port the host created (its containers), their addresses going
  back to the network's dockovn pool;
- the host's aliases of networks (its dockerd's NetworkIDs).

Networks the host created stay: other hosts have them too, and each host's
`docker network rm` (or gc) removes them as usual. The host's chassis in the
Southbound DB is removed separately (see ``ovn.sb``), where the caller can write SB.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from dockovn.network import external_ids
from dockovn.network.overlay.ipam import ALLOCATED_AT, pool_name
from dockovn.ovn.nb import Northbound


@dataclass
class HostState:
    host_ids: set[str]                                        # system-ids matched
    ports: list[tuple[str, str, str]] = field(default_factory=list)  # (switch, port, who)
    releases: dict[str, list[str]] = field(default_factory=dict)     # pool -> addresses
    aliases: dict[str, list[str]] = field(default_factory=dict)      # switch -> keys

    @property
    def empty(self) -> bool:
        return not self.ports and not self.aliases


def find(nb: Northbound, host: str) -> HostState:
    """What NB holds for ``host`` (its system-id or its hostname)."""
    state = HostState(set())
    switches = nb.switches_with(external_ids.NETWORK_ID)
    for switch in switches:
        ids = switch.external_ids
        dockovn_ipam = ids.get(external_ids.IPAM) == "dockovn"
        for port in nb.ports(switch.name):
            pids = port.external_ids
            if external_ids.ENDPOINT_ID not in pids:
                continue
            if host not in (pids.get(external_ids.HOST), pids.get(external_ids.HOSTNAME)):
                continue
            state.host_ids.add(pids.get(external_ids.HOST, host))
            who = pids.get(external_ids.CONTAINER_NAME) or port.name[:12]
            state.ports.append((switch.name, port.name, who))
            if dockovn_ipam:
                for value in port.ips:
                    ip = ipaddress.ip_address(value)
                    subnet = ids.get(external_ids.SUBNET6 if ip.version == 6
                                     else external_ids.SUBNET)
                    if subnet:
                        state.releases.setdefault(
                            pool_name(ipaddress.ip_network(subnet)), []).append(value)
    # Aliases record the system-id, which the ports above may have told (when ``host``
    # is the hostname): only now can every switch be read for them.
    for switch in switches:
        keys = [k for k, v in switch.external_ids.items()
                if k.startswith(external_ids.DOCKER_ID_PREFIX)
                and external_ids.alias_host(v) in (host, *state.host_ids)]
        if keys:
            state.aliases[switch.name] = keys
    return state


def forget(nb: Northbound, state: HostState) -> None:
    nb.forget_ports(ports=[(s, p) for s, p, _ in state.ports], releases=state.releases,
                    switch_keys=state.aliases,
                    pool_keys={pool: [ALLOCATED_AT + a for a in addresses]
                               for pool, addresses in state.releases.items()})
