"""Egress and published ports through each container's own host (network/gateway):
one endpoint per container, its traffic out with its host's address, `-p` from outside,
from the host and from another host, `--internal` without a way out, networks kept
apart, and a network made before (no localport) still served by Docker's gwbridge.

"The outside" is a namespace on the underlay (tests/support/outside.py) whose server
answers with the source address each request arrived from.
"""

from __future__ import annotations

import re
import sys

import docker as sdk
import pytest

from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, nbctl, network_on,
                                            pings, run, sh_in, unique)
from tests.support import multihost, wait
from tests.support.docker_objects import remove
from tests.support.outside import Outside

pytestmark = pytest.mark.multihost

# a link-local gateway of the network's own (network/gateway), through eth0
DEFAULT_ROUTE = re.compile(r"^default via 169\.254\.1[0-6]\d\.\d+ dev eth0", re.M)


@pytest.fixture(scope="module")
def outside(mh):
    o = Outside(mh.cluster).start()
    yield o
    o.stop()


def seen_from(c, outside: Outside) -> str | None:
    code, out = sh_in(c, f"timeout 8 wget -q -O - {outside.url()}")
    return out.strip() if code == 0 else None


def iptables(host: multihost.Host) -> str:
    return multihost.in_ns(host.ns, "iptables-save").stdout


def test_containers_leave_through_their_own_host_with_its_address(mh, outside):
    net = create_network(mh, "h1", "10.92.1.0/24", name=unique("eg"))
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    try:
        for c, host in ((a, "h1"), (b, "h2")):
            want = mh.cluster.host(host).ip
            assert wait.until(lambda c=c: seen_from(c, outside) == want, 20, step=1,
                              what=f"{c.name} reaching the outside from {want}")
            c.reload()
            assert list(c.attrs["NetworkSettings"]["Networks"]) == [net.name], \
                "one endpoint: no docker_gwbridge"
            _, links = sh_in(c, "ip -o link")
            assert "eth1" not in links
            _, routes = sh_in(c, "ip route")
            assert DEFAULT_ROUTE.search(routes), routes
        # across hosts as before, and the host's gateway port on each host
        assert wait.until(lambda: pings(a, ip_of(b, net.name), 1, 2), 30, step=1,
                          what="a ping across hosts")
        for host in mh.cluster.hosts:  # named after the switch: the same on every host
            assert f"dgw{net.id[:12]}" in host.vsctl("list-ports", "br-int").split()
        assert "-j MASQUERADE" in iptables(mh.cluster.host("h1"))
    finally:
        remove(a, b, net)
    # the network gone from both hosts: so are its gateway ports and rules
    for host in mh.cluster.hosts:
        assert wait.until(lambda host=host: not [p for p in host.vsctl("list-ports", "br-int")
                                                 .split() if p.startswith("dgw")], 20,
                          what=f"{host.name}'s gateway ports gone")
        assert "10.92.1.0/24" not in iptables(host)


def test_a_routed_network_keeps_its_source_address(mh, outside):
    net = create_network_with(mh, "h1", "10.92.2.0/24", {"dockovn.nat": "false"})
    a = run(mh, "h1", net.name)
    try:
        outside.route("10.92.2.0/24", mh.cluster.host("h1").ip)
        own = ip_of(a, net.name)
        assert wait.until(lambda: seen_from(a, outside) == own, 20, step=1,
                          what="the outside seeing the container's own address")
    finally:
        outside.run("ip", "route", "del", "10.92.2.0/24")
        remove(a, net)


def create_network_with(mh, host: str, subnet: str, options: dict[str, str], **kw):
    ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    return mh.docker(host).networks.create(unique("eg"), driver="dockovn", ipam=ipam,
                                           options=options, **kw)


def rx_packets(c) -> int:
    return int(sh_in(c, "cat /sys/class/net/eth0/statistics/rx_packets")[1])


def test_published_ports_reach_the_container_from_outside_the_host_and_another_host(
        mh, outside):
    net = create_network(mh, "h1", "10.92.3.0/24", name=unique("eg"))
    network_on(mh, "h2", net.name)
    h1 = mh.cluster.host("h1")
    web = mh.docker("h1").containers.run(
        IMAGE, ["sh", "-c", "mkdir /www && echo hello-published > /www/index.html && "
                            "exec httpd -f -p 80 -h /www"],
        detach=True, network=net.name, name=unique("web"),
        ports={"80/tcp": 8080, "5353/udp": 5353})
    other_net = create_network(mh, "h2", "10.92.4.0/24", name=unique("eg"))
    client = run(mh, "h2", other_net.name)
    url = f"http://{h1.ip}:8080/"
    try:
        assert wait.until(lambda: outside.fetch(url) == "hello-published\n", 20, step=1,
                          what="the published port from outside")
        from_host = multihost.in_ns(h1.ns, "timeout", "5", "busybox", "wget", "-q", "-O", "-",
                                    url, check=False)
        assert from_host.stdout == "hello-published\n", from_host.stderr
        code, body = sh_in(client, f"timeout 8 wget -q -O - {url}")
        assert (code, body) == (0, "hello-published\n"), "from a container on another host"
        # UDP: datagrams to the published port arrive in the container (none listens: the
        # count of what its eth0 received is the proof)
        before = rx_packets(web)
        outside.run(sys.executable, "-c", "import socket; s=socket.socket(socket.AF_INET, "
                    f"socket.SOCK_DGRAM); [s.sendto(b'x', ('{h1.ip}', 5353)) for _ in range(40)]")
        assert wait.until(lambda: rx_packets(web) - before >= 40, 5, step=0.5,
                          what="40 UDP datagrams in the container")
    finally:
        remove(web)
    assert outside.fetch(url) is None, "the port is closed with the container gone"
    assert ":8080" not in iptables(h1) and "--dport 8080" not in iptables(h1)
    remove(client, net, other_net)


def test_a_container_without_a_host_port_is_refused_saying_why(mh):
    net = create_network(mh, "h1", "10.92.5.0/24", name=unique("eg"))
    name = unique("nohp")
    try:
        with pytest.raises(sdk.errors.APIError, match="dockovn needs a host port"):
            mh.docker("h1").containers.run(IMAGE, "sleep 60", detach=True, network=net.name,
                                           name=name, ports={"80/tcp": None})
    finally:
        for c in mh.docker("h1").containers.list(all=True, filters={"name": name}):
            remove(c)
        remove(net)


def test_an_internal_network_has_no_way_out(mh, outside):
    net = create_network_with(mh, "h1", "10.92.6.0/24", {}, internal=True)
    a = run(mh, "h1", net.name)
    try:
        _, routes = sh_in(a, "ip route")
        assert "default" not in routes
        assert seen_from(a, outside) is None
        assert f"dgw{net.id[:12]}" not in mh.cluster.host("h1").vsctl("list-ports", "br-int")
    finally:
        remove(a, net)


def test_networks_do_not_reach_each_other_through_the_host(mh):
    n1 = create_network(mh, "h1", "10.92.7.0/24", name=unique("eg"))
    n2 = create_network(mh, "h1", "10.92.8.0/24", name=unique("eg"))
    a, b = run(mh, "h1", n1.name), run(mh, "h1", n2.name)
    try:
        # both have a way out through the same host, which must not route between them
        assert not pings(a, ip_of(b, n2.name), 2, 3)
        assert not pings(b, ip_of(a, n1.name), 2, 3)
    finally:
        remove(a, b, n1, n2)


def test_a_network_made_before_keeps_dockers_gateway_bridge(mh, outside):
    """A network as the previous release made it (no localport, no egress mode): its
    containers still get Docker's gwbridge, and still reach the outside."""
    net = create_network(mh, "h1", "10.92.9.0/24", name=unique("eg"))
    switch = net.id
    nbctl(mh, "lsp-del", f"host-{switch}", "--", "remove", "Logical_Switch", switch,
          "external_ids", '"dockovn:egress"')
    a = run(mh, "h1", net.name)
    try:
        # (docker inspect does not list the gwbridge endpoint; the container has it)
        _, links = sh_in(a, "ip -o link")
        assert "eth1" in links
        _, routes = sh_in(a, "ip route")
        assert "default via 172." in routes and "dev eth1" in routes, routes
        assert wait.until(lambda: seen_from(a, outside) is not None, 20, step=1,
                          what="the outside through docker_gwbridge")
    finally:
        remove(a, net)


def dockovn_on(mh, host: str, *args: str):
    h = mh.cluster.host(host)
    return multihost.in_ns(h.ns, sys.executable, "-m", "dockovn", *args, "--ovs-db", h.ovs_db,
                           check=False, timeout=60)


def test_an_egress_policy_lets_out_only_what_it_names_and_names_still_answer(mh, outside):
    net = create_network(mh, "h1", "10.92.10.0/24", name=unique("eg"))
    network_on(mh, "h2", net.name)
    locked = mh.docker("h1").containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                                            name=unique("locked"), labels={"egress": "locked"})
    free = run(mh, "h1", net.name)
    peer = run(mh, "h2", net.name)
    policy = unique("out").replace("-", "")
    try:
        # before: everything goes
        assert wait.until(lambda: seen_from(locked, outside) is not None, 20, step=1)
        assert pings(locked, outside.ip, 1, 3)
        made = dockovn_on(mh, "h1", "policy", "create", policy, "--network", net.name,
                          "--select", "egress=locked", "--to", f"{outside.ip}/32",
                          "--to-port", f"tcp/{outside.port}")
        assert made.returncode == 0, made.stderr
        # the named destination and port still, nothing else (ICMP to it, the peer)
        assert wait.until(lambda: not pings(locked, outside.ip, 1, 2), 20, step=1,
                          what="ICMP to the outside dropped by the policy")
        assert seen_from(locked, outside) == mh.cluster.host("h1").ip
        assert not pings(locked, ip_of(peer, net.name), 2, 3)
        # names answer (the name server is always allowed); replies to what comes in pass
        code, out = sh_in(locked, f"nslookup {peer.name}")
        assert code == 0 and ip_of(peer, net.name) in out, out
        assert pings(peer, ip_of(locked, net.name)), "a connection in: its replies pass"
        # others on the network are not restricted
        assert pings(free, outside.ip) and pings(free, ip_of(peer, net.name))
        shown = dockovn_on(mh, "h1", "policy", "show", policy)
        assert f"allows to: {outside.ip}/32 on tcp/{outside.port}" in shown.stdout
    finally:
        dockovn_on(mh, "h1", "policy", "delete", policy)
        remove(locked, free, peer, net)
    assert wait.until(lambda: "dkpol_" + policy not in nbctl(mh, "--bare", "--columns=name",
                                                              "list", "Port_Group"), 10)
