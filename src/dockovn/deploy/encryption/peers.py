"""Keeping a host's WireGuard peers equal to the other hosts' published keys.

Runs beside ovn-controller (`host join` starts it): publishes this host's key and
underlay endpoint on its own Chassis row, then follows SB's Chassis rows. A host whose
row goes (revoked, or removed) is no longer a peer: nothing is sent to it, and what it
sends is dropped (WireGuard accepts packets from known keys only).
"""

from __future__ import annotations

import ipaddress
import logging
import threading

from dockovn.deploy.encryption.datapath import Endpoint
from dockovn.host import wireguard
from dockovn.ovn.tunnel_keys import PublishedKey, TunnelKeys

LOG = logging.getLogger(__name__)


def peers_of(published: list[PublishedKey], me: str, network: str) -> list[wireguard.Peer]:
    """The other hosts with a key and a tunnel address in the encap network."""
    net = ipaddress.ip_network(network)
    out = []
    for key in published:
        if key.chassis == me:
            continue
        inside = [ip for ip in key.tunnel_ips if ipaddress.ip_address(ip) in net]
        if inside:
            out.append(wireguard.Peer(key.public_key, key.endpoint, inside[0]))
    return out


class PeerSync:
    def __init__(self, keys: TunnelKeys, chassis: str, endpoint: Endpoint, underlay: str,
                 interval: float = 0.3):
        self.keys = keys
        self.chassis = chassis
        self.endpoint = endpoint
        self.underlay = f"{underlay}:{wireguard.PORT}"
        self.interval = interval
        self._stop = threading.Event()
        with open(endpoint.key_path) as f:
            self.private = f.read().strip()
        self.public = wireguard.public_key(self.private)
        self.applied: list[wireguard.Peer] | None = None

    def once(self) -> None:
        mine = next((k for k in self.keys.published() if k.chassis == self.chassis), None)
        if self.keys.chassis_exists(self.chassis) and (
                mine is None or (mine.public_key, mine.endpoint) != (self.public, self.underlay)):
            self.keys.publish(self.chassis, self.public, self.underlay)
        peers = peers_of(self.keys.published(), self.chassis, self.endpoint.network)
        if peers != self.applied:
            wireguard.sync(self.endpoint.device, self.private, wireguard.PORT, peers)
            LOG.info("WireGuard peers: %s", ", ".join(p.allowed_ip for p in peers) or "none")
            self.applied = peers

    def run(self) -> None:
        seen = None
        while not self._stop.wait(self.interval):
            try:
                seqno = self.keys.change_seqno()
                if seqno != seen:
                    self.once()
                    seen = seqno
            except Exception as exc:  # SB away, a row gone mid-read: next round
                LOG.warning("following WireGuard peers: %s", exc)
                seen = None

    def stop(self) -> None:
        self._stop.set()
