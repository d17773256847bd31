"""Identities on the harness (hosts joined with `dockovn host join`): a server holding a
host's certificate is refused by the other host's driver and ovn-controller; key files
are root-only; a revoked host is cut off at once while the other keeps working, knows
no token that works, and comes back with the new one under a new key."""

from __future__ import annotations

import os
import stat
import sys
import time

import pytest

from dockovn.deploy.pki import certs

from tests.multihost.test_multihost import create_network, ip_of, network_on, pings, run
from tests.multihost.test_security import sbctl_as
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

ROGUE_PORT = 16640


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def controller_status(host) -> str:
    return multihost.in_ns(host.ns, "env", f"OVN_RUNDIR={host.dir}", "ovn-appctl", "-t",
                           "ovn-controller", "connection-status", check=False).stdout.strip()


@pytest.fixture
def rogue_central(mh):
    """NB and SB served from h1 with h1's own key and certificate: what a stolen host
    key lets anyone run."""
    h1 = mh.cluster.host("h1")
    d = os.path.join(h1.dir, "rogue")
    os.makedirs(d, exist_ok=True)
    for db, schema in (("nb", "ovn-nb"), ("sb", "ovn-sb")):
        if not os.path.exists(f"{d}/{db}.db"):
            multihost.sh("ovsdb-tool", "create", f"{d}/{db}.db",
                         f"/usr/share/ovn/{schema}.ovsschema")
    multihost.in_ns(h1.ns, "ovsdb-server", f"{d}/nb.db", f"{d}/sb.db", "--detach",
                    "--no-chdir", f"--pidfile={d}/rogue.pid", f"--log-file={d}/rogue.log",
                    f"--unixctl={d}/rogue.ctl", f"--remote=pssl:{ROGUE_PORT}:{h1.ip}",
                    f"--private-key={h1.pki}/key.pem", f"--certificate={h1.pki}/cert.pem",
                    # accepting h2 as a client: host certificates are public (in SB)
                    f"--ca-cert={mh.cluster.host('h2').pki}/cert.pem")
    yield f"ssl:{h1.ip}:{ROGUE_PORT}"
    multihost.procs.stop(f"{d}/rogue.pid")


def test_a_server_with_a_hosts_certificate_is_refused_by_the_other_host(mh, rogue_central):
    h2 = mh.cluster.host("h2")
    key, cert, ca = (os.path.join(h2.pki, n) for n in ("key.pem", "cert.pem", "ca.pem"))
    # The control: whoever trusts h1's certificate gets answers from the rogue server.
    control = multihost.in_ns(h2.ns, "ovsdb-client", "-p", key, "-c", cert, "-C",
                              os.path.join(mh.cluster.host("h1").pki, "cert.pem"),
                              "list-dbs", rogue_central, check=False)
    assert "OVN_Northbound" in control.stdout, control.stderr
    # h2's driver code (dockovn's NB client with h2's files) gets no session.
    code = ("import sys; from dockovn.ovn.nb import Northbound; from dockovn.ovsdb import "
            "SslFiles; Northbound(sys.argv[1], timeout=5, ssl=SslFiles(*sys.argv[2:5]))")
    driver = multihost.in_ns(h2.ns, sys.executable, "-c", code, rogue_central, key, cert, ca,
                             check=False)
    assert driver.returncode != 0, driver.stdout
    # h2's ovn-controller, pointed at it, never connects; back on the central, it does.
    before = h2.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-remote").strip().strip('"')
    h2.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-remote={rogue_central}")
    try:
        wait.until(lambda: controller_status(h2) == "not connected", 15,
                   what="h2's ovn-controller leaving the central")
        for _ in range(6):
            assert controller_status(h2) == "not connected"
            time.sleep(1)
    finally:
        h2.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-remote={before}")
    wait.until(lambda: controller_status(h2) == "connected", 30,
               what="h2's ovn-controller back on the central")
    with open(os.path.join(mh.cluster.host("h1").dir, "rogue", "rogue.log")) as f:
        assert "unknown ca" in f.read()  # refused by the TLS handshake, by h2


def test_every_key_file_is_root_only(mh):
    for host in mh.cluster.hosts:
        assert mode(os.path.join(host.pki, "key.pem")) == 0o600
        assert mode(host.pki) == 0o700
    pki = os.path.join(mh.cluster.central_dir, "pki")
    for path in ("central-privkey.pem", "join-token", "ca/controllerca/private/cakey.pem",
                 "ca/switchca/private/cakey.pem"):
        assert mode(os.path.join(pki, path)) == 0o600, path


def test_a_revoked_host_is_cut_off_while_the_other_keeps_working(mh):
    c = mh.cluster
    h1, h2 = c.host("h1"), c.host("h2")
    old_token = multihost.join_token(c)
    with open(os.path.join(h2.pki, "cert.pem"), "rb") as f:
        old_cert = certs.fingerprint(f.read())
    net = create_network(mh, "h1", "10.90.33.0/24")
    network_on(mh, "h2", net.name)
    made = [run(mh, "h1", net.name)]
    healthy = False
    try:
        made.append(run(mh, "h2", net.name))
        assert pings(made[1], ip_of(made[0], net.name))

        done = multihost.dockovn(c.central_ns, "central", "revoke", "h2",
                                 *multihost.central_args(c))
        new_token = done.stdout.split("(the old one is void): ")[1].split()[0]
        # Cut off at once: no SB session for h2's certificate, its controller dropped.
        assert sbctl_as(h2, "list", "Chassis").returncode != 0
        wait.until(lambda: controller_status(h2) == "not connected", 15,
                   what="h2's ovn-controller cut off")
        assert "h2" not in sbctl_as(h1, "--columns=name", "list", "Chassis").stdout
        # h1 keeps working: a new container there reaches the first one.
        made.append(run(mh, "h1", net.name))
        assert pings(made[2], ip_of(made[0], net.name))
        # h2 knew the old token: it joins with it no more, and nothing changes on h2.
        config = h2.vsctl("get", "Open_vSwitch", ".", "external_ids")
        refused = multihost.in_ns(h2.ns, sys.executable, "-m", "dockovn",
                                  *multihost.join_args(c, h2, old_token), check=False)
        assert refused.returncode != 0 and "wrong join secret" in refused.stderr
        assert h2.vsctl("get", "Open_vSwitch", ".", "external_ids") == config

        # Brought back by the operator with the new token: a new key, and it works.
        multihost.dockovn(h2.ns, *multihost.join_args(c, h2, new_token))
        with open(os.path.join(h2.pki, "cert.pem"), "rb") as f:
            assert certs.fingerprint(f.read()) != old_cert
        wait.until(lambda: controller_status(h2) == "connected", 30,
                   what="h2's ovn-controller back")
        back = run(mh, "h2", net.name)
        made.append(back)
        assert wait.until(lambda: pings(back, ip_of(made[0], net.name)), 60, step=2,
                          what="a new container on h2 reaching h1's")
        healthy = True
    finally:
        try:
            remove(*made, net)
        finally:
            if not healthy:  # the next modules need both hosts joined
                mh.restart()
