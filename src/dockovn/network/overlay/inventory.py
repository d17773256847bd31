"""What `dockovn ls` shows: dockovn's networks and their ports, from OVN's point of view."""

from __future__ import annotations

from dataclasses import dataclass

from dockovn.network import external_ids
from dockovn.ovn.nb import Northbound


@dataclass(frozen=True)
class PortRow:
    network: str
    subnet: str
    port: str
    container: str
    ip: str
    mac: str
    chassis: str
    up: str


def rows(nb: Northbound, port_chassis: dict[str, str]) -> list[PortRow]:
    out = []
    switches = sorted(nb.switches_with(external_ids.NETWORK_ID),
                      key=lambda s: (s.external_ids.get(external_ids.NETWORK_NAME, "~"), s.name))
    for sw in switches:
        ids = sw.external_ids
        name = ids.get(external_ids.NETWORK_NAME) or f"({sw.name[:12]})"
        subnet = ", ".join(v for v in (ids.get(external_ids.SUBNET), ids.get(external_ids.SUBNET6)) if v)
        ports = sorted((p for p in nb.ports(sw.name) if external_ids.ENDPOINT_ID in p.external_ids),
                       key=lambda p: p.external_ids.get(external_ids.CONTAINER_NAME, ""))
        if not ports:
            out.append(PortRow(name, subnet, "", "", "", "", "", ""))
        for p in ports:
            fields = p.addresses[0].split() if p.addresses else []
            out.append(PortRow(
                network=name, subnet=subnet, port=p.name[:12],
                container=p.external_ids.get(external_ids.CONTAINER_NAME, ""),
                ip=" ".join(fields[1:]), mac=fields[0] if fields else "",
                chassis=port_chassis.get(p.name, ""),
                up="yes" if p.up else "no",
            ))
    return out
