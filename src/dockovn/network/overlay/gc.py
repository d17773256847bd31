"""`dockovn gc`: find and remove what dead containers and crashed requests left behind.

What counts as stale, on this host:
- a logical switch port this host created whose endpoint no container uses;
- an OVS port on the integration bridge carrying such an endpoint;
- a dockovn veth (``dov...``) on no OVS bridge (checked twice, a moment apart,
  so a Join that is between creating and plugging it is left alone);
- a network this host created that has no ports and no Docker network on this
  host (Docker removed it while the driver was down), with its address pool;
- this host's aliases of networks its dockerd no longer has;
- an address pool no network uses (a create that died halfway);
- a gateway router port whose network is gone (and its router, if it was the last);
- this host's gateway port (``dgw...``, network/gateway) on a network gone from NB or
  from this host's dockerd.
Rows younger than ``min_age`` seconds are spared: they may belong to a request
in flight. Docker is asked which endpoints are live; if it cannot be reached,
nothing is removed.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from dockovn.host import links
from dockovn.host.docker_engine import DockerEngine
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.network import external_ids
from dockovn.network import identifiers
from dockovn.network.api import DriverError
from dockovn.network.gateway.host_ports import GatewayPorts
from dockovn.ovn.lb import LoadBalancers
from dockovn.network.overlay.ipam import (ALLOCATED_AT, ADDRESS_SPACE, POOL_SUBNET,
                                          allocated_at, switch_pools)
from dockovn.network.collector import BaseCollector, Stale, age
from dockovn.network.overlay.replication import aliases
from dockovn.ovn.nb import Northbound, NorthboundError

LOG = logging.getLogger(__name__)


class Collector(BaseCollector):
    errors = (NorthboundError, OvsError, links.LinkError, DriverError)

    def __init__(self, nb: Northbound, ovs: LocalSwitch, host_id: str,
                 engine_factory: Callable[[], DockerEngine], min_age: float = 60.0):
        super().__init__(ovs, engine_factory, min_age)
        self.nb = nb
        self.host_id = host_id

    def find(self) -> list[Stale]:
        live, local_networks = self._docker_view()
        now = time.time()
        found: list[Stale] = []
        stale_ports: set[str] = set()
        switches = self.nb.switches_with(external_ids.NETWORK_ID, with_ports=True)
        for switch in switches:
            for port in self.nb.ports(switch.name):
                ids = port.external_ids
                if ids.get(external_ids.HOST) != self.host_id or port.name in live:
                    continue
                if age(ids, now) < self.min_age:
                    continue
                stale_ports.add(port.name)
                name = ids.get(external_ids.CONTAINER_NAME) or "no container"
                found.append(Stale("logical port", port.name, f"endpoint gone ({name})"))
        for bport in self.ovs.ports():
            endpoint = bport.external_ids.get(external_ids.OVS_ENDPOINT)
            if not endpoint or endpoint in live:
                continue
            lsp = self.nb.port(endpoint)
            if lsp is None or endpoint in stale_ports:
                found.append(Stale("ovs port", bport.name, f"endpoint {endpoint[:12]} gone"))
        found += self._networks(switches, local_networks, now)
        found += self._pools(now)
        found += self._leaked_addresses(switches, now)
        found += self._router_ports()
        found += self._gateway_ports(local_networks)
        found += self._veths()
        return found

    def _gateway_ports(self, local_networks: set[str]) -> list[Stale]:
        found = []
        for bport in self.ovs.ports():
            network = bport.external_ids.get(external_ids.OVS_GATEWAY)
            if not network:
                continue
            switch = self.nb.switch(network)
            if switch is None:
                found.append(Stale("gateway port", bport.name, f"network {network[:12]} gone"))
            elif not aliases(switch) & local_networks:
                found.append(Stale("gateway port", bport.name,
                                   f"network {network[:12]} gone from this host's dockerd"))
        return found

    def _networks(self, switches, local_networks: set[str], now: float) -> list[Stale]:
        found = []
        for switch in switches:
            ids = switch.external_ids
            for key, value in ids.items():
                alias = key[len(external_ids.DOCKER_ID_PREFIX):]
                if not key.startswith(external_ids.DOCKER_ID_PREFIX) \
                        or external_ids.alias_host(value) != self.host_id \
                        or alias in local_networks:
                    continue
                # Young: dockerd stores a network only after CreateNetwork answered.
                created = {external_ids.CREATED_AT: external_ids.alias_created_at(value)}
                if age(created, now) >= self.min_age:
                    found.append(Stale("network alias", f"{switch.name}:{alias}",
                                       "this host's dockerd no longer has it"))
            containers = [p for p in self.nb.ports(switch.name) if external_ids.ENDPOINT_ID in p.external_ids]
            if ids.get(external_ids.CREATED_BY) != self.host_id or containers:
                continue  # (its router port does not count: it goes with the network)
            if aliases(switch) & local_networks or age(ids, now) < self.min_age:
                continue
            name = ids.get(external_ids.NETWORK_NAME, switch.name[:12])
            found.append(Stale("network", switch.name, f"{name}: no ports, gone from Docker"))
        return found

    def _pools(self, now: float) -> list[Stale]:
        used = {name for switch in self.nb.switches_with(external_ids.IPAM, ADDRESS_SPACE)
                for name in switch_pools(switch.external_ids)}
        return [Stale("pool", p.name, f"{p.external_ids[POOL_SUBNET]}: no network uses it")
                for p in self.nb.pools()
                if POOL_SUBNET in p.external_ids and p.name not in used
                and age(p.external_ids, now) >= self.min_age]

    def _leaked_addresses(self, switches, now: float) -> list[Stale]:
        """Addresses of dockovn pools that no port, gateway, --aux-address or service
        holds, handed out longer than ``min_age`` ago: a `docker rm` whose ReleaseAddress
        failed (NB unreachable) left them. Any host may return them (idempotent)."""
        reserved = {a for lb in self.nb_services() for a in lb}
        found = []
        for switch in switches:
            ids = switch.external_ids
            if ids.get(external_ids.IPAM) != ADDRESS_SPACE:
                continue
            held = {ids.get(external_ids.GATEWAY), ids.get(external_ids.GATEWAY6), *reserved,
                    *ids.get(external_ids.AUX_ADDRESSES, "").split()}
            for port in self.nb.ports(switch.name):
                held.update(port.ips)
            for name in switch_pools(ids):
                pool = self.nb.pool(name)
                if pool is None:
                    continue
                for ip in pool.addresses - held:
                    at = pool.external_ids.get(ALLOCATED_AT + ip)
                    if at is not None and \
                            age({external_ids.CREATED_AT: allocated_at(at)}, now) >= self.min_age:
                        found.append(Stale("address", f"{name}:{ip}",
                                           "in the pool, no container has it"))
        return found

    def nb_services(self) -> list[list[str]]:
        """Addresses `dockovn service create` took from pools (VIPs, probe sources)."""
        return [lb.external_ids.get(external_ids.RESERVED, "").split()
                for lb in LoadBalancers(self.nb).all()]

    def _router_ports(self) -> list[Stale]:
        """Gateway router ports (lrp-<network>) whose network is gone."""
        found = []
        for router, ports in self.nb.routers(identifiers.ROUTER_PREFIX).items():
            for port in ports:
                network = port.removeprefix(identifiers.ROUTER_PORT_PREFIX)
                if port.startswith(identifiers.ROUTER_PORT_PREFIX) and self.nb.switch(network) is None:
                    found.append(Stale("router port", port, f"on {router}: network gone"))
        return found

    def remove(self, item: Stale) -> None:
        if item.kind == "logical port":
            self.nb.delete_port(item.name)
        elif item.kind in ("ovs port", "veth"):
            self.ovs.unplug(item.name)
            links.delete(item.name)
        elif item.kind == "network":
            switch = self.nb.switch(item.name)
            pools = switch_pools(switch.external_ids) if switch is not None else ()
            router = switch.external_ids.get(external_ids.ROUTER) if switch is not None else None
            self.nb.delete_switch(item.name, pools, identifiers.router_names(item.name, router)[1])
        elif item.kind == "network alias":
            switch_name, _, alias = item.name.partition(":")
            self.nb.remove_switch_ids(switch_name, (external_ids.DOCKER_ID_PREFIX + alias,))
        elif item.kind == "address":
            pool, _, ip = item.name.partition(":")
            self.nb.release(pool, ip, (ALLOCATED_AT + ip,))
        elif item.kind == "pool":
            self.nb.delete_pool(item.name)
        elif item.kind == "router port":
            self.nb.delete_router_port(item.name)
        elif item.kind == "gateway port":
            bport = self.ovs.port(item.name)
            if bport is not None:  # its rules go with it
                GatewayPorts(self.ovs).remove(bport.external_ids[external_ids.OVS_GATEWAY])
