"""The central as the harness sets it up, the documented way (SSL, a bundle per host):
containers cannot talk OVSDB to it, and one host's certificate cannot touch another
host's Southbound rows."""

from __future__ import annotations

import json
import os

import pytest

from tests.multihost.test_multihost import create_network, run, sh_in, unique
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

LIST_DBS = json.dumps({"id": 1, "method": "list_dbs", "params": []})
CONTROL_PORT = 16699  # a plain-TCP ovsdb-server the test starts, to prove the probe works


def probe(container, port: int) -> str:
    """What a container gets back for an OVSDB list_dbs sent to the central's ``port``."""
    return sh_in(container, f"echo '{LIST_DBS}' | timeout 5 nc {multihost.CENTRAL_IP} {port}"
                            " 2>&1; true")[1]


@pytest.fixture
def plain_tcp_ovsdb(mh):
    """An unauthenticated OVSDB listener next to the central: what NB and SB were before."""
    c = mh.cluster
    d = os.path.join(c.central_dir, "control")
    os.makedirs(d, exist_ok=True)
    multihost.sh("ovsdb-tool", "create", f"{d}/nb.db", "/usr/share/ovn/ovn-nb.ovsschema")
    multihost.in_ns(c.central_ns, "ovsdb-server", f"{d}/nb.db", "--detach", "--no-chdir",
                    f"--pidfile={d}/control.pid", f"--log-file={d}/control.log",
                    f"--remote=ptcp:{CONTROL_PORT}:{multihost.CENTRAL_IP}",
                    f"--unixctl={d}/control.ctl")
    yield
    multihost.procs.stop(f"{d}/control.pid")


def test_a_container_gets_no_ovsdb_session_from_nb_or_sb(mh, plain_tcp_ovsdb):
    net = create_network(mh, "h1", "10.90.30.0/24")
    c = run(mh, "h1", net.name)
    try:
        # The control: the container reaches the central's address, and an open OVSDB
        # there answers list_dbs (this is what NB and SB answered before SSL).
        answered = wait.until(lambda: "OVN_Northbound" in probe(c, CONTROL_PORT) or None, 20,
                              what="the container reaching the plain-TCP control listener")
        assert answered
        for port, db in ((6641, "OVN_Northbound"), (6642, "OVN_Southbound")):
            out = probe(c, port)
            assert "can't connect" not in out, out  # reachable: refused by TLS, not routing
            assert db not in out and "result" not in out, out
    finally:
        remove(c, net)


def sbctl_as(host, *args: str):
    """ovn-sbctl from ``host``'s namespace with the certificate its bundle installed."""
    return multihost.in_ns(
        host.ns, "ovn-sbctl", "--timeout=10", f"--db=ssl:{multihost.CENTRAL_IP}:6642",
        "-p", os.path.join(host.pki, "key.pem"), "-c", os.path.join(host.pki, "cert.pem"),
        "-C", os.path.join(host.pki, "ca.pem"), *args, check=False)


def test_a_hosts_certificate_cannot_change_another_chassis(mh):
    h1, h2 = mh.cluster.host("h1"), mh.cluster.host("h2")
    marker = unique("mark")
    # The control: h1's certificate may change h1's own chassis (so a refusal below is
    # OVN's role-based access, not a broken connection).
    own = sbctl_as(h1, "set", "Chassis", "h1", f"external_ids:dockovn-test={marker}")
    assert own.returncode == 0, own.stderr
    try:
        for args in (("set", "Chassis", "h2", f"external_ids:dockovn-test={marker}"),
                     ("chassis-del", "h2"),
                     ("set", "Encap", json.loads(sbctl_as(
                         h1, "--format=json", "--columns=_uuid", "find", "Encap",
                         "chassis_name=h2").stdout)["data"][0][0][1], "ip=6.6.6.6")):
            done = sbctl_as(h1, *args)
            assert done.returncode != 0, args
            assert "permission error" in done.stderr, done.stderr
        h2_row = sbctl_as(h2, "--columns=name,external_ids,encaps", "list", "Chassis", "h2")
        assert "h2" in h2_row.stdout and marker not in h2_row.stdout
        encaps = sbctl_as(h2, "--columns=ip", "find", "Encap", "chassis_name=h2").stdout
        assert h2.ip in encaps and "6.6.6.6" not in encaps
    finally:
        sbctl_as(h1, "remove", "Chassis", "h1", "external_ids", "dockovn-test")
