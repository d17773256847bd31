"""Network policy across hosts: a policy made on one host is enforced on the other, for
containers already running and for those started later, and names still resolve."""

from __future__ import annotations

import json
import sys
import threading

import docker as sdk
import pytest

from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, nbctl, network_on,
                                            unique)
from tests.multihost.test_names import lookup
from tests.support import multihost, probes, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost


def policy(mh, host: str, *args: str, check: bool = True) -> str:
    """`dockovn policy ARGS` on ``host``, with that host's own set-up (NB address, certificate)."""
    h = mh.cluster.host(host)
    done = multihost.in_ns(h.ns, sys.executable, "-m", "dockovn", "policy", *args,
                           "--ovs-db", h.ovs_db, check=False, timeout=60)
    assert done.returncode == 0 or not check, done.stderr
    return done.stdout


def started(mh, host: str, net: str, labels: dict[str, str] | None = None,
            endpoint_labels: dict[str, str] | None = None, command: str = "sleep 600",
            ip: str | None = None):
    api = mh.docker(host).api
    endpoint = api.create_endpoint_config(
        ipv4_address=ip,
        driver_opt={f"dockovn.label.{k}": v for k, v in (endpoint_labels or {}).items()})
    made = api.create_container(
        IMAGE, ["sh", "-c", command], name=unique("p"), labels=labels or {},
        host_config=api.create_host_config(network_mode=net),
        networking_config=api.create_networking_config({net: endpoint}))
    c = mh.docker(host).containers.get(made["Id"])
    c.start()
    return c


HTTPD = "mkdir -p /www && echo in > /www/index.html && httpd -f -p 80 -h /www"


def test_a_policy_made_on_one_host_is_enforced_on_the_other(mh):
    net = create_network(mh, "h1", "10.90.60.0/24").name
    network_on(mh, "h2", net)
    made = []
    try:
        db = started(mh, "h2", net, labels={"app": "db"}, command=HTTPD)
        web = started(mh, "h1", net, labels={"app": "web"})
        other = started(mh, "h1", net, labels={"app": "other"})
        made += [db, web, other]
        db_ip = ip_of(db, net)
        probes.settles(other, db_ip, "tcp", 80, want=True, within=20)  # flat before

        policy(mh, "h1", "create", "mh-db", "--network", net, "--select", "app=db",
               "--from", "app=web", "--port", "tcp/80")
        probes.settles(other, db_ip, "tcp", 80, want=False)
        assert probes.reaches(web, db_ip, "tcp", 80)
        # Names are answered by the host, not through the policy: they still resolve.
        assert lookup(web, db.name) == [db_ip]
        # Every host sees the policy and where its containers run.
        listing = json.loads(policy(mh, "h2", "ls", "--json"))
        row = next(r for r in listing if r["name"] == "mh-db")
        assert [(m["container"], m["host"]) for m in row["containers"]] == [(db.name, "h2")]

        # Started on h2 after the policy, labelled by Docker: covered once its labels
        # are learned (a moment after start; see the bench for how long).
        late = started(mh, "h2", net, labels={"app": "db"}, command=HTTPD)
        made.append(late)
        probes.settles(other, ip_of(late, net), "tcp", 80, want=False)
        assert probes.reaches(web, ip_of(late, net), "tcp", 80)

        # Labelled on its endpoint: covered from its first packet, even from h1 knocking
        # all the while it starts.
        target, hits, stop = "10.90.60.200", [], threading.Event()

        def knock():
            while not stop.is_set():
                if probes.reaches(other, target, "tcp", 80, timeout=0.2):
                    hits.append(1)
        knocker = threading.Thread(target=knock)
        knocker.start()
        try:
            first = started(mh, "h2", net, endpoint_labels={"app": "db"}, command=HTTPD,
                            ip=target)
            made.append(first)
            probes.settles(web, target, "tcp", 80, want=True, within=20)
        finally:
            stop.set()
            knocker.join()
        assert hits == [], "a container selected by its endpoint labels was reached"

        policy(mh, "h2", "delete", "mh-db")
        probes.settles(other, db_ip, "tcp", 80, want=True)
    finally:
        policy(mh, "h1", "delete", "mh-db", check=False)
        remove(*made, mh.docker("h1").networks.get(net))
        wait.until(lambda: net not in [n.name for n in mh.docker("h2").networks.list()], 30,
                   what="network gone from h2")


def test_replies_cross_hosts_to_a_container_whose_policy_allows_nothing(mh):
    ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
        sdk.types.IPAMPool(subnet="10.90.62.0/24"), sdk.types.IPAMPool(subnet="fd00:90:62::/64")])
    net = mh.docker("h1").networks.create(unique("net"), driver="dockovn", ipam=ipam,
                                          enable_ipv6=True).name
    network_on(mh, "h2", net)
    made = []
    try:
        server = started(mh, "h2", net, labels={"app": "server"}, command=HTTPD)
        closed = started(mh, "h1", net, labels={"role": "client"}, command=HTTPD)
        made += [server, closed]
        server.reload()
        v6 = server.attrs["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
        probes.settles(closed, ip_of(server, net), "tcp", 80, want=True, within=20)
        policy(mh, "h2", "create", "mh-closed", "--network", net, "--select", "role=client")
        probes.settles(server, ip_of(closed, net), "tcp", 80, want=False)  # nothing gets in
        for address in (ip_of(server, net), v6):  # its own connections: replies pass
            assert probes.reaches(closed, address, "tcp", 80), address
            code, out = closed.exec_run(["ping", "-c", "2", "-w", "4", address])
            assert code == 0, out.decode()
    finally:
        policy(mh, "h1", "delete", "mh-closed", check=False)
        remove(*made, mh.docker("h1").networks.get(net))
        wait.until(lambda: net not in [n.name for n in mh.docker("h2").networks.list()], 30,
                   what="network gone from h2")


def test_a_restarted_driver_puts_its_containers_back_in_their_groups(mh):
    """Memberships lost while a host's driver was down are repaired when it comes back."""
    net = create_network(mh, "h1", "10.90.61.0/24").name
    network_on(mh, "h2", net)
    made = []
    h2 = mh.cluster.host("h2")
    try:
        db = started(mh, "h2", net, labels={"app": "db"}, command=HTTPD)
        other = started(mh, "h1", net)
        made += [db, other]
        policy(mh, "h1", "create", "mh-restart", "--network", net, "--select", "app=db")
        probes.settles(other, ip_of(db, net), "tcp", 80, want=False)
        multihost.sh("kill", "-9", open(h2.pidfile("driver")).read().strip())
        # While h2's driver is down, someone empties the group by hand.
        nbctl(mh, "clear", "Port_Group", "dkpol_mh_restart", "ports")
        probes.settles(other, ip_of(db, net), "tcp", 80, want=True)
        multihost.restart_driver(h2)
        probes.settles(other, ip_of(db, net), "tcp", 80, want=False, within=20)
    finally:
        policy(mh, "h1", "delete", "mh-restart", check=False)
        remove(*made, mh.docker("h1").networks.get(net))
        wait.until(lambda: net not in [n.name for n in mh.docker("h2").networks.list()], 30,
                   what="network gone from h2")
