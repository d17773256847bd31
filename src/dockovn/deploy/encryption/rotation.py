"""Rotating every host's WireGuard key without dropping a packet (make before break).

1. Every host already sends with the current generation G (else: wait for it).
2. The central asks for generation G+1: each host makes a key in its other slot,
   publishes it, and its peers put it on that slot's device. Traffic still uses G.
3. Once every host reports a handshake with every peer on G+1's keys, the central
   makes G+1 current: hosts move their sending route to the new slot, each when it
   hears of it; until both ends of a pair have moved, the old keys stay (a host still
   sending with G reaches one that already moved), then they are retired.

Each step is one write of SB_Global (the same again changes nothing), so the command
can be run again after any failure and picks up where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from dockovn.deploy.encryption.peers import in_network
from dockovn.ovn.tunnel_keys import PublishedKey, TunnelKeys


class RotationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rotated:
    generation: int
    hosts: list[str]


def _hosts(keys: TunnelKeys, network: str) -> list[PublishedKey]:
    return [k for k in keys.published() if in_network(k, network)]


def _wait(keys: TunnelKeys, network: str, done: Callable[[PublishedKey], bool],
          timeout: float, what: str, remedy: str) -> list[PublishedKey]:
    deadline = time.monotonic() + timeout
    while True:
        hosts = _hosts(keys, network)
        behind = [k.chassis for k in hosts if not done(k)]
        if not behind:
            return hosts
        if time.monotonic() > deadline:
            raise RotationError(f"{what}: not yet on {', '.join(behind)} after {timeout:g} s. "
                                f"{remedy}")
        time.sleep(0.2)


def rotate(keys: TunnelKeys, network: str, timeout: float = 60.0,
           say: Callable[[str], None] = lambda _: None) -> Rotated:
    gens = keys.generations()
    # A rotation cut short is finished, not begun again.
    target = gens.next if gens.next is not None else gens.current + 1
    stuck = ("Traffic keeps its current keys. Check `dockovn host wireguard-peers` there "
             "(dockovn-wireguard.log beside ovn-controller's) or revoke a host that is gone "
             "for good; then run this again: it goes on from here.")
    if gens.next is None:
        _wait(keys, network, lambda k: k.sending >= gens.current, timeout,
              f"hosts moving to key generation {gens.current} (the last rotation)", stuck)
        keys.begin_rotation(target)
    say(f"hosts make the keys of generation {target}")
    _wait(keys, network, lambda k: k.key_for(target) is not None and k.ready >= target,
          timeout, f"new keys (generation {target}) made and tried with every peer", stuck)
    keys.finish_rotation(target)
    say(f"every host tried its new key with every peer: sending with generation {target}")
    hosts = _wait(keys, network, lambda k: k.sending >= target, timeout,
                  f"hosts sending with generation {target}",
                  "They move as soon as they hear of it; the old keys stay until they do.")
    return Rotated(target, [k.chassis for k in hosts])
