"""Finding a dockovn network (its logical switch) from what a person types."""

from __future__ import annotations

from dockovn.network import external_ids
from dockovn.ovn.nb import LogicalSwitch, Northbound


class NetworkNotFound(LookupError):
    """No (or no single) dockovn network answers to the name; the message says which."""


def find_network(nb: Northbound, network: str) -> LogicalSwitch:
    """A dockovn network by name, or by ID (or an unambiguous ID prefix of 6+)."""
    switches = nb.switches_with(external_ids.NETWORK_ID)
    named = [s for s in switches if s.external_ids.get(external_ids.NETWORK_NAME) == network]
    if len(named) == 1:
        return named[0]
    by_id = [s for s in switches if len(network) >= 6 and
             (s.name.startswith(network) or any(
                 k.startswith(external_ids.DOCKER_ID_PREFIX + network) for k in s.external_ids))]
    found = named or by_id
    if not found:
        raise NetworkNotFound(f"no dockovn network {network!r}")
    if len(found) > 1:
        raise NetworkNotFound(f"{len(found)} dockovn networks match {network!r}; "
                              "give the network ID")
    return found[0]


def network_name(switch: LogicalSwitch | None, network_id: str = "") -> str:
    """What people call the network: its Docker name, else a short ID."""
    if switch is None:
        return f"({network_id[:12]}, gone)"
    return switch.external_ids.get(external_ids.NETWORK_NAME) or f"({switch.name[:12]})"
