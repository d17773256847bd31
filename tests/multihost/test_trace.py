"""`dockovn trace` across hosts: its verdict agrees with a real probe, and it says why.

Each test traces from h1 (where the source runs, so this host's OpenFlow tables are
traced too) and undoes its fault before it ends.
"""

from __future__ import annotations

import json
import sys

import pytest

from dockovn.deploy import procs

from tests.multihost.test_multihost import create_network, ip_of, network_on, pings, run
from tests.multihost.test_policy import started
from tests.support import multihost, probes, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost


def trace(mh, host: str, *args: str) -> dict:
    """`dockovn trace ... --json` in ``host``'s namespace, with that host's OVS."""
    h = mh.cluster.host(host)

    def run_it():
        done = multihost.in_ns(h.ns, sys.executable, "-m", "dockovn", "trace", *args,
                               "--json", "--ovs-db", h.ovs_db, check=False, timeout=120)
        # Container names reach NB from Docker's events a moment after the start.
        return None if "no container of that name" in done.stderr else done

    done = wait.until(run_it, 15, step=0.5, what=f"trace {' '.join(args)}")
    assert done.returncode in (0, 1), done.stderr + done.stdout  # 2: no trace made
    report = json.loads(done.stdout)
    assert report["through"] == (done.returncode == 0)
    return report


def policy(mh, host: str, *args: str) -> None:
    h = mh.cluster.host(host)
    multihost.dockovn(h.ns, "policy", *args, "--ovs-db", h.ovs_db)


def gateway(mh, host: str, net) -> str:
    config = mh.docker(host).networks.get(net.id).attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or config["Subnet"].rsplit(".", 1)[0] + ".1"


def restart_controller(mh, host: str) -> None:
    """ovn-controller back the way the harness started it: `dockovn host join` again
    (idempotent: it starts only what is not running)."""
    multihost.join_again(mh.cluster, mh.cluster.host(host))


def test_a_reachable_pair_gets_through_as_a_probe_does(mh):
    net = create_network(mh, "h1", "10.90.86.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    server = None
    try:
        server = probes.Server(b, "tcp", 8080)
        probes.settles(a, ip_of(b, net.name), "tcp", 8080, want=True, within=20)

        report = trace(mh, "h1", a.name, b.name, "--tcp", "8080")
        assert (report["through"], report["verdict"]) == (True, "through"), report
        assert report["path"] == "same-network"
        assert report["source"]["bound_to"] == "h1" and report["destination"]["bound_to"] == "h2"
        assert report["chassis"]["h1"]["answers"] and report["chassis"]["h2"]["answers"]
        # The source is here: this host's OpenFlow tables send it into a tunnel to h2.
        flows = report["openflow"]
        assert flows is not None, report["openflow_skipped"]
        assert mh.cluster.host("h2").ip in flows["tunnel_to"], flows["datapath_actions"]

        # By address, ICMP: a ping agrees.
        by_ip = trace(mh, "h1", ip_of(a, net.name), ip_of(b, net.name), "--icmp")
        assert by_ip["through"] and pings(a, ip_of(b, net.name))
        # The other way, traced from h1: no OpenFlow trace (the source is on h2).
        back = trace(mh, "h1", b.name, a.name)
        assert back["through"] and back["openflow"] is None
        assert "not on this host" in back["openflow_skipped"]
    finally:
        if server:
            server.stop()
        remove(a, b, net)


def test_isolated_networks_are_named_and_a_probe_fails(mh):
    red = create_network(mh, "h1", "10.90.87.0/24")
    blue = create_network(mh, "h1", "10.90.88.0/24")
    network_on(mh, "h2", blue.name)
    a, b = run(mh, "h1", red.name), run(mh, "h2", blue.name)
    try:
        # Send the probe into OVN (the container has no route to blue): via red's gateway.
        multihost.sh("nsenter", "-t", str(probes.pid_of(a)), "-n", "ip", "route", "add",
                     "10.90.88.0/24", "via", gateway(mh, "h1", red))
        report = trace(mh, "h1", a.name, b.name, "--icmp")
        assert (report["through"], report["verdict"]) == (False, "isolated"), report
        assert report["reason"].startswith(
            f"networks isolated: {red.name} and {blue.name} share no router"), report["reason"]
        assert report["path"] == "isolated"
        assert not pings(a, ip_of(b, blue.name))
    finally:
        remove(a, b, red, blue)


def test_a_stopped_ovn_controller_on_the_destinations_host(mh):
    net = create_network(mh, "h1", "10.90.89.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    made = [a, b]
    h2 = mh.cluster.host("h2")
    try:
        assert wait.until(lambda: pings(a, ip_of(b, net.name), 1, 2), 20)
        procs.stop(h2.pidfile("ovn-controller"))

        # b was bound before: h2 keeps the flows it has. The trace says h2 is silent, and
        # its verdict is what a ping finds.
        report = trace(mh, "h1", a.name, b.name, "--icmp", "--wait", "3")
        assert report["chassis"]["h2"]["answers"] is False, report
        assert any("ovn-controller on h2 did not answer" in n for n in report["notes"]), report
        assert report["through"] == pings(a, ip_of(b, net.name)), report

        # A container started on h2 now is never bound: not through, and why.
        c = run(mh, "h2", net.name)
        made.append(c)
        report = trace(mh, "h1", a.name, c.name, "--icmp", "--wait", "3")
        assert (report["through"], report["verdict"]) == \
            (False, "controller-not-answering"), report
        assert "ovn-controller on h2 does not answer" in report["reason"]
        assert report["destination"]["bound_to"] is None
        assert not pings(a, ip_of(c, net.name))

        restart_controller(mh, "h2")
        # Back: it binds c, and trace and ping agree again.
        assert wait.until(lambda: trace(mh, "h1", a.name, c.name)["through"], 30,
                          step=1, what="c bound once ovn-controller is back")
        assert wait.until(lambda: pings(a, ip_of(c, net.name), 1, 2), 20)
    finally:
        if not procs.running(h2.pidfile("ovn-controller"), "ovn-controller"):
            restart_controller(mh, "h2")
        remove(*made, net)


def test_a_port_denied_by_a_policy_names_the_policy(mh):
    net = create_network(mh, "h1", "10.90.85.0/24").name
    network_on(mh, "h2", net)
    made, servers = [], []
    try:
        # Endpoint labels: the policy applies from the containers' first packet.
        db = started(mh, "h2", net, endpoint_labels={"app": "db"})
        web = started(mh, "h1", net, endpoint_labels={"app": "web"})
        made += [db, web]
        servers += [probes.Server(db, "tcp", 80), probes.Server(db, "tcp", 81)]
        db_ip = ip_of(db, net)
        probes.settles(web, db_ip, "tcp", 81, want=True, within=20)

        policy(mh, "h1", "create", "mh-trace", "--network", net, "--select", "app=db",
               "--from", "app=web", "--port", "tcp/80")
        probes.settles(web, db_ip, "tcp", 81, want=False, within=20)

        denied = trace(mh, "h1", web.name, db.name, "--tcp", "81")
        assert denied["through"] == probes.reaches(web, db_ip, "tcp", 81)
        assert (denied["through"], denied["verdict"], denied["policy"]) == \
            (False, "policy", "mh-trace"), denied
        assert denied["reason"].startswith("dropped by policy mh-trace"), denied["reason"]
        assert denied["destination_policies"] == ["mh-trace"]

        allowed = trace(mh, "h1", web.name, db.name, "--tcp", "80")
        assert allowed["through"], allowed
        assert probes.reaches(web, db_ip, "tcp", 80)
    finally:
        for s in servers:
            s.stop()
        multihost.dockovn(mh.cluster.host("h1").ns, "policy", "delete", "mh-trace",
                          "--ovs-db", mh.cluster.host("h1").ovs_db)
        remove(*made, mh.docker("h1").networks.get(net))
        wait.until(lambda: net not in [n.name for n in mh.docker("h2").networks.list()], 30,
                   what="network gone from h2")
