"""Judging this host's encrypted tunnels: whether the central requires them, whether
this host's tunnels start inside the encrypted network, whether it has its WireGuard
device and published key of the current generation, and whether every other host is a
peer with a recent handshake. Pure, like host_checks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dockovn.diagnose.doctor.findings import Finding, fail, ok, warn
from dockovn.host.wireguard import KEEPALIVE, PeerState
from dockovn.ovn.tunnel_keys import Generations, PublishedKey

# Peers handshake again every two minutes while traffic (or the keepalive) flows.
STALE_HANDSHAKE_S = 180
REJOIN = "dockovn host join TOKEN CENTRAL --encap-ip UNDERLAY-IP (it sets WireGuard up)"


@dataclass(frozen=True)
class EncryptionFacts:
    required: tuple[str, str] | None    # (kind, encap network) the central requires
    me: str
    my_tunnel_ips: tuple[str, ...]      # this host's ovn-encap-ip
    peers: list[PeerState] | None       # the current generation's device (None: none)
    device_error: str
    published: list[PublishedKey]
    chassis: list[str]                  # every chassis' name in SB
    generations: Generations
    now: float


def _inside(ips, network: str) -> bool:
    net = ipaddress.ip_network(network)
    return any(ipaddress.ip_address(ip) in net for ip in ips)


def check_encryption(f: EncryptionFacts) -> list[Finding]:
    if f.required is None:
        if f.peers is None:
            return [ok("encryption", "tunnels are not encrypted (the central does not ask "
                       "for it): Geneve crosses the underlay in the clear")]
        return [ok("encryption", "this host has a WireGuard device, but the central does "
                   "not require encrypted tunnels")]
    kind, network = f.required
    gen = f.generations.current
    if not _inside(f.my_tunnel_ips, network):
        return [fail("encryption", f"the central requires encrypted tunnels ({kind}) but this "
                     f"host's tunnels start from {', '.join(f.my_tunnel_ips) or 'nowhere'}, "
                     f"outside {network}: they are not encrypted, so no encrypted host "
                     "exchanges a packet with it (encryption fails closed)", REJOIN)]
    if f.peers is None:
        return [fail("encryption", f"the central requires encrypted tunnels ({kind}) but "
                     f"this host has no WireGuard device ({f.device_error}): no other host "
                     "sends to it or accepts what it sends", REJOIN)]
    by_name = {k.chassis: k for k in f.published}
    mine = by_name.get(f.me)
    if mine is None or mine.key_for(gen) is None:
        return [fail("encryption", f"this host's WireGuard key (generation {gen}) is not "
                     "published in SB: the other hosts cannot reach it",
                     "check that `dockovn host wireguard-peers` runs here (its log "
                     "dockovn-wireguard.log, beside ovn-controller's); or " + REJOIN)]
    by_key = {p.public_key: p for p in f.peers}
    out, peers = [], 0
    for name in sorted(set(f.chassis) - {f.me}):
        other = by_name.get(name)
        if other is None or not _inside(other.tunnel_ips, network):
            out.append(fail("encryption", f"host {name} does not encrypt its tunnels (no "
                            f"WireGuard key, or tunnels outside {network}): nothing passes "
                            "between it and this host (encryption fails closed)",
                            f"on {name}: {REJOIN}", subject=name))
            continue
        theirs = other.key_for(gen)
        state = by_key.get(theirs) if theirs else None
        if theirs is None:
            out.append(fail("encryption", f"host {name} has no key of generation {gen} (it "
                            f"sends with {other.sending}): nothing reaches it",
                            f"check `dockovn host wireguard-peers` on {name}", subject=name))
        elif state is None:
            out.append(fail("encryption", f"host {name} is not among this host's WireGuard "
                            "peers: nothing reaches it", "check this host's "
                            "dockovn-wireguard.log (the peer sync)", subject=name))
        elif not state.latest_handshake:
            out.append(warn("encryption", f"no WireGuard handshake with {name} yet "
                            f"({state.endpoint})", f"check that UDP {state.endpoint} is "
                            f"reachable (keepalives go every {KEEPALIVE} s)", subject=name))
        elif f.now - state.latest_handshake > STALE_HANDSHAKE_S:
            out.append(fail("encryption", f"no WireGuard handshake with {name} for "
                            f"{int(f.now - state.latest_handshake)} s: its tunnel carries "
                            "nothing", f"check that UDP {state.endpoint} is reachable from "
                            "here, and that host's WireGuard", subject=name))
        else:
            peers += 1
    nxt = f.generations.next
    if nxt is not None:
        behind = sorted(k.chassis for k in f.published
                        if _inside(k.tunnel_ips, network) and k.ready < nxt)
        out.append(warn("encryption", f"a key rotation to generation {nxt} is under way; "
                        f"not ready yet: {', '.join(behind) or 'none'}",
                        "`dockovn central rotate-tunnel-keys` finishes it (run it again if "
                        "it stopped)"))
    if out:
        return out
    return [ok("encryption", f"tunnels encrypted ({kind}, {network}, key generation {gen}): "
               f"{peers} peer(s), each with a recent handshake")]
