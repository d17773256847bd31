"""Hosts' WireGuard keys, as each host publishes its own on its Chassis row in SB.

SB's role-based access lets a chassis change only its own row, so the key found on
chassis h2's row was written with h2's certificate: the central's identities vouch for
it. A revoked host's Chassis row is removed, and with it the key every peer had.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockovn.ovn.sb import Southbound
from dockovn.ovsdb import commit, reading

PUBLIC_KEY = "dockovn-wg-public-key"
ENDPOINT = "dockovn-wg-endpoint"   # "underlay-ip:port"


class TunnelKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class PublishedKey:
    chassis: str
    public_key: str
    endpoint: str
    tunnel_ips: tuple[str, ...]   # the chassis' Encap addresses


class TunnelKeys:
    def __init__(self, sb: Southbound):
        self.sb = sb
        self.api = sb.api

    @reading
    def published(self) -> list[PublishedKey]:
        out = []
        for c in self.api.tables["Chassis"].rows.values():
            ids = dict(c.external_ids)
            if ids.get(PUBLIC_KEY) and ids.get(ENDPOINT):
                out.append(PublishedKey(c.name, ids[PUBLIC_KEY], ids[ENDPOINT],
                                        tuple(sorted(e.ip for e in c.encaps))))
        return sorted(out, key=lambda k: k.chassis)

    @reading
    def chassis_exists(self, name: str) -> bool:
        return any(c.name == name for c in self.api.tables["Chassis"].rows.values())

    def publish(self, chassis: str, public_key: str, endpoint: str) -> None:
        """This host's key and endpoint on its own Chassis row (the same again: no change)."""
        commit(self.api, TunnelKeyError, f"publishing {chassis}'s WireGuard key",
               self.api.db_set("Chassis", chassis,
                               ("external_ids", {PUBLIC_KEY: public_key, ENDPOINT: endpoint})))

    def change_seqno(self) -> int:
        return self.api.idl.change_seqno
