"""Services: one name for a set of containers, kept in OVN Northbound.

Two halves, both in NB so that every host sees them:

- The registry. A container's logical port is an instance of service S, listening
  on TCP port P, when its external_ids have ``dockovn:service`` = S and
  ``dockovn:service-port`` = P. NameSync copies them from the container labels
  ``dockovn.service`` / ``dockovn.port``; `dockovn service add` writes them by
  hand. The client-side balancer (``dockovn.balancer``) reads exactly these.
- Balancing in the datapath. `dockovn service create` puts an OVN Load_Balancer
  with a VIP on the network (plus the responder that makes the VIP reachable,
  see ``dockovn.ovn.lb``). Its backends are not written by hand: every driver
  runs ``reconcile`` (services/reconciler.py), which sets them to the registry's
  instances on that network. The desired state is a pure function of NB, so all
  hosts compute the same one and concurrent writers converge.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from dockovn.network import external_ids
from dockovn.network import identifiers
from dockovn.network import lookup
from dockovn.network.overlay.ipam import ADDRESS_SPACE, ALLOCATED_AT, pool_name
from dockovn.ovn.lb import LoadBalancers, NewLoadBalancer, Removal, VipResponder
from dockovn.ovn.nb import (AllocationRefused, LogicalPort, LogicalSwitch, Northbound,
                            PoolNotFound)
from dockovn.network.services.model import (CHECK_FAILURES, CHECK_INTERVAL, CHECK_SUCCESSES,
                                            ServiceError, ServiceLb, ServiceRow, check_name,
                                            check_port, check_usable, desired, first_ipv4,
                                            health_of, parse_vip, probe_address,
                                            responder_names)

LOG = logging.getLogger(__name__)


# -- the service operations ---------------------------------------------------------------


class Services:
    def __init__(self, nb: Northbound):
        self.nb = nb
        self.lbs = LoadBalancers(nb)

    # -- reads --

    def service_lbs(self) -> list[ServiceLb]:
        return [s for s in map(ServiceLb.read, self.lbs.all()) if s is not None]

    def find_network(self, network: str) -> LogicalSwitch:
        try:
            return lookup.find_network(self.nb, network)
        except lookup.NetworkNotFound as exc:
            raise ServiceError(str(exc)) from None

    network_name = staticmethod(lookup.network_name)

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
        check_usable(vip_ip, subnet, f"VIP {vip_ip}", net_name)

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
            probe_ip = probe_address(health_ip, subnet, taken,
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
            reserve_in=pool.name if pool is not None else None, reserve=reserve,
            # Claimed as RequestAddress claims (see Northbound.claim): keyed, with the time.
            reserve_marks={ALLOCATED_AT + a: str(int(time.time())) for a in reserve})
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
        ids = {external_ids.SERVICE: name}
        if switch is not None:
            ids[external_ids.NETWORK_ID] = switch.name

        def vips() -> list[ServiceLb]:
            return [s for s in self.service_lbs()
                    if s.service == name and (switch is None or s.network_id == switch.name)]

        gone = vips()
        # "none" from this cache may be a lagging member's: the cluster confirms it, or
        # this cache has the VIP by the time it answers
        if not gone and not self.nb.none_match("Load_Balancer", "external_ids", ids):
            gone = vips()
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
        release = slb.reserved if pool else ()
        return Removal(slb.lb.uuid, router, lsp, pool, release,
                       tuple(ALLOCATED_AT + a for a in release))

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
        def instances() -> tuple[list[LogicalPort], list[LogicalPort]]:
            found = self._container_ports(container, network)
            return found, [p for p in found if p.external_ids.get(external_ids.SERVICE) == name]

        found, ports = instances()
        # "not an instance" from this cache may be a lagging member's: the cluster
        # confirms it, or this cache has the registration by the time it answers
        if not ports and not self.nb.none_match("Logical_Switch_Port", "external_ids",
                                                {external_ids.SERVICE: name},
                                                tuple(p.name for p in found)):
            found, ports = instances()
        if not ports:
            raise ServiceError(f"container {container} is not an instance of service {name}")
        self.lbs.update_port_ids({}, {p.name: (external_ids.SERVICE, external_ids.SERVICE_PORT) for p in ports})
        return ports

    # -- keeping backends in step (every driver, see services/reconciler.py) --

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
                    healthy=health_of(port, ip, number, slb, monitors)))
        return rows
