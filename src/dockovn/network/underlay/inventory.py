"""What `dockovn ls --mode underlay` shows: this VM's Docker networks on Neutron,
and each container's child port (address, MAC, VLAN tag)."""

from __future__ import annotations

from dataclasses import dataclass

from dockovn.cloud.neutron import Neutron
from dockovn.host.vm_bridge import VmBridge
from dockovn.network.underlay import records


@dataclass(frozen=True)
class UnderlayRow:
    network: str
    neutron_network: str
    subnet: str
    port: str
    container: str
    ip: str
    mac: str
    vlan: str


def rows(neutron: Neutron, bridge: VmBridge, vif_id: str,
         docker_networks: dict[str, str], containers: dict[str, str]) -> list[UnderlayRow]:
    """``docker_networks``: Docker network id -> name; ``containers``: endpoint -> name."""
    held = bridge.records()
    children = [p for p in neutron.ports(device_owner=Neutron.OWNER)
                if p.binding_profile.get("parent_name") == vif_id]
    out = []
    for key, value in sorted(held.items()):
        if not key.startswith(records.NET):
            continue
        docker_id = key[len(records.NET):]
        rec = records.NetworkRecord.from_json(value)
        name = docker_networks.get(docker_id, f"({docker_id[:12]})")
        ports = sorted((p for p in children if p.network_id == rec.network),
                       key=lambda p: containers.get(p.device_id, ""))
        base = dict(network=name, neutron_network=rec.network[:13], subnet=rec.cidr)
        if not ports:
            out.append(UnderlayRow(**base, port="", container="", ip="", mac="", vlan=""))
        for p in ports:
            tag = records.vlan_of(held, p.device_id)
            out.append(UnderlayRow(**base, port=p.id[:13],
                                   container=containers.get(p.device_id, ""),
                                   ip=" ".join(p.addresses), mac=p.mac_address,
                                   vlan=str(tag) if tag is not None else ""))
    return out
