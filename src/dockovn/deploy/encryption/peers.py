"""Keeping a host's WireGuard devices equal to what the other hosts publish, and moving
the host through key generations (``ovn/tunnel_keys.py`` tells the scheme).

Runs beside ovn-controller (`host join` starts it): makes this host's keys, publishes
their public halves and its underlay address on its own Chassis row, then follows SB. A
host whose row goes (revoked, or removed) is no longer a peer: nothing is sent to it,
and what it sends is dropped (WireGuard accepts packets from known keys only).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time

from dockovn.deploy.encryption import datapath, keystore
from dockovn.deploy.encryption.datapath import Endpoint
from dockovn.host import wireguard
from dockovn.ovn.tunnel_keys import (SLOTS, Generations, PublishedKey, TunnelKeys, publication,
                                     slot_of)

LOG = logging.getLogger(__name__)
REFRESH_S = 10.0  # everything applied again now and then: a restarted wireguard-go is re-keyed


def in_network(key: PublishedKey, network: str) -> str | None:
    """The host's tunnel address in the encap network (None: its tunnels are not
    encrypted, so it is nobody's peer)."""
    net = ipaddress.ip_network(network)
    return next((ip for ip in key.tunnel_ips if ipaddress.ip_address(ip) in net), None)


def usable(gen: int, other_sending: int, my_sending: int, gens: Generations) -> bool:
    """Whether a peer's key of generation ``gen`` belongs on our device: the current and
    the next generation's do; the previous one's only while one of the two still sends
    with it (the switch is not at once everywhere), never after: a retired key opens
    nothing."""
    if gen == gens.current or gen == gens.next:
        return True
    return gen == gens.current - 1 and min(other_sending, my_sending) < gens.current


def peers_of(published: list[PublishedKey], me: str, my_sending: int, gens: Generations,
             network: str) -> dict[int, list[wireguard.Peer]]:
    """slot -> the peers its device should have."""
    out: dict[int, list[wireguard.Peer]] = {slot: [] for slot in range(SLOTS)}
    for key in published:
        address = in_network(key, network)
        if key.chassis == me or address is None:
            continue
        for slot, (gen, public) in sorted(key.keys.items()):
            if usable(gen, key.sending, my_sending, gens):
                out[slot].append(wireguard.Peer(public, f"{key.endpoint}:{wireguard.port(slot)}",
                                                address))
    return out


def ready_for(generation: int, own: keystore.OwnKey | None, published: list[PublishedKey],
              me: str, network: str, states: list[wireguard.PeerState]) -> bool:
    """Every other encrypted host has a key of ``generation`` and has handshaken with
    ours of it (made at ``own.made_at``) on that slot's device."""
    if own is None or own.generation != generation:
        return False
    seen = {s.public_key: s.latest_handshake for s in states}
    for key in published:
        if key.chassis == me or in_network(key, network) is None:
            continue
        theirs = key.key_for(generation)
        if theirs is None or seen.get(theirs, 0) < int(own.made_at):
            return False
    return True


class PeerSync:
    def __init__(self, keys: TunnelKeys, chassis: str, endpoint: Endpoint, underlay: str,
                 interval: float = 0.3):
        self.keys = keys
        self.chassis = chassis
        self.endpoint = endpoint
        self.underlay = underlay
        self.interval = interval
        self._stop = threading.Event()
        self.applied: dict[int, list[wireguard.Peer]] = {}
        self.sending_slot: int | None = None
        self.sending = -1
        self.ready = -1

    def _own_keys(self, gens: Generations) -> dict[int, keystore.OwnKey]:
        """This host's keys, a fresh one made for a generation it has none of yet."""
        own = keystore.load(self.endpoint.keys_path)
        for gen in (gens.current, gens.next):
            if gen is None:
                continue
            have = own.get(slot_of(gen))
            if have is None or have.generation < gen:
                own[slot_of(gen)] = keystore.renew(self.endpoint.keys_path, slot_of(gen), gen)
                self.applied.pop(slot_of(gen), None)
                LOG.info("made the key of generation %d (slot %d)", gen, slot_of(gen))
        return own

    def once(self) -> None:
        gens = self.keys.generations()
        own = self._own_keys(gens)
        published = self.keys.published()
        network = self.endpoint.network
        wanted = peers_of(published, self.chassis, self.sending, gens, network)
        for slot, key in own.items():
            if wanted[slot] != self.applied.get(slot):
                wireguard.sync(self.endpoint.device(slot), key.private, wireguard.port(slot),
                               wanted[slot])
                LOG.info("slot %d peers: %s", slot,
                         ", ".join(p.allowed_ip for p in wanted[slot]) or "none")
                self.applied[slot] = wanted[slot]
        # Every host holds the current generation's keys: send with them.
        if self.sending_slot != slot_of(gens.current):
            datapath.send_with(self.endpoint, slot_of(gens.current))
            self.sending_slot = slot_of(gens.current)
            LOG.info("sending with key generation %d", gens.current)
        self.sending = gens.current
        if gens.next is not None and self.ready < gens.next:
            states = wireguard.show(self.endpoint.device(slot_of(gens.next)))
            if ready_for(gens.next, own.get(slot_of(gens.next)), published, self.chassis,
                         network, states):
                self.ready = gens.next
                LOG.info("ready for key generation %d", gens.next)
        ids = publication(self.underlay, {s: (k.generation, k.public) for s, k in own.items()},
                          self.sending, self.ready)
        current = self.keys.own_ids(self.chassis)
        if current is not None and any(current.get(k) != v for k, v in ids.items()):
            self.keys.publish(self.chassis, ids)

    def run(self) -> None:
        seen, refreshed = None, time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                if time.monotonic() - refreshed > REFRESH_S:
                    self.applied, self.sending_slot, seen = {}, None, None
                    refreshed = time.monotonic()
                seqno, gens = self.keys.change_seqno(), self.keys.generations()
                # Handshakes are not in SB: while a rotation waits for them, look each round.
                waiting = gens.next is not None and self.ready < gens.next
                if seqno != seen or waiting:
                    self.once()
                    seen = seqno
            except Exception as exc:  # SB away, a row gone mid-read: next round
                LOG.warning("following WireGuard peers: %s", exc)
                seen = None

    def stop(self) -> None:
        self._stop.set()
