"""Network policy on one host, through real dockerd, OVN and packets (TCP, UDP, ICMP, ARP)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import docker as sdk
import pytest

from dockovn.network import external_ids
from dockovn.network.policy.model import GROUP_PREFIX
from dockovn.ovn.port_groups import PortGroups

from tests.e2e.conftest import LABEL, NAMES_RESYNC
from tests.e2e.test_overlay_single_host import (IMAGE, endpoint_of, ip_of, network,
                                                pings, run_in, unique, wait_bound)
from tests.support import probes, wait


def dockovn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "dockovn", *args], capture_output=True,
                          text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"dockovn {' '.join(args)}: {done.stderr}{done.stdout}")
    return done


@pytest.fixture
def policies():
    """Names of policies a test made, deleted afterwards even if it fails."""
    made: list[str] = []
    yield made
    if made:
        dockovn("policy", "delete", *made, check=False)


def create(policies: list[str], name: str, *args: str) -> str:
    policies.append(name)
    dockovn("policy", "create", name, *args)
    return name


def labelled(client, cleanup, net, labels: dict[str, str]):
    """A container with Docker labels (`docker run --label`), learned a moment after start."""
    c = client.containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                              name=unique("c"), labels={LABEL: "1", **labels})
    cleanup.append(c)
    return c


def with_endpoint_labels(client, cleanup, net, labels: dict[str, str], command: str,
                         ip: str | None = None):
    """A container whose endpoint carries labels (driver options): known at CreateEndpoint."""
    api = client.api
    endpoint = api.create_endpoint_config(
        ipv4_address=ip, driver_opt={f"dockovn.label.{k}": v for k, v in labels.items()})
    created = api.create_container(
        IMAGE, ["sh", "-c", command], name=unique("c"), labels={LABEL: "1"},
        host_config=api.create_host_config(network_mode=net.name),
        networking_config=api.create_networking_config({net.name: endpoint}))
    c = client.containers.get(created["Id"])
    cleanup.append(c)
    return c


def dual_stack(client, cleanup, v4: str, v6: str):
    ipam = sdk.types.IPAMConfig(pool_configs=[sdk.types.IPAMPool(subnet=v4),
                                              sdk.types.IPAMPool(subnet=v6)])
    net = client.networks.create(unique("net"), driver="dockovn", ipam=ipam, enable_ipv6=True)
    cleanup.append(net)
    return net


def ipv6_of(c, net) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net.name]["GlobalIPv6Address"]


def selected(nb, policy: str, *endpoints: str) -> bool:
    group = PortGroups(nb).get(GROUP_PREFIX + policy.replace("-", "_"))
    return group is not None and set(endpoints) <= group.ports


# -- what a policy allows and what it drops ------------------------------------------------


def test_a_policy_allows_its_sources_and_ports_and_drops_the_rest(client, nb, cleanup, policies):
    net = network(client, cleanup, "10.61.0.0/24")
    db = labelled(client, cleanup, net, {"app": "db"})
    web = labelled(client, cleanup, net, {"app": "web"})
    other = labelled(client, cleanup, net, {"app": "other"})
    wait_bound(nb, *(endpoint_of(c, net) for c in (db, web, other)))
    db_ip = ip_of(db, net)
    servers = [probes.Server(db, "tcp", 5432), probes.Server(db, "udp", 5353),
               probes.Server(db, "tcp", 9999), probes.Server(web, "tcp", 8080)]
    try:
        # Before any policy: one flat network.
        assert probes.reaches(other, db_ip, "tcp", 9999)
        # A policy created after the containers applies to them.
        create(policies, "db-in", "--network", net.name, "--select", "app=db",
               "--from", "app=web", "--port", "tcp/5432", "--port", "udp/5353")
        wait.until(lambda: selected(nb, "db-in", endpoint_of(db, net)), 10,
                   what="db selected by db-in")
        probes.settles(other, db_ip, "tcp", 9999, want=False)
        assert probes.reaches(web, db_ip, "tcp", 5432)
        assert probes.reaches(web, db_ip, "udp", 5353)
        assert not probes.reaches(web, db_ip, "tcp", 9999)     # not an allowed port
        assert not probes.reaches(other, db_ip, "tcp", 5432)   # not an allowed source
        assert not probes.reaches(other, db_ip, "udp", 5353)
        assert not pings(web, db_ip)                           # ICMP is not allowed either
        # ARP passes (it is not IP), and db's own connections are not restricted.
        code, out = run_in(web, f"arping -c 1 -w 3 -I eth0 {db_ip}")
        assert code == 0, out
        assert probes.reaches(db, ip_of(web, net), "tcp", 8080)

        listing = json.loads(dockovn("policy", "ls", "--json").stdout)
        row = next(r for r in listing if r["name"] == "db-in")
        assert [m["container"] for m in row["containers"]] == [db.name]
        assert row["containers"][0]["address"] == db_ip and row["containers"][0]["host"]
        assert row["acl_names"] == ["db-in"]
        shown = dockovn("policy", "show", "db-in").stdout
        assert "allows from: labels app=web" in shown and "tcp/5432, udp/5353" in shown

        # Deleted: the network is flat again.
        assert "deleted" in dockovn("policy", "delete", "db-in").stdout
        probes.settles(other, db_ip, "tcp", 9999, want=True)
        assert "not found" in dockovn("policy", "delete", "db-in").stdout  # idempotent
    finally:
        for s in servers:
            s.stop()


def test_sources_by_network_and_cidr(client, nb, cleanup, policies):
    front = network(client, cleanup, "10.62.0.0/24", options={"dockovn.router": "pol-r"})
    back = network(client, cleanup, "10.63.0.0/24", options={"dockovn.router": "pol-r"})
    db = labelled(client, cleanup, back, {"app": "db"})
    peer = labelled(client, cleanup, back, {"app": "peer"})
    web = labelled(client, cleanup, front, {})
    wait_bound(nb, endpoint_of(db, back), endpoint_of(peer, back), endpoint_of(web, front))
    db_ip = ip_of(db, back)
    server = probes.Server(db, "tcp", 80)
    try:
        create(policies, "from-front", "--network", back.name, "--select", "app=db",
               "--from-network", front.name, "--port", "tcp/80")
        wait.until(lambda: selected(nb, "from-front", endpoint_of(db, back)), 10, what="selected")
        probes.settles(peer, db_ip, "tcp", 80, want=False)
        assert probes.reaches(web, db_ip, "tcp", 80)          # routed in from front
        create(policies, "from-peer", "--network", back.name, "--select", "app=db",
               "--from-cidr", f"{ip_of(peer, back)}/32")
        probes.settles(peer, db_ip, "tcp", 80, want=True)      # any port from that CIDR
    finally:
        server.stop()


# -- fail closed: a container started after its policy ----------------------------------------


def test_a_container_started_after_its_policy_is_covered_from_its_first_packet(
        client, nb, cleanup, policies):
    net = network(client, cleanup, "10.64.0.0/24")
    attacker = labelled(client, cleanup, net, {"app": "attacker"})
    web = labelled(client, cleanup, net, {"app": "web"})
    wait_bound(nb, endpoint_of(attacker, net), endpoint_of(web, net))
    create(policies, "db-only-web", "--network", net.name, "--select", "app=db",
           "--from", "app=web", "--port", "tcp/80")
    target = "10.64.0.50"
    # The attacker knocks on the address every 20 ms, before and while the container starts.
    hits: list[str] = []
    stop = threading.Event()

    def knock():
        while not stop.is_set():
            if probes.reaches(attacker, target, "tcp", 80, timeout=0.2):
                hits.append(time.strftime("%T"))

    db = with_endpoint_labels(client, cleanup, net, {"app": "db"},
                              "mkdir -p /www && echo db > /www/index.html && httpd -f -p 80 -h /www",
                              ip=target)
    knocker = threading.Thread(target=knock)
    knocker.start()
    try:
        db.start()
        wait_bound(nb, endpoint_of(db, net))
        assert selected(nb, "db-only-web", endpoint_of(db, net))
        assert probes.settles(web, target, "tcp", 80, want=True) < 10  # it does serve
        time.sleep(1)
    finally:
        stop.set()
        knocker.join()
    assert hits == [], f"the attacker got in at {hits}"


def test_a_label_and_name_lost_from_nb_come_back_and_the_policy_covers_it_again(
        client, nb, cleanup, policies):
    """Whatever happened to the write (an event missed, NB away, a row edited by hand),
    the driver copies every container's name and labels from Docker again every
    --names-resync seconds: the container is back in its policy within that bound."""
    net = network(client, cleanup, "10.71.0.0/24")
    db = labelled(client, cleanup, net, {"app": "db"})
    other = labelled(client, cleanup, net, {"app": "other"})
    endpoint = endpoint_of(db, net)
    wait_bound(nb, endpoint, endpoint_of(other, net))
    server = probes.Server(db, "tcp", 9000)
    try:
        create(policies, "db-lost", "--network", net.name, "--select", "app=db")
        wait.until(lambda: selected(nb, "db-lost", endpoint), 10, what="db selected")
        probes.settles(other, ip_of(db, net), "tcp", 9000, want=False)
        nb.api.db_remove("Logical_Switch_Port", endpoint, "external_ids",
                         external_ids.LABEL_PREFIX + "app",
                         external_ids.CONTAINER_NAME).execute(check_error=True)
        wait.until(lambda: not selected(nb, "db-lost", endpoint), 10,
                   what="db out of its policy once its label is gone")
        t0 = time.monotonic()
        wait.until(lambda: selected(nb, "db-lost", endpoint), NAMES_RESYNC + 10, step=0.2,
                   what="db back in its policy")
        assert time.monotonic() - t0 <= NAMES_RESYNC + 5
        assert nb.port(endpoint).external_ids[external_ids.CONTAINER_NAME] == db.name
        probes.settles(other, ip_of(db, net), "tcp", 9000, want=False)
    finally:
        server.stop()


def test_endpoint_labels_are_checked(client, nb, cleanup):
    net = network(client, cleanup, "10.65.0.0/24")
    c = with_endpoint_labels(client, cleanup, net, {"a b": "x"}, "sleep 60")
    with pytest.raises(Exception, match="a label is dockovn.label.KEY=VALUE"):
        c.start()
    assert [p for p in nb.ports(net.id) if p.external_ids.get("dockovn:endpoint-id")] == []


def test_a_policy_allowing_nothing_still_passes_replies_to_its_own_connections(
        client, nb, cleanup, policies):
    """Isolated containers still reach out (policies are about ingress): TCP, UDP and
    ping, IPv4 and IPv6; nothing gets in."""
    net = dual_stack(client, cleanup, "10.70.0.0/24", "fd00:70::/64")
    server = labelled(client, cleanup, net, {"app": "server"})
    closed = labelled(client, cleanup, net, {"role": "client"})
    wait_bound(nb, endpoint_of(server, net), endpoint_of(closed, net))
    v4 = ip_of(server, net)
    v6 = ipv6_of(server, net)
    servers = [probes.Server(server, "tcp", 8000), probes.Server(server, "udp", 8001),
               probes.Server(server, "tcp", 8002, ipv6=True),
               probes.Server(closed, "tcp", 8003)]
    try:
        create(policies, "client-closed", "--network", net.name, "--select", "role=client")
        wait.until(lambda: selected(nb, "client-closed", endpoint_of(closed, net)), 10,
                   what="the client selected")
        probes.settles(server, ip_of(closed, net), "tcp", 8003, want=False)  # closed
        assert probes.reaches(closed, v4, "tcp", 8000)    # its own connections: replies pass
        assert probes.reaches(closed, v4, "udp", 8001)
        assert probes.reaches(closed, v6, "tcp", 8002)
        assert pings(closed, v4) and pings(closed, v6)
        assert not pings(server, ip_of(closed, net))      # nothing starts from outside
    finally:
        for s in servers:
            s.stop()


# -- connections across policy changes ------------------------------------------------------


def test_established_connection_survives_unrelated_changes_and_removing_the_allow_cuts_it(
        client, nb, cleanup, policies):
    net = network(client, cleanup, "10.66.0.0/24")
    db = labelled(client, cleanup, net, {"app": "db"})
    web = labelled(client, cleanup, net, {"app": "web"})
    wait_bound(nb, endpoint_of(db, net), endpoint_of(web, net))
    db_ip = ip_of(db, net)
    server = probes.Server(db, "tcp", 7000)
    create(policies, "db-isolated", "--network", net.name, "--select", "app=db")
    create(policies, "db-from-web", "--network", net.name, "--select", "app=db",
           "--from", "app=web", "--port", "tcp/7000")
    wait.until(lambda: selected(nb, "db-from-web", endpoint_of(db, net)), 10, what="selected")
    probes.settles(web, db_ip, "tcp", 7000, want=True)
    conn = probes.Connection(web, db_ip, 7000)
    try:
        assert conn.exchange()
        create(policies, "unrelated", "--select", "app=nothing-here", "--port", "udp/1")
        create(policies, "db-from-cidr", "--network", net.name, "--select", "app=db",
               "--from-cidr", "192.0.2.0/24")
        time.sleep(1)
        assert conn.exchange() and conn.exchange()
        dockovn("policy", "delete", "db-from-web")
        wait.until(lambda: not conn.exchange(), 10, what="the connection cut")
        assert not probes.reaches(web, db_ip, "tcp", 7000)
    finally:
        conn.close()
        server.stop()


# -- what keeps working under a policy -------------------------------------------------------


def test_ipv6_neighbour_discovery_works_under_a_policy(client, nb, cleanup, policies):
    net = dual_stack(client, cleanup, "10.67.0.0/24", "fd00:67::/64")
    db = labelled(client, cleanup, net, {"app": "db"})
    web = labelled(client, cleanup, net, {"app": "web"})
    wait_bound(nb, endpoint_of(db, net), endpoint_of(web, net))
    db_ip6 = ipv6_of(db, net)
    server = probes.Server(db, "tcp", 6000, ipv6=True)
    try:
        create(policies, "v6", "--network", net.name, "--select", "app=db",
               "--from", "app=web", "--port", "tcp/6000")
        wait.until(lambda: selected(nb, "v6", endpoint_of(db, net)), 10, what="selected")
        run_in(web, "ip -6 neigh flush dev eth0")  # so ND has to run under the policy
        probes.settles(web, db_ip6, "tcp", 6000, want=True)
        assert not pings(web, db_ip6)
    finally:
        server.stop()


def _host_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def test_internal_network_has_no_egress_under_a_policy(client, nb, cleanup, policies):
    internal = network(client, cleanup, "10.68.0.0/24", internal=True)
    outside = network(client, cleanup, "10.69.0.0/24")
    a = labelled(client, cleanup, internal, {"app": "db"})
    b = labelled(client, cleanup, outside, {"app": "db"})
    wait_bound(nb, endpoint_of(a, internal), endpoint_of(b, outside))
    create(policies, "all-db", "--select", "app=db", "--from-cidr", "0.0.0.0/0")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        host = _host_address()
        assert probes.reaches(b, host, "tcp", port, timeout=3), \
            "the host should be reachable from a non-internal network"
        assert not probes.reaches(a, host, "tcp", port, timeout=3), \
            "an --internal network reached the host"
    finally:
        listener.close()


# -- logging and bad input ----------------------------------------------------------------


def test_logged_drops_name_the_policy(client, nb, cleanup, policies):
    net = network(client, cleanup, "10.70.0.0/24")
    db = labelled(client, cleanup, net, {"app": "db"})
    other = labelled(client, cleanup, net, {})
    wait_bound(nb, endpoint_of(db, net), endpoint_of(other, net))
    create(policies, "db-logged", "--network", net.name, "--select", "app=db", "--log")
    wait.until(lambda: selected(nb, "db-logged", endpoint_of(db, net)), 10, what="selected")
    log = "/var/log/ovn/ovn-controller.log"
    probes.settles(other, ip_of(db, net), "tcp", 4444, want=False)

    def logged() -> bool:
        probes.reaches(other, ip_of(db, net), "tcp", 4444, timeout=0.3)
        with open(log, errors="replace") as f:
            return any('name="db-logged"' in line and "verdict=drop" in line
                       and ip_of(db, net) in line for line in f)
    wait.until(logged, 15, what="a drop logged with the policy's name")


@pytest.mark.parametrize("args,why", [
    (["--network", "no-such-net"], "no dockovn network 'no-such-net'"),
    (["--select", "app="], "empty value"),
    (["--port", "tcp/99999"], "ports are 1-65535"),
    (["--port", "gre"], "protocol must be one of"),
    (["--from-cidr", "10.0.0.1/8"], "has host bits set"),
    (["--from-network", "nope"], "no dockovn network 'nope'"),
])
def test_bad_input_is_refused_and_writes_nothing(stack, nb, args, why):
    before = {g.name for g in PortGroups(nb).all()}
    done = dockovn("policy", "create", "bad-one", *args, check=False)
    assert done.returncode != 0 and why in done.stderr, done.stderr
    assert {g.name for g in PortGroups(nb).all()} == before


def test_a_duplicate_name_is_refused(stack, nb, policies):
    create(policies, "twice", "--select", "app=x")
    done = dockovn("policy", "create", "twice", "--select", "app=y", check=False)
    assert done.returncode != 0 and "policy twice exists already" in done.stderr
    bad = dockovn("policy", "create", "Bad_Name", check=False)
    assert bad.returncode != 0 and "policy name 'Bad_Name'" in bad.stderr


def test_a_name_that_would_take_another_policys_source_group_is_refused(stack, nb, policies):
    """Policy x's sources are port group dkpol_x_from: policy x-from would be the same
    group, and the two would fight over its members."""
    create(policies, "twin", "--select", "app=x", "--from", "app=y")
    before = {g.name: g.ports for g in PortGroups(nb).all()}
    done = dockovn("policy", "create", "twin-from", "--select", "app=z", check=False)
    assert done.returncode != 0 and "may not end in -from" in done.stderr, done.stderr
    assert {g.name: g.ports for g in PortGroups(nb).all()} == before
