"""Identities' pure parts: key files' modes, host certificates, the trust file, tokens."""

from __future__ import annotations

import os
import stat

import pytest

from dockovn.deploy import procs
from dockovn.deploy.pki import bundle, certs, join, keyfiles, trusted_hosts


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_private_file_is_0600_whatever_was_there(tmp_path):
    key = tmp_path / "key.pem"
    key.write_bytes(b"old")
    os.chmod(key, 0o644)
    leftover = tmp_path / "key.pem.new"  # an earlier write cut short, world-readable
    leftover.write_bytes(b"half")
    os.chmod(leftover, 0o666)
    keyfiles.write(str(key), b"secret", private=True)
    assert key.read_bytes() == b"secret" and mode(key) == 0o600
    assert not leftover.exists()


def test_an_installed_bundle_leaves_the_key_root_only(tmp_path):
    dest = tmp_path / "pki"
    dest.mkdir(mode=0o755)
    (dest / "key.pem").write_bytes(b"older bundle")
    os.chmod(dest / "key.pem", 0o644)
    key, cert = certs.self_signed("h7")
    got = bundle.install(str(dest), "h7", "ssl:10.0.0.1:6641", "ssl:10.0.0.1:6642",
                         b"CA", cert, key)
    assert mode(got.files.key) == 0o600 and mode(dest) == 0o700
    assert mode(got.files.cert) == 0o644
    assert bundle.installed(str(dest)) == got


def test_a_host_certificate_names_its_chassis_and_signs_itself():
    key, cert = certs.self_signed("host-1.example")
    assert certs.common_name(cert) == "host-1.example"
    assert certs.is_self_signed(cert)
    assert b"PRIVATE KEY" in key and b"PRIVATE KEY" not in cert
    assert certs.fingerprint(cert) != certs.fingerprint(certs.self_signed("host-1.example")[1])


@pytest.mark.parametrize("name", ["", "central", "-x", "a b", "x" * 64, "h/1"])
def test_bad_chassis_names_are_refused_with_the_rule(name):
    with pytest.raises(procs.SetupError, match="letters, digits"):
        certs.self_signed(name)


def test_the_trust_file_holds_the_ca_and_each_host_once_in_a_stable_order():
    ca = certs.self_signed("ca-stand-in")[1]
    h1, h2 = certs.self_signed("h1")[1], certs.self_signed("h2")[1]
    one = trusted_hosts.render(ca, {"h2": h2.decode(), "h1": h1.decode()})
    assert one == trusted_hosts.render(ca, {"h1": h1.decode(), "h2": h2.decode()})
    assert trusted_hosts.fingerprints(one) == {certs.fingerprint(c) for c in (ca, h1, h2)}
    fewer = trusted_hosts.render(ca, {"h1": h1.decode()})
    assert certs.fingerprint(h2) not in trusted_hosts.fingerprints(fewer)


def test_a_token_carries_the_ca_digest_and_the_secret():
    ca = certs.self_signed("ca-stand-in")[1]
    secret = join.new_secret()
    token = join.make_token(ca, secret)
    assert join.parse_token(token) == (certs.fingerprint(ca), secret)
    assert join.secret_matches(secret, join.secret_digest(secret))
    assert not join.secret_matches(join.new_secret(), join.secret_digest(secret))
    assert not join.secret_matches(secret, None)


@pytest.mark.parametrize("token", ["", "SWMTKN-1-abc-def", "DOCKOVN-1-" + "0" * 63 + "-" + "0" * 32,
                                   "DOCKOVN-1-" + "g" * 64 + "-" + "0" * 32])
def test_a_malformed_token_is_refused_before_any_connection(token):
    with pytest.raises(join.JoinError, match="not a dockovn join token"):
        join.parse_token(token)
