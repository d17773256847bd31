"""NB/SB over SSL: keys from ovs-pki, `dockovn central start --ssl-*` and
`dockovn host setup --ssl-*`, all inside a namespace of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dockovn.deploy import procs

from tests.support import netns, wait

pytestmark = pytest.mark.integration

NS = "dkssl"


def in_ns(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return netns.run_in(NS, *cmd, check=check)


def dockovn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return in_ns(sys.executable, "-m", "dockovn", *args, check=check)


@pytest.fixture
def pki(workdir):
    d = os.path.join(workdir, "pki")
    os.makedirs(d, exist_ok=True)
    procs.run(["ovs-pki", f"--dir={d}/ca", "init", "--force"], "ovs-pki init", timeout=120)
    for name in ("central", "host"):
        subprocess.run(["ovs-pki", f"--dir={d}/ca", "req+sign", name, "switch", "--force"],
                       cwd=d, check=True, capture_output=True, timeout=120)
    return d


@pytest.fixture
def namespace():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    in_ns("ip", "link", "set", "lo", "up")
    yield NS
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def test_central_and_host_over_ssl(pki, namespace, workdir):
    c, h = os.path.join(workdir, "ssl-central"), os.path.join(workdir, "ssl-host")
    ca = f"{pki}/ca/switchca/cacert.pem"
    try:
        dockovn("central", "start", "--rundir", c, "--dbdir", c, "--logdir", c,
                "--nb-port", "16641", "--sb-port", "16642", "--ssl-key",
                f"{pki}/central-privkey.pem", "--ssl-cert", f"{pki}/central-cert.pem",
                "--ssl-ca", ca)
        status = dockovn("central", "status", "--rundir", c, "--nb-port", "16641",
                         "--sb-port", "16642", "--ssl-key", "k", "--ssl-cert", "c",
                         "--ssl-ca", "a")
        assert "pssl:16641:127.0.0.1" in status.stdout
        # Plain TCP is not offered at all.
        assert in_ns("ovn-nbctl", "--timeout=3", "--db=tcp:127.0.0.1:16641", "show",
                     check=False).returncode != 0

        dockovn("host", "setup", "--central", "127.0.0.1", "--encap-ip", "127.0.0.1",
                "--nb", "ssl:127.0.0.1:16641", "--sb", "ssl:127.0.0.1:16642",
                "--hostname", "ssl-host", "--ssl-key", f"{pki}/host-privkey.pem",
                "--ssl-cert", f"{pki}/host-cert.pem", "--ssl-ca", ca,
                "--ovs-rundir", h, "--ovs-dbdir", h, "--ovs-logdir", h,
                "--ovn-rundir", h, "--ovn-logdir", h)
        # ovn-controller registered its chassis over SSL.
        wait.until(lambda: "ssl-host" in in_ns(
            "ovn-sbctl", f"--db=unix:{c}/ovnsb_db.sock", "--columns=hostname", "list",
            "Chassis").stdout, 30, what="chassis registered over SSL")
        # dockovn's own NB client (as the driver and `ls` use it) goes over SSL with the
        # files host setup recorded in OVS.
        in_ns("ovn-nbctl", f"--db=unix:{c}/ovnnb_db.sock", "ls-add", "sslnet", "--",
              "set", "Logical_Switch", "sslnet", 'external_ids:"dockovn:network-id"=sslnet',
              'external_ids:"dockovn:name"=over-ssl', 'external_ids:"dockovn:subnet"=10.9.0.0/24')
        listing = dockovn("ls", "--json", "--ovs-db", f"unix:{h}/db.sock")
        rows = json.loads(listing.stdout)
        assert [r["network"] for r in rows] == ["over-ssl"]
    finally:
        for d, daemons in ((h, ("ovn-controller", "ovs-vswitchd", "ovsdb-server")),
                           (c, ("ovn-northd", "ovnnb_db", "ovnsb_db"))):
            for daemon in daemons:
                procs.stop(os.path.join(d, f"{daemon}.pid"))
