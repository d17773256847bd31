"""`dockovn doctor` against a fault matrix on the two-host harness.

A healthy cluster gives no problem on either host; each injected fault (ovn-controller
stopped, a duplicate system-id, a wrong tunnel address, a blocked tunnel, an unbound
port, the driver down) gives a failure of its own check and nothing else. Each fault is
undone at the end of its test, and doctor must find the host healthy again: the harness
is shared with the tests after these.

The blocked tunnel is a drop of UDP 6081 on h2's underlay bridge (br-phy). On the
userspace datapath the tunnel packets enter and leave a host through OVS (AF_PACKET on
the uplink), below netfilter: an iptables rule in h2's namespace would not block them.
"""

from __future__ import annotations

import json
import sys

import pytest

from dockovn.deploy import procs
from dockovn.diagnose.doctor.checkup import CHECKS

from tests.multihost.test_multihost import (create_network, ip_of, nbctl, network_on, pings,
                                            run, sbctl)
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

EVERY_CHECK = {check for check, *_rest in CHECKS}
DROP_GENEVE = "priority=200,udp,tp_dst=6081"


def doctor(mh, host: str) -> tuple[int, list[dict]]:
    """`dockovn doctor --json` inside ``host``'s namespace, pointed at its own daemons."""
    h = mh.cluster.host(host)
    done = multihost.in_ns(h.ns, sys.executable, "-m", "dockovn", "doctor", "--json",
                           "--ovs-db", h.ovs_db, "--ovs-rundir", h.dir, "--ovn-rundir", h.dir,
                           "--docker-host", h.docker_host, "--plugin-dir", h.plugins,
                           check=False, timeout=120)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"doctor on {host} printed no JSON (exit {done.returncode}): "
                             f"{done.stderr[-3000:]}") from None


def problems(findings: list[dict]) -> dict[str, list[str]]:
    """check -> "summary -> action" of every warning and failure."""
    out: dict[str, list[str]] = {}
    for f in findings:
        if f["severity"] in ("warn", "fail"):
            out.setdefault(f["check"], []).append(f"{f['summary']} -> {f['action']}")
    return out


def healthy(mh, host: str, timeout: float = 90) -> list[dict]:
    """Wait until doctor finds nothing wrong on ``host`` (a fault's after-effects, such as
    a port being bound again, take a moment); its findings."""
    last: dict = {}

    def clean() -> bool:
        last["code"], last["found"] = doctor(mh, host)
        return last["code"] == 0 and not problems(last["found"])

    try:
        wait.until(clean, timeout, step=1, what=f"doctor finding {host} healthy")
    except AssertionError:
        raise AssertionError(f"{host} not healthy after {timeout}s (exit {last.get('code')}): "
                             f"{problems(last.get('found', []))}") from None
    return last["found"]


def set_up_again(mh, host) -> None:
    """`dockovn host join` exactly as the harness ran it (tests/support/multihost._host):
    it sets back the system-id and tunnel address and starts ovn-controller if stopped."""
    multihost.join_again(mh.cluster, host)


@pytest.fixture(scope="module")
def pair(mh):
    """A network on both hosts with a container on each that reach each other, so every
    check has something to look at: tunnels in use, ports bound on both chassis."""
    net = create_network(mh, "h1", "10.90.77.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    assert wait.until(lambda: pings(a, ip_of(b, net.name), count=1, wait_s=2), 30,
                      what="the first ping from h1 to h2")
    yield net.name, a, b
    remove(a, b, net)


def test_a_healthy_cluster_gives_no_finding_and_every_check_runs(mh, pair):
    for host, other in (("h1", "h2"), ("h2", "h1")):
        found = healthy(mh, host, timeout=60)
        assert {f["check"] for f in found if f["severity"] == "ok"} == EVERY_CHECK, found
        assert not [f for f in found if f["severity"] == "skip"], found
        tunnels = [f for f in found if f["check"] == "tunnel"]
        assert [f["subject"] for f in tunnels] == [other], tunnels


def test_ovn_controller_stopped(mh, pair):
    h1 = mh.cluster.host("h1")
    assert procs.stop(h1.pidfile("ovn-controller"))
    try:
        code, found = doctor(mh, "h1")
        assert code == 1
        assert set(problems(found)) == {"ovn-controller"}, problems(found)
        assert "not running" in problems(found)["ovn-controller"][0]
    finally:
        set_up_again(mh, h1)
    healthy(mh, "h1")


def test_duplicate_system_id(mh, pair):
    h2 = mh.cluster.host("h2")
    h2.vsctl("set", "Open_vSwitch", ".", "external_ids:system-id=h1")  # a cloned machine
    try:
        code, found = doctor(mh, "h2")
        assert code == 1
        assert set(problems(found)) == {"chassis"}, problems(found)
        assert any("registered by another host: h1" in p for p in problems(found)["chassis"])
    finally:
        set_up_again(mh, h2)  # its own name again
    healthy(mh, "h2")
    healthy(mh, "h1")


def test_wrong_tunnel_address(mh, pair):
    h1 = mh.cluster.host("h1")
    wrong = f"{multihost.UNDERLAY}.99"  # on no interface of h1

    def registered(ip: str) -> bool:
        return ip in sbctl(mh, "--columns=ip", "find", "Encap", "chassis_name=h1")

    h1.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-encap-ip={wrong}")
    try:
        wait.until(lambda: registered(wrong), 20, what="ovn-controller publishing it")
        code, found = doctor(mh, "h1")
        assert code == 1
        assert set(problems(found)) == {"encap"}, problems(found)
        assert wrong in problems(found)["encap"][0]
    finally:
        set_up_again(mh, h1)
        wait.until(lambda: registered(h1.ip), 20, what="h1's own address back in SB")
    healthy(mh, "h1")
    healthy(mh, "h2")


def test_blocked_tunnel(mh, pair):
    net, a, b = pair
    h2 = mh.cluster.host("h2")
    br_phy = f"unix:{h2.dir}/br-phy.mgmt"
    multihost.in_ns(h2.ns, "ovs-ofctl", "add-flow", br_phy, f"{DROP_GENEVE},actions=drop")
    try:
        # Traffic from h1 to h2 only: h2 drops it on arrival, so nothing comes back.
        a.exec_run(["ping", "-q", "-i", "0.2", "-w", "90", ip_of(b, net)], detach=True)
        code, found = doctor(mh, "h1")
        assert code == 1
        assert set(problems(found)) == {"tunnel"}, problems(found)
        assert any("h2" in p and "received none" in p for p in problems(found)["tunnel"])
        # h2 receives nothing and so sends nothing: nothing else to report there.
        _, there = doctor(mh, "h2")
        assert set(problems(there)) <= {"tunnel"}, problems(there)
    finally:
        a.exec_run(["killall", "ping"])
        multihost.in_ns(h2.ns, "ovs-ofctl", "--strict", "del-flows", br_phy, DROP_GENEVE)
    assert wait.until(lambda: pings(a, ip_of(b, net), count=1, wait_s=2), 20,
                      what="h1 reaching h2 again")
    healthy(mh, "h1")
    healthy(mh, "h2")


def test_unbound_port(mh, pair):
    net, a, _ = pair
    h1 = mh.cluster.host("h1")
    a.reload()
    endpoint = a.attrs["NetworkSettings"]["Networks"][net]["EndpointID"]
    port = h1.vsctl("--bare", "--columns=name", "find", "Interface",
                    f"external_ids:dockovn-endpoint={endpoint}").strip()
    assert port

    def up() -> str:
        return nbctl(mh, "get", "Logical_Switch_Port", endpoint, "up").strip()

    h1.vsctl("set", "Interface", port, "external_ids:iface-id=doctor-unbound")
    try:
        wait.until(lambda: up() == "false", 20, what="ovn-controller releasing the port")
        code, found = doctor(mh, "h1")
        assert code == 1
        assert set(problems(found)) == {"endpoints"}, problems(found)
        (finding,) = problems(found)["endpoints"]
        assert a.name in finding and "iface-id" in finding and endpoint in finding
    finally:
        h1.vsctl("set", "Interface", port, f"external_ids:iface-id={endpoint}")
    wait.until(lambda: up() == "true", 20, what="the port bound again")
    healthy(mh, "h1")


def test_driver_down(mh, pair):
    h1 = mh.cluster.host("h1")
    pid = procs.read_pid(h1.pidfile("driver"))
    multihost.sh("kill", "-9", str(pid))
    wait.until(lambda: not procs.alive(pid), 10, what="the driver gone")
    try:
        code, found = doctor(mh, "h1")
        assert code == 1
        assert set(problems(found)) == {"driver"}, problems(found)
    finally:
        multihost.restart_driver(h1)
    healthy(mh, "h1")
