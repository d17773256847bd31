"""The encryption check: required or not, where this host's tunnels start, the device,
the key of the current generation in SB, each other host, a rotation under way."""

from __future__ import annotations

import dataclasses

from dockovn.diagnose.doctor.encryption_checks import (STALE_HANDSHAKE_S, EncryptionFacts,
                                                        check_encryption)
from dockovn.diagnose.doctor.findings import Severity
from dockovn.host.wireguard import PeerState
from dockovn.ovn.tunnel_keys import Generations, PublishedKey

NOW = 1_000_000.0
REQUIRED = ("wireguard", "10.254.0.0/16")
H1 = PublishedKey("h1", "192.0.2.11", {0: (0, "K1")}, 0, -1, ("10.254.0.1",))
H2 = PublishedKey("h2", "192.0.2.12", {0: (0, "K2")}, 0, -1, ("10.254.0.2",))
HEALTHY = EncryptionFacts(REQUIRED, "h1", ("10.254.0.1",), [], "", [H1, H2], ["h1", "h2"],
                          Generations(0, None), NOW)


def peer(key="K2", handshake=NOW - 10):
    return PeerState(key, "192.0.2.12:51820", "10.254.0.2/32", int(handshake), 100, 100)


def check(**changes):
    facts = dataclasses.replace(HEALTHY, **{"peers": [peer()], **changes})
    return check_encryption(facts)


def one(findings):
    (f,) = findings
    return f


def test_not_required_says_the_tunnels_are_in_the_clear():
    f = one(check(required=None, peers=None))
    assert f.severity is Severity.OK and "in the clear" in f.summary


def test_required_and_healthy():
    f = one(check())
    assert f.severity is Severity.OK and "1 peer" in f.summary and "generation 0" in f.summary


def test_a_host_whose_tunnels_start_outside_the_encrypted_network_fails_closed():
    f = one(check(my_tunnel_ips=("192.0.2.11",)))
    assert f.severity is Severity.FAIL and "fails closed" in f.summary
    assert "192.0.2.11" in f.summary and "dockovn host join" in f.action


def test_required_without_a_device_fails_with_what_to_run():
    f = one(check(peers=None, device_error="No such device"))
    assert f.severity is Severity.FAIL and "No such device" in f.summary
    assert "dockovn host join" in f.action


def test_own_key_missing_from_sb_or_of_an_older_generation():
    f = one(check(published=[H2]))
    assert f.severity is Severity.FAIL and "not published" in f.summary
    f = one(check(generations=Generations(2, None)))
    assert f.severity is Severity.FAIL and "generation 2" in f.summary


def test_each_peer_missing_silent_or_stale_is_named():
    f = one(check(peers=[]))
    assert (f.severity, f.subject) == (Severity.FAIL, "h2") and "not among" in f.summary
    f = one(check(peers=[peer(handshake=0)]))
    assert f.severity is Severity.WARN and "no WireGuard handshake" in f.summary
    f = one(check(peers=[peer(handshake=NOW - STALE_HANDSHAKE_S - 5)]))
    assert f.severity is Severity.FAIL and f"{STALE_HANDSHAKE_S + 5} s" in f.summary


def test_a_host_without_a_key_or_with_clear_tunnels_is_unreachable_and_named():
    f = one(check(chassis=["h1", "h2", "h3"]))
    assert (f.severity, f.subject) == (Severity.FAIL, "h3") and "fails closed" in f.summary
    plain = dataclasses.replace(H2, tunnel_ips=("192.0.2.12",))
    f = one(check(published=[H1, plain]))
    assert (f.severity, f.subject) == (Severity.FAIL, "h2") and "fails closed" in f.summary


def test_a_rotation_under_way_names_who_is_not_ready():
    h1 = dataclasses.replace(H1, keys={0: (0, "K1"), 1: (1, "N1")}, ready=1)
    f = one(check(published=[h1, H2], generations=Generations(0, 1)))
    assert f.severity is Severity.WARN and "generation 1" in f.summary
    assert "not ready yet: h2" in f.summary
