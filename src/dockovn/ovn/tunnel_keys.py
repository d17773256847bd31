"""Hosts' WireGuard keys, as each host publishes its own on its Chassis row in SB, and
the cluster's key generation, which the central keeps in SB_Global.

SB's role-based access lets a chassis change only its own row, so the key found on
chassis h2's row was written with h2's certificate: the central's identities vouch for
it. A revoked host's Chassis row is removed, and with it the key every peer had.

Keys come in generations. A host has two WireGuard devices ("slots"); generation g's
key lives in slot g % 2, so while the cluster sends with generation G's keys, the
next generation's keys are made, handed out and tried in the other slot. The central
moves the cluster to the next generation only when every host is ready (a handshake
with every peer on the new keys), then each host sends on the new slot: no packet is
ever sent on a key its receiver does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockovn.ovn.sb import Southbound
from dockovn.ovsdb import commit, reading

SLOTS = 2
KEY = "dockovn-wg-key-"            # + slot -> "GENERATION:PUBLIC-KEY"
ENDPOINT = "dockovn-wg-endpoint"   # the host's underlay address (slot s on port 51820 + s)
SENDING = "dockovn-wg-sending"     # the generation the host sends with
READY = "dockovn-wg-ready"         # the next generation, once every peer handshook on it
GENERATION = "dockovn-wg-generation"            # SB_Global: what the cluster sends with
NEXT_GENERATION = "dockovn-wg-next-generation"  # SB_Global: during a rotation


class TunnelKeyError(RuntimeError):
    pass


def slot_of(generation: int) -> int:
    return generation % SLOTS


@dataclass(frozen=True)
class PublishedKey:
    chassis: str
    endpoint: str                 # underlay address
    keys: dict[int, tuple[int, str]] = field(default_factory=dict)  # slot -> (gen, key)
    sending: int = -1
    ready: int = -1
    tunnel_ips: tuple[str, ...] = ()   # the chassis' Encap addresses

    def key_for(self, generation: int) -> str | None:
        """Its public key of ``generation``, if it has made it."""
        gen, key = self.keys.get(slot_of(generation), (None, ""))
        return key if gen == generation else None


@dataclass(frozen=True)
class Generations:
    current: int
    next: int | None   # set while a rotation is under way


def _int(value: str | None, default: int = -1) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def parse(chassis: str, ids: dict[str, str], tunnel_ips: tuple[str, ...]) -> PublishedKey | None:
    """What a Chassis row's external_ids publish (None: no key at all)."""
    keys = {}
    for slot in range(SLOTS):
        gen, _, key = ids.get(f"{KEY}{slot}", "").partition(":")
        if key and _int(gen) >= 0:
            keys[slot] = (int(gen), key)
    if not keys or not ids.get(ENDPOINT):
        return None
    return PublishedKey(chassis, ids[ENDPOINT], keys, _int(ids.get(SENDING)),
                        _int(ids.get(READY)), tunnel_ips)


def publication(endpoint: str, keys: dict[int, tuple[int, str]], sending: int,
                ready: int) -> dict[str, str]:
    """The external_ids a host writes on its own Chassis row."""
    out = {ENDPOINT: endpoint, SENDING: str(sending), READY: str(ready)}
    out.update({f"{KEY}{slot}": f"{gen}:{key}" for slot, (gen, key) in keys.items()})
    return out


class TunnelKeys:
    def __init__(self, sb: Southbound):
        self.sb = sb
        self.api = sb.api

    @reading
    def published(self) -> list[PublishedKey]:
        out = []
        for c in self.api.tables["Chassis"].rows.values():
            key = parse(c.name, dict(c.external_ids), tuple(sorted(e.ip for e in c.encaps)))
            if key is not None:
                out.append(key)
        return sorted(out, key=lambda k: k.chassis)

    @reading
    def own_ids(self, chassis: str) -> dict[str, str] | None:
        """``chassis``' external_ids (None: it has no row)."""
        row = next((c for c in self.api.tables["Chassis"].rows.values() if c.name == chassis),
                   None)
        return None if row is None else dict(row.external_ids)

    def publish(self, chassis: str, ids: dict[str, str]) -> None:
        """This host's keys and state on its own Chassis row (the same again: no change)."""
        commit(self.api, TunnelKeyError, f"publishing {chassis}'s WireGuard keys",
               self.api.db_set("Chassis", chassis, ("external_ids", ids)))

    @reading
    def generations(self) -> Generations:
        rows = list(self.api.tables["SB_Global"].rows.values())
        ids = dict(rows[0].external_ids) if rows else {}
        nxt = _int(ids.get(NEXT_GENERATION))
        return Generations(max(_int(ids.get(GENERATION), 0), 0), nxt if nxt >= 0 else None)

    def _global_row(self):
        with self.api.ovsdb_connection.lock:
            rows = list(self.api.tables["SB_Global"].rows.values())
            if not rows:
                raise TunnelKeyError("SB has no SB_Global row yet (is the central initialised?)")
            return rows[0].uuid

    def begin_rotation(self, generation: int) -> None:
        """Hosts make generation ``generation``'s keys (again: no change)."""
        commit(self.api, TunnelKeyError, f"asking hosts for key generation {generation}",
               self.api.db_set("SB_Global", self._global_row(),
                               ("external_ids", {NEXT_GENERATION: str(generation)})))

    def finish_rotation(self, generation: int) -> None:
        """The cluster sends with ``generation`` from now on (again: no change)."""
        row = self._global_row()
        commit(self.api, TunnelKeyError, f"moving the cluster to key generation {generation}",
               self.api.db_set("SB_Global", row, ("external_ids", {GENERATION: str(generation)})),
               self.api.db_remove("SB_Global", row, "external_ids", NEXT_GENERATION,
                                  if_exists=True))

    def change_seqno(self) -> int:
        return self.api.idl.change_seqno
