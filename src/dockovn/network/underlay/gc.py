"""`dockovn gc` in underlay mode: what a Neutron outage or a dead container left.

Docker goes on when a plugin call fails: a container removed while Neutron was
unreachable leaves its child port in Neutron and its VLAN tag here. Stale, for
this VM (its port is OS_VIF_ID):
- a dockovn child port whose parent is this VM and whose endpoint no container uses;
- an address port this VM's IPAM reserved that no container has (its request died);
- a VLAN tag record whose endpoint no container uses;
- an OVS port on breth0 carrying such an endpoint, and a dockovn veth on no bridge;
- a network record whose Docker network is gone (with its Neutron network, if
  dockovn made it and nothing else uses it);
- an orphaned Neutron network (its creator's Docker network is gone; other VMs
  used it then) with no port left.
Neutron ports younger than ``min_age`` seconds are spared (requests in flight).
If dockerd cannot say what is live, nothing is removed.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

from dockovn.cloud.neutron import Neutron, NeutronConflict, NeutronError, Port
from dockovn.host import links
from dockovn.host.docker_engine import DockerEngine
from dockovn.host.ovs import OvsError
from dockovn.host.vm_bridge import VmBridge
from dockovn.network import external_ids
from dockovn.network.underlay import records
from dockovn.network.collector import BaseCollector, Stale
from dockovn.network.underlay.driver import delete_if_orphan
from dockovn.network.underlay.ipam import reserved_by


def _age(port: Port, now: float) -> float:
    try:
        created = datetime.fromisoformat(port.created_at.replace("Z", "+00:00"))
    except ValueError:
        return now  # no date: old enough
    return now - created.timestamp()


class UnderlayCollector(BaseCollector):
    errors = (NeutronError, OvsError, links.LinkError)

    ovs: VmBridge

    def __init__(self, neutron: Neutron, bridge: VmBridge, vif_id: str,
                 engine_factory: Callable[[], DockerEngine], min_age: float = 60.0):
        super().__init__(bridge, engine_factory, min_age)
        self.neutron = neutron
        self.vif_id = vif_id

    def find(self) -> list[Stale]:
        live, docker_networks = self._docker_view()
        now = time.time()
        found: list[Stale] = []
        for port in self.neutron.ports(device_owner=Neutron.OWNER):
            if _age(port, now) < self.min_age:
                continue
            ours_bound = port.binding_profile.get("parent_name") == self.vif_id
            ours_reserved = not port.device_id and port.description == reserved_by(self.vif_id)
            if ours_bound and port.device_id not in live:
                found.append(Stale("child port", port.id,
                                   f"{', '.join(port.addresses)}: endpoint gone"))
            elif ours_reserved:
                found.append(Stale("address", port.id,
                                   f"{', '.join(port.addresses)}: reserved, never used"))
        held = self.ovs.records()
        for key, endpoint in held.items():
            if key.startswith(records.VLAN) and endpoint not in live:
                found.append(Stale("vlan", key, f"endpoint {endpoint[:12]} gone"))
            if key.startswith(records.NET) and key[len(records.NET):] not in docker_networks:
                found.append(Stale("network", key[len(records.NET):], "gone from Docker"))
        for network in self.neutron.orphans():
            if not self.neutron.ports(network_id=network.id):
                found.append(Stale("orphaned network", network.id,
                                   f"{network.name}: its creator let go, no port left"))
        for bport in self.ovs.ports():
            endpoint = bport.external_ids.get(external_ids.OVS_ENDPOINT)
            if endpoint and endpoint not in live:
                found.append(Stale("ovs port", bport.name, f"endpoint {endpoint[:12]} gone"))
        return found + self._veths()

    def remove(self, item: Stale) -> None:
        if item.kind in ("child port", "address"):
            self.neutron.delete_port(item.name)
        elif item.kind == "vlan":
            self.ovs.forget(item.name)
        elif item.kind in ("ovs port", "veth"):
            self.ovs.unplug(item.name)
            links.delete(item.name)
        elif item.kind == "orphaned network":
            delete_if_orphan(self.neutron, item.name)
        elif item.kind == "network":
            rec = records.network_record(self.ovs.records(), item.name)
            if rec is not None and rec.created:
                try:
                    self.neutron.delete_network(rec.network)
                except NeutronConflict:
                    self.neutron.mark_orphan(rec.network)  # other VMs' containers use it
            elif rec is not None:
                delete_if_orphan(self.neutron, rec.network)
            self.ovs.forget(records.net_key(item.name))
