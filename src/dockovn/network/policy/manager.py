"""Network policies kept in OVN Northbound: create, delete, list (what `dockovn policy` runs).

A policy is its Port_Group (``dkpol_<name>``): the JSON of the Policy in its
external_ids, its ACLs, the ports it selects; plus ``dkpol_<name>_from`` when it
allows sources by label or network, ``dkpol_<name>_to`` destinations. Creating one writes all of it, with the members
of that moment, in one transaction: it applies at once on every host, and a failure
writes nothing. Afterwards each host's driver keeps its own ports' memberships right
(``membership.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dockovn.network import external_ids, lookup
from dockovn.network.policy.model import (LOG_METER, LOG_RATE, POLICY, POLICY_SPEC,
                                          RESERVED_NAME_SUFFIXES, SOURCE_SUFFIX,
                                          DESTINATION_SUFFIX, Policy, PolicyError, Ports,
                                          parse_selector, port_labels)
from dockovn.ovn.nb import LogicalPort, Northbound
from dockovn.ovn.port_groups import NewPortGroup, PortGroups, RateLimit


@dataclass(frozen=True)
class Member:
    container: str    # name, or the endpoint ID's start before Docker's name is known
    network: str
    host: str
    address: str


@dataclass(frozen=True)
class PolicyRow:
    policy: Policy
    members: tuple[Member, ...]
    acl_names: tuple[str, ...]   # as OVN has them: what a trace or a log line shows


def read_policies(groups: PortGroups) -> list[Policy]:
    """The policies stored in NB's port groups (from the local cache: cheap)."""
    out = []
    for ids in groups.labelled(POLICY_SPEC):
        spec = ids.get(POLICY_SPEC)
        if spec:
            try:
                out.append(Policy.from_json(spec))
            except (ValueError, KeyError, TypeError):
                continue  # written by a newer dockovn, or by hand: not ours to judge
    return sorted(out, key=lambda p: p.name)


def endpoint_ports(nb: Northbound, host: str | None = None) -> list[LogicalPort]:
    """Container ports on dockovn overlay networks (only ``host``'s, if given)."""
    out = []
    for switch in nb.switches_with(external_ids.NETWORK_ID):
        for port in nb.ports(switch.name):
            if external_ids.ENDPOINT_ID in port.external_ids and \
                    (host is None or port.external_ids.get(external_ids.HOST) == host):
                out.append(port)
    return out


class Policies:
    def __init__(self, nb: Northbound):
        self.nb = nb
        self.groups = PortGroups(nb)

    def all(self) -> list[Policy]:
        return read_policies(self.groups)

    def get(self, name: str) -> Policy | None:
        return next((p for p in self.all() if p.name == name), None)

    def build(self, name: str, network: str | None, select: tuple[str, ...],
              from_labels: tuple[str, ...], from_networks: tuple[str, ...],
              from_cidrs: tuple[str, ...], ports: tuple[str, ...], log: bool, *,
              to: tuple[str, ...] = (), to_networks: tuple[str, ...] = (),
              to_ports: tuple[str, ...] = ()) -> Policy:
        """A Policy from what a person typed; PolicyError naming the bad part. ``to``:
        CIDRs and label selectors (KEY=VALUE, KEY) mixed, as `--to` takes them."""
        for suffix, whose in RESERVED_NAME_SUFFIXES.items():
            if name.endswith(suffix):
                # Policy X's sources are the group dkpol_X_from (destinations: _to): policy
                # X-from's own group would be that one, each rewriting the other's members.
                raise PolicyError(f"policy name {name!r}: may not end in {suffix} (policy "
                                  f"{name[:-len(suffix)]!r} would name its {whose} group "
                                  "the same)")
        names = {}
        switch = self._network(network) if network else None
        if switch is not None:
            names[switch.name] = lookup.network_name(switch)
        sources, destinations = [], []
        for texts, out in ((from_networks, sources), (to_networks, destinations)):
            for text in texts:
                other = self._network(text)
                names[other.name] = lookup.network_name(other)
                out.append(other.name)
        to_cidrs = tuple(t for t in to if _is_cidr(t))
        to_labels = tuple(t for t in to if not _is_cidr(t))
        return Policy(
            name=name, network=switch.name if switch else "",
            selector=parse_selector(select, "--select"),
            from_selectors=tuple(parse_selector((s,), "--from") for s in from_labels),
            from_networks=tuple(sources),
            from_cidrs=tuple(from_cidrs),
            ports=tuple(Ports.parse(p) for p in ports),
            to_selectors=tuple(parse_selector((t,), "--to") for t in to_labels),
            to_networks=tuple(destinations), to_cidrs=to_cidrs,
            to_ports=tuple(Ports.parse(p) for p in to_ports),
            log=log, network_names=names)

    def _network(self, text: str):
        try:
            return lookup.find_network(self.nb, text)
        except lookup.NetworkNotFound as exc:
            raise PolicyError(str(exc)) from None

    def create(self, policy: Policy) -> PolicyRow:
        if self.groups.get(policy.group) is not None:
            raise PolicyError(f"policy {policy.name} exists already")
        ports = endpoint_ports(self.nb)
        members: dict[str, list[str]] = {g: [] for g in policy.groups}
        for port in ports:
            for group in policy.groups_of(port.switch_name, port_labels(port.external_ids)):
                members[group].append(port.name)
        groups = [NewPortGroup(policy.group, {POLICY: policy.name, POLICY_SPEC: policy.to_json()},
                               tuple(members[policy.group]), policy.acls())]
        groups += [NewPortGroup(g, {POLICY: policy.name}, tuple(members[g]))
                   for g in policy.groups[1:]]
        self.groups.create(groups, RateLimit(LOG_METER, LOG_RATE) if policy.log else None)
        return self._row(policy, {p.name: p for p in ports})

    def delete(self, name: str) -> bool:
        """Delete the policy everywhere; False if there was none (nothing to do).

        Not decided from the cache alone: a cache read from a member that lags (a
        thawing leader, say) may not have the policy yet; the server confirms."""
        policy = self.get(name)
        if policy is not None:
            groups = list(policy.groups)
        else:  # the names it would have, with or without sources and destinations
            group = Policy(name=name).group
            groups = [group, group + SOURCE_SUFFIX, group + DESTINATION_SUFFIX]
        return self.groups.delete(groups)

    def listing(self) -> list[PolicyRow]:
        ports = {p.name: p for p in endpoint_ports(self.nb)}
        return [self._row(p, ports) for p in self.all()]

    def _row(self, policy: Policy, ports: dict[str, LogicalPort]) -> PolicyRow:
        group = self.groups.get(policy.group)
        switches = {s.name: s for s in self.nb.switches_with(external_ids.NETWORK_ID)}
        members = []
        for name in sorted(group.ports if group else ()):
            port = ports.get(name)
            if port is None:
                continue
            ids = port.external_ids
            members.append(Member(
                container=ids.get(external_ids.CONTAINER_NAME) or name[:12],
                network=lookup.network_name(switches.get(port.switch_name), port.switch_name),
                host=ids.get(external_ids.HOSTNAME) or ids.get(external_ids.HOST, "?"),
                address=" ".join(port.ips)))
        acl_names = tuple(sorted({a.name for a in group.acls})) if group else ()
        return PolicyRow(policy, tuple(members), acl_names)


def _is_cidr(text: str) -> bool:
    """`--to` takes CIDRs and label selectors: an address (with or without a prefix) is one
    of the first; anything else is read as labels (and checked as such)."""
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False
