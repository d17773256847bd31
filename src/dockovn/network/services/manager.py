"""Services (issue 7): one name for a set of containers, kept in OVN Northbound.

Two halves, both in NB so that every host sees them:

- The registry. A container's logical port is an instance of service S, listening
  on TCP port P, when its external_ids have ``dockovn:service`` = S and
  ``dockovn:service-port`` = P. NameSync copies them from the container labels
  ``dockovn.service`` / ``dockovn.port``; `dockovn service add` writes them by
  hand. The client-side balancer (``dockovn.balancer``) reads exactly these.
- Balancing in the datapath. `dockovn service create` puts an OVN Load_Balancer
  with a VIP on the network (plus the responder that makes the VIP reachable,
  see ``dockovn.ovn.lb``). Its backends are not written by hand: every driver
  runs ``reconcile`` (network/backends.py), which sets them to the registry's
  instances on that network. The desired state is a pure function of NB, so all
  hosts compute the same one and concurrent writers converge.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from dataclasses import dataclass

from dockovn.network import external_ids
from dockovn.network import identifiers
from dockovn.network.overlay.ipam import ADDRESS_SPACE, pool_name
from dockovn.ovn.lb import LoadBalancer, LoadBalancers, NewLoadBalancer, Removal, VipResponder
from dockovn.ovn.nb import (AllocationRefused, LogicalPort, LogicalSwitch, Northbound,
                            PoolNotFound)

LOG = logging.getLogger(__name__)

# Container labels that register a container as a service instance.
LABEL_SERVICE = "dockovn.service"
LABEL_PORT = "dockovn.port"

# A service name is the host part of the URIs clients use ("http://orders/api",
# see balancer.reconstruct_uri), so it must be a DNS label.
SERVICE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

# OVN health-check defaults: a backend is out after CHECK_FAILURES missed probes
# (about interval x failures seconds) and back in after CHECK_SUCCESSES answered.
CHECK_INTERVAL = 2
CHECK_FAILURES = 2
CHECK_SUCCESSES = 2


class ServiceError(ValueError):
    """A service request that cannot be done; the message says why, for people."""


# -- validation --------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise ServiceError(f"service name {name!r}: use 1-63 letters, digits and '-', "
                           "not starting or ending with '-' (it is a host name in URIs)")
    return name


def check_port(value, what: str = "port") -> int:
    try:
        number = int(str(value).strip(), 10)
    except ValueError:
        raise ServiceError(f"{what} {value!r} is not a TCP port number") from None
    if not 0 < number < 65536:
        raise ServiceError(f"{what} {value!r} is not a TCP port number (1-65535)")
    return number


def registry_ids(labels: dict[str, str] | None) -> dict[str, str]:
    """The port external_ids that container labels ask for: {} when the container
    has neither label; ServiceError when the labels are incomplete or wrong."""
    labels = labels or {}
    service, port = labels.get(LABEL_SERVICE), labels.get(LABEL_PORT)
    if service is None and port is None:
        return {}
    if service is None or port is None:
        missing = LABEL_PORT if service is not None else LABEL_SERVICE
        raise ServiceError(f"label {missing} is missing (a service instance needs both "
                           f"{LABEL_SERVICE} and {LABEL_PORT})")
    return {external_ids.SERVICE: check_name(service),
            external_ids.SERVICE_PORT: str(check_port(port, f"label {LABEL_PORT}"))}


def parse_vip(value: str) -> tuple[ipaddress.IPv4Address, int]:
    host, sep, port = value.rpartition(":")
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise ServiceError(f"VIP {value!r}: give IPv4:PORT, e.g. 192.168.1.250:80") from None
    if not sep:
        raise ServiceError(f"VIP {value!r}: give IPv4:PORT, e.g. 192.168.1.250:80")
    return ip, check_port(port, f"VIP port in {value!r}")


def first_ipv4(addresses) -> str | None:
    """The IPv4 address of a port's first "MAC IP [IP...]" entry."""
    for entry in sorted(addresses):
        for field_ in entry.split()[1:]:
            try:
                return str(ipaddress.IPv4Address(field_))
            except ValueError:
                continue
    return None


# -- a dockovn load balancer, as this layer reads it -------------------------------------


@dataclass(frozen=True)
class ServiceLb:
    service: str
    network_id: str                   # the logical switch
    vip: ipaddress.IPv4Address
    vip_port: int
    target_port: int | None           # None: each instance's own dockovn.port
    health_ip: str | None             # None: no health checks
    reserved: tuple[str, ...]
    lb: LoadBalancer | None = None    # the row it was read from (None: not created yet)

    @property
    def vip_key(self) -> str:
        return f"{self.vip}:{self.vip_port}"

    @staticmethod
    def read(lb: LoadBalancer) -> "ServiceLb | None":
        """None for a load balancer that is not dockovn's (or was edited beyond use)."""
        ids = lb.external_ids
        if external_ids.SERVICE not in ids or external_ids.NETWORK_ID not in ids or external_ids.VIP not in ids:
            return None
        try:
            vip, vip_port = parse_vip(ids[external_ids.VIP])
            target = check_port(ids[external_ids.TARGET_PORT]) if external_ids.TARGET_PORT in ids else None
        except ServiceError as exc:
            # Debug, not warning: this runs on every reconcile pass.
            LOG.debug("load balancer %s: %s; left alone", lb.uuid, exc)
            return None
        return ServiceLb(ids[external_ids.SERVICE], ids[external_ids.NETWORK_ID], vip, vip_port, target,
                         ids.get(external_ids.HEALTH_CHECK_IP) or None,
                         tuple(ids.get(external_ids.RESERVED, "").split()), lb)


def responder_names(service: str, network_id: str) -> tuple[str, str, str]:
    """(router, router port, switch port) answering for a service's VIP on a network.

    Derived from the service and the network, so a second create of the same
    service on the same network fails on the switch port's unique name even
    when two hosts race."""
    base = f"dockovn-vip-{service}-{network_id}"
    return base, f"{base}-lrp", f"{base}-lsp"


def desired(slb: ServiceLb, ports: list[LogicalPort]) -> tuple[dict[str, str], dict[str, str]]:
    """(vips, ip_port_mappings) the load balancer should have, given its network's ports.

    Backends are the ports registered under the service that ovn-controller has
    bound (``up``), in address order: every host computes the same value.
    """
    backends = []
    mappings = {}
    for port in ports:
        ids = port.external_ids
        if ids.get(external_ids.SERVICE) != slb.service or not port.up:
            continue
        ip = first_ipv4(port.addresses)
        try:
            number = slb.target_port or check_port(ids.get(external_ids.SERVICE_PORT, ""))
        except ServiceError:
            continue  # registered wrongly; `dockovn service ls` shows it
        if ip is None:
            continue
        backends.append((ipaddress.IPv4Address(ip), number))
        if slb.health_ip:
            mappings[ip] = f"{port.name}:{slb.health_ip}"
    text = ",".join(f"{ip}:{number}" for ip, number in sorted(backends))
    return {slb.vip_key: text}, mappings


# -- what `dockovn service ls` shows ------------------------------------------------------


@dataclass(frozen=True)
class ServiceRow:
    service: str
    network: str
    vip: str            # "192.168.1.250:80 -> 8080", or "" (registry only)
    container: str
    address: str        # instance IP:port
    chassis: str
    healthy: str        # yes / no / pending (OVN check) ; - (no check) ; down (not bound)


def _health(port: LogicalPort, ip: str | None, number: int | None, slb: ServiceLb | None,
            monitors: dict[tuple[str, str, int], str]) -> str:
    if not port.up:
        return "down"
    if slb is None or not slb.health_ip or ip is None or number is None:
        return "-"
    status = monitors.get((port.name, ip, slb.target_port or number))
    return {"online": "yes", "offline": "no", "error": "error"}.get(status or "", "pending")


# -- the service operations ---------------------------------------------------------------


class Services:
    def __init__(self, nb: Northbound):
        self.nb = nb
        self.lbs = LoadBalancers(nb)

    # -- reads --

    def service_lbs(self) -> list[ServiceLb]:
        return [s for s in map(ServiceLb.read, self.lbs.all()) if s is not None]

    def find_network(self, network: str) -> LogicalSwitch:
        """A dockovn network by name, or by ID (or an unambiguous ID prefix)."""
        switches = self.nb.switches_with(external_ids.NETWORK_ID)
        named = [s for s in switches if s.external_ids.get(external_ids.NETWORK_NAME) == network]
        if len(named) == 1:
            return named[0]
        by_id = [s for s in switches if len(network) >= 6 and
                 (s.name.startswith(network) or any(
                     k.startswith(external_ids.DOCKER_ID_PREFIX + network) for k in s.external_ids))]
        found = named or by_id
        if not found:
            raise ServiceError(f"no dockovn network {network!r}")
        if len(found) > 1:
            raise ServiceError(f"{len(found)} dockovn networks match {network!r}; "
                               "give the network ID")
        return found[0]

    @staticmethod
    def network_name(switch: LogicalSwitch | None, network_id: str = "") -> str:
        if switch is None:
            return f"({network_id[:12]}, gone)"
        return switch.external_ids.get(external_ids.NETWORK_NAME) or f"({switch.name[:12]})"

    def _addresses_in_use(self, switch: LogicalSwitch,
                          lbs: list[ServiceLb]) -> dict[str, str]:
        """address -> who uses it, on this network (for messages people can act on)."""
        name = self.network_name(switch)
        used = {}
        for key in (external_ids.GATEWAY, external_ids.GATEWAY6):
            if switch.external_ids.get(key):
                used[switch.external_ids[key]] = f"the gateway of network {name}"
        for port in self.nb.ports(switch.name):
            who = port.external_ids.get(external_ids.CONTAINER_NAME) or f"endpoint {port.name[:12]}"
            for entry in port.addresses:
                for field_ in entry.split()[1:]:
                    used[field_] = f"{who} on network {name}"
        for slb in lbs:
            used[str(slb.vip)] = f"the VIP of service {slb.service}"
            if slb.health_ip:
                used[slb.health_ip] = f"the health checks of service {slb.service}"
        return used

    # -- datapath services (load balancers) --

    def create(self, name: str, network: str, vip: str, port: int | None = None,
               health_check: bool = True, health_ip: str | None = None,
               interval: int = CHECK_INTERVAL, failures: int = CHECK_FAILURES) -> ServiceLb:
        """A VIP for the service on the network; its backends follow the registry."""
        check_name(name)
        if port is not None:
            check_port(port, "--port")
        switch = self.find_network(network)
        ids = switch.external_ids
        net_name = self.network_name(switch)
        subnet = ipaddress.ip_network(ids[external_ids.SUBNET])
        vip_ip, vip_port = parse_vip(vip)
        _check_usable(vip_ip, subnet, f"VIP {vip_ip}", net_name)

        lbs = [s for s in self.service_lbs() if s.network_id == switch.name]
        if any(s.service == name for s in lbs):
            raise ServiceError(f"service {name} already has a VIP on network {net_name}")
        used = self._addresses_in_use(switch, lbs)
        if str(vip_ip) in used:
            raise ServiceError(f"VIP {vip_ip} is already used by {used[str(vip_ip)]}")
        pool = self.nb.pool(pool_name(subnet)) if ids.get(external_ids.IPAM) == ADDRESS_SPACE else None
        if pool is not None and str(vip_ip) in pool.addresses:
            raise ServiceError(f"VIP {vip_ip} is already taken in network {net_name}'s "
                               "address pool (a container, or an --aux-address)")

        probe_ip = None
        if health_check:
            taken = set(used) | {str(vip_ip)} | (set(pool.addresses) if pool else set())
            probe_ip = _probe_address(health_ip, subnet, taken,
                                      {**used, str(vip_ip): "the VIP itself"}, net_name)

        reserve = tuple(a for a in (str(vip_ip), probe_ip) if a) if pool is not None else ()
        lb_ids = {external_ids.SERVICE: name, external_ids.NETWORK_ID: switch.name,
                  external_ids.VIP: f"{vip_ip}:{vip_port}", external_ids.CREATED_AT: str(int(time.time()))}
        if port is not None:
            lb_ids[external_ids.TARGET_PORT] = str(port)
        if probe_ip:
            lb_ids[external_ids.HEALTH_CHECK_IP] = probe_ip
        if reserve:
            lb_ids[external_ids.RESERVED] = " ".join(reserve)
        draft = ServiceLb(name, switch.name, vip_ip, vip_port, port, probe_ip, reserve)
        vips, mappings = desired(draft, self.nb.ports(switch.name))
        router, lrp, lsp = responder_names(name, switch.name)
        spec = NewLoadBalancer(
            name=f"dockovn-{name}-{switch.name[:12]}", switch=switch.name,
            vip=draft.vip_key, backends=vips[draft.vip_key], external_ids=lb_ids,
            responder=VipResponder(router, lrp, lsp, identifiers.mac_for_ipv4(str(vip_ip)),
                                   f"{vip_ip}/{subnet.prefixlen}",
                                   # Not external_ids.SERVICE: the registry would take the
                                   # responder's switch port for an instance.
                                   {external_ids.VIP: draft.vip_key, external_ids.NETWORK_ID: switch.name}),
            health_check=({"interval": str(interval), "timeout": str(interval),
                           "failure_count": str(failures),
                           "success_count": str(CHECK_SUCCESSES)} if probe_ip else None),
            ip_port_mappings=mappings,
            reserve_in=pool.name if pool is not None else None, reserve=reserve)
        try:
            self.lbs.create(spec)
        except AllocationRefused as exc:
            raise ServiceError(f"network {net_name}: {exc} (taken meanwhile; try again)") from None
        except PoolNotFound:
            raise ServiceError(f"network {net_name} lost its address pool meanwhile") from None
        LOG.debug("service %s: VIP %s on network %s", name, draft.vip_key, net_name)
        created = [s for s in self.service_lbs()
                   if s.service == name and s.network_id == switch.name]
        return created[0] if created else draft

    def delete(self, name: str, network: str | None = None) -> list[ServiceLb]:
        """Remove the service's VIP(s) (on one network, or all). The registry (labels)
        is untouched: instances stay listed for client-side balancing."""
        switch = self.find_network(network) if network else None
        gone = [s for s in self.service_lbs()
                if s.service == name and (switch is None or s.network_id == switch.name)]
        if not gone:
            where = f" on network {network}" if network else ""
            raise ServiceError(f"service {name} has no VIP{where}")
        self.lbs.remove([self._removal(s) for s in gone])
        return gone

    def _removal(self, slb: ServiceLb) -> Removal:
        router, _, lsp = responder_names(slb.service, slb.network_id)
        switch = self.nb.switch(slb.network_id)
        pool = None
        if switch is not None and switch.external_ids.get(external_ids.IPAM) == ADDRESS_SPACE:
            pool = pool_name(ipaddress.ip_network(switch.external_ids[external_ids.SUBNET]))
        return Removal(slb.lb.uuid, router, lsp, pool, slb.reserved if pool else ())

    # -- the registry by hand --

    def _container_ports(self, container: str, network: str | None) -> list[LogicalPort]:
        switches = ([self.find_network(network)] if network
                    else self.nb.switches_with(external_ids.NETWORK_ID))
        found = []
        for switch in switches:
            for port in self.nb.ports(switch.name):
                ids = port.external_ids
                if ids.get(external_ids.CONTAINER_NAME) == container or (
                        len(container) >= 12 and ids.get(external_ids.CONTAINER_ID, "").startswith(
                            container)):
                    found.append(port)
        if not found:
            where = f" on network {network}" if network else ""
            raise ServiceError(f"no container {container!r}{where} on a dockovn network "
                               "(names reach OVN from Docker's events; try again in a moment "
                               "if it just started)")
        return found

    def add(self, name: str, container: str, port: int,
            network: str | None = None) -> list[LogicalPort]:
        """Register the container's port(s) as instances of ``name`` on ``port``."""
        check_name(name)
        ids = {external_ids.SERVICE: name, external_ids.SERVICE_PORT: str(check_port(port))}
        ports = self._container_ports(container, network)
        self.lbs.update_port_ids({p.name: ids for p in ports}, {})
        return ports

    def remove(self, name: str, container: str,
               network: str | None = None) -> list[LogicalPort]:
        """Take the container's port(s) out of service ``name``."""
        ports = [p for p in self._container_ports(container, network)
                 if p.external_ids.get(external_ids.SERVICE) == name]
        if not ports:
            raise ServiceError(f"container {container} is not an instance of service {name}")
        self.lbs.update_port_ids({}, {p.name: (external_ids.SERVICE, external_ids.SERVICE_PORT) for p in ports})
        return ports

    # -- keeping backends in step (every driver, see network/backends.py) --

    def reconcile(self) -> int:
        """Make every dockovn load balancer's backends match the registry, and remove
        the ones whose network is gone. Returns how many were changed."""
        changed = 0
        orphans = []
        for slb in self.service_lbs():
            if self.nb.switch(slb.network_id) is None:
                orphans.append(slb)
                continue
            vips, mappings = desired(slb, self.nb.ports(slb.network_id))
            if vips != slb.lb.vips or mappings != slb.lb.ip_port_mappings:
                self.lbs.set_backends(slb.lb.uuid, vips, mappings)
                LOG.info("service %s: backends %s", slb.service, vips[slb.vip_key] or "none")
                changed += 1
        if orphans:
            # Docker removed the network (and OVSDB its ports): the VIP has nowhere to be.
            self.lbs.remove([self._removal(s) for s in orphans])
            for slb in orphans:
                LOG.info("service %s: network %s is gone; VIP %s removed", slb.service,
                         slb.network_id[:12], slb.vip_key)
            changed += len(orphans)
        return changed

    # -- listing --

    def listing(self, monitors: dict[tuple[str, str, int], str]) -> list[ServiceRow]:
        """Every service on every network: its VIP (if any) and its instances."""
        lbs = {(s.service, s.network_id): s for s in self.service_lbs()}
        switches = {s.name: s for s in self.nb.switches_with(external_ids.NETWORK_ID)}
        instances: dict[tuple[str, str], list[LogicalPort]] = {}
        for switch in switches.values():
            for port in self.nb.ports(switch.name):
                service = port.external_ids.get(external_ids.SERVICE)
                if service:
                    instances.setdefault((service, switch.name), []).append(port)
        rows = []
        for key in sorted(lbs.keys() | instances.keys(),
                          key=lambda k: (k[0], self.network_name(switches.get(k[1]), k[1]))):
            service, network_id = key
            slb = lbs.get(key)
            network = self.network_name(switches.get(network_id), network_id)
            vip = ""
            if slb is not None:
                vip = slb.vip_key + (f" -> {slb.target_port}" if slb.target_port else "")
                if not slb.health_ip:
                    vip += " (no health check)"
            ports = sorted(instances.get(key, ()),
                           key=lambda p: p.external_ids.get(external_ids.CONTAINER_NAME, p.name))
            if not ports:
                rows.append(ServiceRow(service, network, vip, "", "", "", ""))
            for port in ports:
                ids = port.external_ids
                ip = first_ipv4(port.addresses)
                try:
                    number = check_port(ids.get(external_ids.SERVICE_PORT, ""))
                except ServiceError:
                    number = None
                address = f"{ip}:{number}" if ip and number else \
                    f"{ip or '?'}:{ids.get(external_ids.SERVICE_PORT, '?')} (invalid)"
                rows.append(ServiceRow(
                    service, network, vip,
                    container=ids.get(external_ids.CONTAINER_NAME) or f"({port.name[:12]})",
                    address=address, chassis=ids.get(external_ids.HOSTNAME, ""),
                    healthy=_health(port, ip, number, slb, monitors)))
        return rows


def _check_usable(ip: ipaddress.IPv4Address, subnet, what: str, network: str) -> None:
    if ip not in subnet:
        # Containers reach OVN only for their own subnet (their default route goes
        # out through Docker's gateway bridge), so the VIP has to be on it.
        raise ServiceError(f"{what} is outside network {network}'s subnet {subnet}")
    if ip in (subnet.network_address, subnet.broadcast_address):
        raise ServiceError(f"{what} is the subnet's own or broadcast address")


def _probe_address(wanted: str | None, subnet, taken: set[str], used: dict[str, str],
                   network: str) -> str:
    """The source address of OVN's health-check probes: ``wanted``, or the highest free.

    ovn-controller sends the probes from it and OVN answers ARP for it, so it must
    be on the subnet and be nobody else's address.
    """
    if not wanted:
        return _highest_free(subnet, taken)
    try:
        probe = ipaddress.IPv4Address(wanted)
    except ValueError:
        raise ServiceError(f"health-check address {wanted!r} is not an IPv4 address") from None
    _check_usable(probe, subnet, f"health-check address {probe}", network)
    if str(probe) in taken:
        holder = f" by {used[str(probe)]}" if str(probe) in used else ""
        raise ServiceError(f"health-check address {probe} is already used{holder}")
    return str(probe)


def _highest_free(subnet, taken: set[str]) -> str:
    """The highest address of the subnet nobody uses. Docker's own IPAM hands out
    addresses lowest first, so on networks it manages the top of the subnet is
    the last a container gets (on dockovn's IPAM the address is reserved too)."""
    ip = subnet.broadcast_address - 1
    while ip > subnet.network_address:
        if str(ip) not in taken:
            return str(ip)
        ip -= 1
    raise ServiceError(f"no free address left in {subnet} for health checks "
                       "(use --no-health-check)")
