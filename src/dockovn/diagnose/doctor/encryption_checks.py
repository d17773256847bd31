"""Judging this host's encrypted tunnels: whether the central requires them, whether
this host has its WireGuard device and published key, and whether every other host is
a peer with a recent handshake. Pure, like host_checks."""

from __future__ import annotations

from dockovn.diagnose.doctor.findings import Finding, fail, ok, warn
from dockovn.host.wireguard import KEEPALIVE, PeerState
from dockovn.ovn.tunnel_keys import PublishedKey

# Peers handshake again every two minutes while traffic (or the keepalive) flows.
STALE_HANDSHAKE_S = 180
REJOIN = "dockovn host join TOKEN CENTRAL --encap-ip UNDERLAY-IP (it sets WireGuard up)"


def check_encryption(required: tuple[str, str] | None, me: str,
                     peers: list[PeerState] | None, device_error: str,
                     published: list[PublishedKey], chassis: list[str],
                     now: float) -> list[Finding]:
    """``peers``: what this host's WireGuard device reports (None: no device);
    ``chassis``: every chassis' name in SB."""
    if required is None:
        if peers is None:
            return [ok("encryption", "tunnels are not encrypted (the central does not ask "
                       "for it): Geneve crosses the underlay in the clear")]
        return [ok("encryption", "this host has a WireGuard device, but the central does "
                   "not require encrypted tunnels")]
    kind, network = required
    if peers is None:
        return [fail("encryption", f"the central requires encrypted tunnels ({kind}) but "
                     f"this host has no WireGuard device ({device_error}): no other host "
                     "sends to it or accepts what it sends", REJOIN)]
    mine = next((k for k in published if k.chassis == me), None)
    if mine is None:
        return [fail("encryption", "this host's WireGuard key is not published in SB: the "
                     "other hosts cannot reach it",
                     "check that `dockovn host wireguard-peers` runs here (its log "
                     "dockovn-wireguard.log, beside ovn-controller's); or " + REJOIN)]
    by_key = {p.public_key: p for p in peers}
    keyed = {k.chassis for k in published}
    out = [fail("encryption", f"host {name} has published no WireGuard key: nothing passes "
                "between it and this host (encryption fails closed)",
                f"on {name}: {REJOIN}", subject=name)
           for name in sorted(set(chassis) - keyed - {me})]
    for other in published:
        if other.chassis == me:
            continue
        state = by_key.get(other.public_key)
        if state is None:
            out.append(fail("encryption", f"host {other.chassis} is not among this host's "
                            "WireGuard peers: nothing reaches it", "check this host's "
                            "dockovn-wireguard.log (the peer sync)", subject=other.chassis))
        elif not state.latest_handshake:
            out.append(warn("encryption", f"no WireGuard handshake with {other.chassis} yet "
                            f"({state.endpoint})", f"check that UDP {state.endpoint} is "
                            f"reachable (keepalives go every {KEEPALIVE} s)",
                            subject=other.chassis))
        elif now - state.latest_handshake > STALE_HANDSHAKE_S:
            out.append(fail("encryption", f"no WireGuard handshake with {other.chassis} for "
                            f"{int(now - state.latest_handshake)} s: its tunnel carries "
                            "nothing", f"check that UDP {state.endpoint} is reachable from "
                            "here, and that host's WireGuard", subject=other.chassis))
    if out:
        return out
    others = [k for k in published if k.chassis != me]
    return [ok("encryption", f"tunnels encrypted ({kind}, {network}): {len(others)} peer(s), "
               "each with a recent handshake")]
