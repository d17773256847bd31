"""This host's WireGuard private keys: one per slot, with the generation it was made
for, in one root-only file. Made on the host, never sent anywhere (only the public
half goes to SB)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from dockovn.deploy.pki import keyfiles
from dockovn.host import wireguard


@dataclass(frozen=True)
class OwnKey:
    generation: int
    private: str
    made_at: float   # seconds since the epoch: handshakes before it were with an older key

    @property
    def public(self) -> str:
        return wireguard.public_key(self.private)


def load(path: str) -> dict[int, OwnKey]:
    """slot -> its key ({} before the first)."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except FileNotFoundError:
        return {}
    return {int(slot): OwnKey(int(k["generation"]), k["private"], float(k["made_at"]))
            for slot, k in raw.items()}


def renew(path: str, slot: int, generation: int) -> OwnKey:
    """A fresh key for ``slot``, made for ``generation``; the other slot's is kept."""
    keys = load(path)
    keys[slot] = OwnKey(generation, wireguard.new_private_key(), time.time())
    keyfiles.write(path, json.dumps({str(s): {"generation": k.generation, "private": k.private,
                                              "made_at": k.made_at}
                                     for s, k in sorted(keys.items())}).encode(), private=True)
    return keys[slot]
