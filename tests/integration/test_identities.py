"""The central's identities, on a central of the test's own in a namespace: a central
made before identities were separate moves over with one command; joins refuse wrong
tokens and change nothing; a rotated token or a revoked certificate never gets in; the
central's key files are root-only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from dockovn.deploy import procs
from dockovn.deploy.pki import certs, join

from tests.support import netns

pytestmark = pytest.mark.integration

NS = "dkident"
ADDR = "10.78.0.1"


def in_ns(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return netns.run_in(NS, *cmd, check=check)


class Central:
    def __init__(self, folder: str):
        self.dir = folder
        self.args = ["--rundir", folder, "--dbdir", folder, "--logdir", folder,
                     "--nb-addr", ADDR, "--sb-addr", ADDR]

    @property
    def pki(self) -> str:
        return os.path.join(self.dir, "pki")

    def dockovn(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return in_ns(sys.executable, "-m", "dockovn", "central", *args, *self.args,
                     check=check)

    def token(self) -> str:
        return self.dockovn("join-token", "-q").stdout.strip()

    def stop(self) -> None:
        for daemon in ("dockovn-identities", "ovn-northd", "ovnnb_db", "ovnsb_db"):
            procs.stop(os.path.join(self.dir, f"{daemon}.pid"))


@pytest.fixture
def central(workdir):
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    in_ns("ip", "link", "set", "lo", "up")
    in_ns("ip", "addr", "add", f"{ADDR}/8", "dev", "lo")
    folder = os.path.join(workdir, "identities-central")
    shutil.rmtree(folder, ignore_errors=True)
    c = Central(folder)
    try:
        yield c
    finally:
        c.stop()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def join_as(name: str, token: str, dest: str) -> subprocess.CompletedProcess:
    """`host join`'s first half (the identity), as the host runs it, from the namespace."""
    code = ("import sys; from dockovn.deploy.pki import join; "
            "b, _ = join.join_central(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]); "
            "print(b.chassis, b.nb, b.sb)")
    return in_ns(sys.executable, "-c", code, dest, token, ADDR, name, check=False)


def list_dbs(port: int, key: str, cert: str, ca: str) -> bool:
    return in_ns("timeout", "5", "ovsdb-client", "-p", key, "-c", cert, "-C", ca, "list-dbs",
                 f"ssl:{ADDR}:{port}", check=False).returncode == 0


def host_files(dest: str) -> tuple[str, str, str]:
    return tuple(os.path.join(dest, n) for n in ("key.pem", "cert.pem", "ca.pem"))


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_central_made_before_separate_identities_moves_over_with_one_command(central,
                                                                             workdir):
    # The old layout: switchca signed the central's certificate and every host's.
    os.makedirs(central.pki)
    procs.run(["ovs-pki", f"--dir={central.pki}/ca", "init", "--force"], "ovs-pki init",
              timeout=120)
    for name in ("central", "oldhost"):
        subprocess.run(["ovs-pki", "-u", f"--dir={central.pki}/ca", "req+sign", name, "switch",
                        "--force"], cwd=central.pki, check=True, capture_output=True,
                       timeout=120)
    refused = central.dockovn("start", check=False)
    assert refused.returncode != 0 and "renew-identities" in refused.stderr, refused.stderr
    assert not procs.running(os.path.join(central.dir, "ovnnb_db.pid"))

    moved = central.dockovn("renew-identities")
    assert "dockovn host join DOCKOVN-1-" in moved.stdout, moved.stdout
    token = moved.stdout.split("dockovn host join ")[1].split()[0]
    # The central's certificate now comes from the CA hosts trust, which signs no host.
    with open(os.path.join(central.pki, "central-cert.pem"), "rb") as f:
        assert "controllerca" in certs.load(f.read()).issuer.rfc4514_string()

    dest = os.path.join(workdir, "identities-host")
    shutil.rmtree(dest, ignore_errors=True)
    joined = join_as("newhost", token, dest)
    assert joined.returncode == 0, joined.stderr
    assert list_dbs(6642, *host_files(dest))
    # The old host bundle (switchca) is refused, whatever it trusts.
    old = (f"{central.pki}/oldhost-privkey.pem", f"{central.pki}/oldhost-cert.pem",
           f"{central.pki}/ca/switchca/cacert.pem")
    assert not list_dbs(6642, *old)
    assert not list_dbs(6641, old[0], old[1], os.path.join(dest, "ca.pem"))


def test_joins_with_a_wrong_token_are_refused_and_change_nothing(central, workdir):
    central.dockovn("start")
    token = central.token()
    digest, secret = join.parse_token(token)
    dest = os.path.join(workdir, "identities-refused")
    shutil.rmtree(dest, ignore_errors=True)
    cases = {
        "wrong secret": (f"DOCKOVN-1-{digest}-{'0' * 32}", "wrong join secret"),
        "another central's CA": (f"DOCKOVN-1-{'a' * 64}-{secret}", "not the one this token"),
        "not a token": ("hello", "not a dockovn join token"),
    }
    for case, (bad, says) in cases.items():
        done = join_as("h1", bad, dest)
        assert done.returncode != 0 and says in done.stderr, (case, done.stderr)
        assert not os.path.exists(dest), case
    # The control: the right token joins.
    assert join_as("h1", token, dest).returncode == 0
    # A name taken by another key is refused, and says what to do.
    other = join_as("h1", token, dest + "-other")
    assert other.returncode != 0 and "revoke it first" in other.stderr


def test_a_rotated_token_and_a_revoked_certificate_never_get_in(central, workdir):
    central.dockovn("start")
    old_token = central.token()
    dest = os.path.join(workdir, "identities-revoked")
    shutil.rmtree(dest, ignore_errors=True)
    assert join_as("h2", old_token, dest).returncode == 0
    assert list_dbs(6642, *host_files(dest))
    with open(os.path.join(dest, "cert.pem"), "rb") as f:
        first = certs.fingerprint(f.read())

    done = central.dockovn("revoke", "h2")
    assert "h2 revoked" in done.stdout and "gc --forget-host h2" in done.stdout
    new_token = done.stdout.split("(the old one is void): ")[1].split()[0]
    assert new_token != old_token
    assert not list_dbs(6642, *host_files(dest))
    assert not list_dbs(6641, *host_files(dest))
    # The revoked host knew the old token: void.
    again = join_as("h2", old_token, dest)
    assert again.returncode != 0 and "wrong join secret" in again.stderr
    # With the new token it comes back, under a new key (the old one stays revoked).
    assert join_as("h2", new_token, dest).returncode == 0
    with open(os.path.join(dest, "cert.pem"), "rb") as f:
        assert certs.fingerprint(f.read()) != first
    assert list_dbs(6642, *host_files(dest))

    rotated = central.dockovn("join-token", "--rotate", "-q").stdout.strip()
    assert rotated != new_token
    late = join_as("h3", new_token, os.path.join(workdir, "identities-late"))
    assert late.returncode != 0 and "wrong join secret" in late.stderr

    # Every private file of the central is root-only.
    for path in (f"{central.pki}/central-privkey.pem", f"{central.pki}/join-token",
                 f"{central.pki}/ca/controllerca/private/cakey.pem",
                 f"{central.pki}/ca/switchca/private/cakey.pem", f"{dest}/key.pem"):
        assert mode(path) == 0o600, path
