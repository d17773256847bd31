"""The encryption check: required or not, the device, the key in SB, each peer."""

from __future__ import annotations

from dockovn.diagnose.doctor.encryption_checks import STALE_HANDSHAKE_S, check_encryption
from dockovn.diagnose.doctor.findings import Severity
from dockovn.host.wireguard import PeerState
from dockovn.ovn.tunnel_keys import PublishedKey

NOW = 1_000_000.0
REQUIRED = ("wireguard", "10.254.0.0/16")
H1 = PublishedKey("h1", "K1", "192.0.2.11:51820", ("10.254.0.1",))
H2 = PublishedKey("h2", "K2", "192.0.2.12:51820", ("10.254.0.2",))


def peer(key="K2", handshake=NOW - 10):
    return PeerState(key, "192.0.2.12:51820", "10.254.0.2/32", int(handshake), 100, 100)


def one(findings):
    (f,) = findings
    return f


def test_not_required_says_the_tunnels_are_in_the_clear():
    f = one(check_encryption(None, "h1", None, "no device", [], ["h1", "h2"], NOW))
    assert f.severity is Severity.OK and "in the clear" in f.summary


def test_required_and_healthy():
    f = one(check_encryption(REQUIRED, "h1", [peer()], "", [H1, H2], ["h1", "h2"], NOW))
    assert f.severity is Severity.OK and "1 peer" in f.summary


def test_required_without_a_device_fails_with_what_to_run():
    f = one(check_encryption(REQUIRED, "h1", None, "No such device", [H2], ["h1", "h2"], NOW))
    assert f.severity is Severity.FAIL and "No such device" in f.summary
    assert "dockovn host join" in f.action


def test_own_key_missing_from_sb():
    f = one(check_encryption(REQUIRED, "h1", [peer()], "", [H2], ["h1", "h2"], NOW))
    assert f.severity is Severity.FAIL and "not published" in f.summary


def test_each_peer_missing_silent_or_stale_is_named():
    f = one(check_encryption(REQUIRED, "h1", [], "", [H1, H2], ["h1", "h2"], NOW))
    assert (f.severity, f.subject) == (Severity.FAIL, "h2") and "not among" in f.summary
    f = one(check_encryption(REQUIRED, "h1", [peer(handshake=0)], "", [H1, H2], ["h1", "h2"],
                             NOW))
    assert f.severity is Severity.WARN and "no WireGuard handshake" in f.summary
    f = one(check_encryption(REQUIRED, "h1", [peer(handshake=NOW - STALE_HANDSHAKE_S - 5)], "",
                             [H1, H2], ["h1", "h2"], NOW))
    assert f.severity is Severity.FAIL and f"{STALE_HANDSHAKE_S + 5} s" in f.summary


def test_a_host_without_a_key_is_unreachable_and_named():
    f = one(check_encryption(REQUIRED, "h1", [peer()], "", [H1, H2], ["h1", "h2", "h3"], NOW))
    assert (f.severity, f.subject) == (Severity.FAIL, "h3") and "fails closed" in f.summary
