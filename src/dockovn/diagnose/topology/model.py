"""The cluster as a picture sees it: hosts, networks, routers, containers, services.

``build`` is pure: it turns what was read from OVN Northbound and Southbound
(``Reads``) into a ``Topology``, so the rules (which host a container is on, when
it counts as down, which containers back a VIP) are unit-tested without a
database. ``read`` does the reading. Drawing is ``topology_graph``'s job.

Everything comes from OVN, never from Docker: OVN is the cluster's one source of
truth, and one host's dockerd sees only its own containers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dockovn.network import external_ids, identifiers
from dockovn.network.policy.manager import read_policies
from dockovn.network.services.model import ServiceLb
from dockovn.ovn.lb import LoadBalancers
from dockovn.ovn.nb import LogicalPort, LogicalSwitch, Northbound
from dockovn.ovn.port_groups import PortGroups
from dockovn.ovn.sb import Southbound


@dataclass(frozen=True)
class Host:
    name: str                     # the chassis name (OVS system-id), what ports record
    hostname: str
    encaps: tuple[str, ...]       # "geneve 172.31.255.11"
    # False: known only from ports in NB that name it; it has no Chassis row (stopped
    # for good, forgotten, or SB was not readable), so its containers cannot be bound.
    registered: bool = True

    @property
    def label(self) -> str:
        return self.hostname or self.name


@dataclass(frozen=True)
class Network:
    id: str                       # the logical switch (Docker's NetworkID on its creator)
    name: str
    subnets: tuple[str, ...]
    gateways: tuple[str, ...]
    router: str | None            # the shared router (-o dockovn.router), None: its own
    mtu: str = ""


@dataclass(frozen=True)
class Router:
    name: str                     # dockovn.router's value, or the network's own gateway
    logical_router: str           # its OVN name
    networks: tuple[str, ...]     # network ids with a port on it
    shared: bool                  # named (routes between networks) or a network's own


@dataclass(frozen=True)
class Attachment:
    """One of a container's ports: on which network, with which addresses."""

    network: str                  # network id
    port: str                     # logical switch port (the endpoint)
    mac: str
    addresses: tuple[str, ...]
    up: bool                      # ovn-controller bound it and the datapath carries it
    chassis: str | None           # where SB has it bound (None: nowhere)


@dataclass(frozen=True)
class Container:
    key: str                      # Docker's container ID, else its first endpoint's
    name: str
    host: str                     # chassis name: where it runs
    attachments: tuple[Attachment, ...]
    services: tuple[str, ...] = ()    # registered instance of (labels / service add)
    policies: tuple[str, ...] = ()    # policies that select it

    @property
    def up(self) -> bool:
        return any(a.up for a in self.attachments)


@dataclass(frozen=True)
class Service:
    name: str
    network: str                  # network id
    vip: str                      # "IP:PORT"
    backends: tuple[str, ...]     # container keys the VIP balances over now
    health_checked: bool


@dataclass(frozen=True)
class Topology:
    hosts: tuple[Host, ...]
    networks: tuple[Network, ...]
    routers: tuple[Router, ...]
    containers: tuple[Container, ...]
    services: tuple[Service, ...]
    southbound: bool = True       # False: SB was unreachable (no chassis, no bindings)

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def network(self, network_id: str) -> Network | None:
        return next((n for n in self.networks if n.id == network_id), None)

    def on_host(self, name: str) -> list[Container]:
        return [c for c in self.containers if c.host == name]

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for c, original in zip(out["containers"], self.containers):
            c["up"] = original.up
        return out


@dataclass(frozen=True)
class Reads:
    """What ``build`` needs, as read from NB and SB (``read``); plain data only."""

    switches: tuple[LogicalSwitch, ...]
    ports: dict[str, list[LogicalPort]]            # switch name -> its ports
    routers: dict[str, list[str]]                  # logical router -> its port names
    service_lbs: tuple[ServiceLb, ...] = ()
    policy_members: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> ports
    chassis: tuple[tuple[str, str, list[str]], ...] = ()   # (name, hostname, encaps)
    bindings: dict[str, str] = field(default_factory=dict)  # port -> chassis name or hostname
    southbound: bool = True


def read(nb: Northbound, sb: Southbound | None) -> Topology:
    """The topology as NB (and SB, if given: None when it is unreachable) have it now."""
    switches = tuple(nb.switches_with(external_ids.NETWORK_ID))
    groups = PortGroups(nb)
    members = {}
    for policy in read_policies(groups):
        group = groups.get(policy.group)
        members[policy.name] = group.ports if group else frozenset()
    return build(Reads(
        switches=switches,
        ports={s.name: nb.ports(s.name) for s in switches},
        routers=nb.routers(identifiers.ROUTER_PREFIX),
        service_lbs=tuple(s for s in map(ServiceLb.read, LoadBalancers(nb).all()) if s),
        policy_members=members,
        chassis=tuple(sb.chassis()) if sb else (),
        bindings=sb.port_chassis() if sb else {},
        southbound=sb is not None))


def build(r: Reads) -> Topology:
    networks = tuple(sorted((_network(s) for s in r.switches), key=lambda n: (n.name, n.id)))
    hosts = {name: Host(name, hostname, tuple(sorted(encaps)))
             for name, hostname, encaps in r.chassis}
    # SB's binding names a chassis by hostname (or name): back to the chassis name.
    chassis_of = {h.hostname: h.name for h in hosts.values() if h.hostname}
    chassis_of.update({name: name for name in hosts})

    policies_of: dict[str, list[str]] = {}
    for policy, ports in r.policy_members.items():
        for port in ports:
            policies_of.setdefault(port, []).append(policy)

    # A container on several networks has one port on each: gather them by its ID.
    gathered: dict[str, dict] = {}
    for net in networks:
        for port in r.ports.get(net.id, ()):
            ids = port.external_ids
            if external_ids.ENDPOINT_ID not in ids:
                continue  # router ports, VIP responders: not containers
            bound = r.bindings.get(port.name)
            chassis = chassis_of.get(bound, bound) if bound else None
            key = ids.get(external_ids.CONTAINER_ID) or port.name
            entry = gathered.setdefault(key, {
                "name": ids.get(external_ids.CONTAINER_NAME) or f"({port.name[:12]})",
                # Where it runs: the host whose driver made the port; its binding if the
                # port never named one (written by an older dockovn).
                "host": ids.get(external_ids.HOST) or chassis or "?",
                "hostname": ids.get(external_ids.HOSTNAME, ""),
                "attachments": [], "services": set(), "policies": set()})
            fields_ = port.addresses[0].split() if port.addresses else []
            entry["attachments"].append(Attachment(
                network=net.id, port=port.name, mac=fields_[0] if fields_ else "",
                addresses=tuple(port.ips), up=bool(port.up), chassis=chassis))
            if ids.get(external_ids.SERVICE):
                entry["services"].add(ids[external_ids.SERVICE])
            entry["policies"].update(policies_of.get(port.name, ()))

    containers = []
    for key, e in gathered.items():
        if e["host"] not in hosts:  # a host NB remembers and SB does not have
            hosts[e["host"]] = Host(e["host"], e["hostname"], (), registered=False)
        containers.append(Container(
            key=key, name=e["name"], host=e["host"],
            attachments=tuple(sorted(e["attachments"], key=lambda a: a.network)),
            services=tuple(sorted(e["services"])), policies=tuple(sorted(e["policies"]))))
    containers.sort(key=lambda c: (c.host, c.name, c.key))

    return Topology(
        hosts=tuple(sorted(hosts.values(), key=lambda h: (h.label, h.name))),
        networks=networks,
        routers=_routers(networks, r.routers),
        containers=tuple(containers),
        services=_services(r.service_lbs, containers, {n.id for n in networks}),
        southbound=r.southbound)


def _network(switch: LogicalSwitch) -> Network:
    ids = switch.external_ids

    def present(*keys: str) -> tuple[str, ...]:
        return tuple(ids[k] for k in keys if ids.get(k))

    return Network(
        id=switch.name,
        name=ids.get(external_ids.NETWORK_NAME) or f"({switch.name[:12]})",
        subnets=present(external_ids.SUBNET, external_ids.SUBNET6),
        gateways=present(external_ids.GATEWAY, external_ids.GATEWAY6),
        router=ids.get(external_ids.ROUTER) or None,
        mtu=ids.get(external_ids.MTU, ""))


def _routers(networks: tuple[Network, ...], nb_routers: dict[str, list[str]]) -> tuple[Router, ...]:
    """The routers networks are attached to, as NB has them (a router a network asks
    for but NB lacks is left out: the picture shows what exists)."""
    attached: dict[tuple[str, str, bool], list[str]] = {}
    for net in networks:
        lr, lrp, _ = identifiers.router_names(net.id, net.router)
        if lrp in nb_routers.get(lr, ()):
            attached.setdefault((net.router or net.name, lr, net.router is not None),
                                []).append(net.id)
    return tuple(Router(name, lr, tuple(ids), shared)
                 for (name, lr, shared), ids in sorted(attached.items()))


def _services(lbs, containers: list[Container], network_ids: set[str]) -> tuple[Service, ...]:
    # A backend "IP:PORT" is the container with that address on the VIP's network.
    by_address = {(a.network, ip): c.key
                  for c in containers for a in c.attachments for ip in a.addresses}
    out = []
    for slb in lbs:
        if slb.network_id not in network_ids:
            continue  # its network is gone; the reconcilers remove it
        text = slb.lb.vips.get(slb.vip_key, "") if slb.lb else ""
        backends = []
        for backend in filter(None, text.split(",")):
            key = by_address.get((slb.network_id, backend.rpartition(":")[0]))
            if key:
                backends.append(key)
        out.append(Service(slb.service, slb.network_id, slb.vip_key, tuple(sorted(backends)),
                           slb.health_ip is not None))
    return tuple(sorted(out, key=lambda s: (s.name, s.network)))
