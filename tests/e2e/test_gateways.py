"""Gateways, egress, published ports, routing between networks, IPv6 (one host)."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.e2e.test_overlay_single_host import (container, docker, endpoint_of, ip_of, network,
                                               pings, run_in, unique, wait_bound)

pytestmark = pytest.mark.e2e

OUTSIDE_NS = "dkt-outside"
HOST6, OUTSIDE6 = "fd00:254::1", "fd00:254::2"  # this host and the outside, IPv6


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def outside(workdir):
    """An HTTP server in a namespace of its own, standing for the world outside the
    overlay, reached from this host through a veth (10.254.254.0/30, fd00:254::/64)."""
    sh("ip", "netns", "del", OUTSIDE_NS, check=False)
    sh("ip", "link", "del", "dkt-out0", check=False)
    sh("ip", "netns", "add", OUTSIDE_NS)
    sh("ip", "link", "add", "dkt-out0", "type", "veth", "peer", "name", "eth0", "netns",
       OUTSIDE_NS)
    sh("ip", "addr", "add", "10.254.254.1/30", "dev", "dkt-out0")
    sh("ip", "addr", "add", f"{HOST6}/64", "dev", "dkt-out0", "nodad")
    sh("ip", "link", "set", "dkt-out0", "up")
    ns = ("ip", "netns", "exec", OUTSIDE_NS)
    sh(*ns, "ip", "addr", "add", "10.254.254.2/30", "dev", "eth0")
    sh(*ns, "ip", "addr", "add", f"{OUTSIDE6}/64", "dev", "eth0", "nodad")
    sh(*ns, "ip", "link", "set", "eth0", "up")
    sh(*ns, "ip", "link", "set", "lo", "up")
    www = f"{workdir}/outside-www"
    sh("mkdir", "-p", www)
    open(f"{www}/index.html", "w").write("hello-from-outside\n")
    sh(*ns, "busybox", "httpd", "-p", "8081", "-h", www)
    yield "http://10.254.254.2:8081/"
    for pid in sh("ip", "netns", "pids", OUTSIDE_NS, check=False).stdout.split():
        sh("kill", pid, check=False)
    sh("ip", "netns", "del", OUTSIDE_NS, check=False)
    sh("ip", "link", "del", "dkt-out0", check=False)


def test_gateway_answers_and_containers_have_a_default_route(client, nb, cleanup):
    net = network(client, cleanup, "10.60.0.0/24")
    c = container(client, cleanup, net)
    wait_bound(nb, endpoint_of(c, net))
    _, routes = run_in(c, "ip route")
    assert routes.startswith("default via")
    assert pings(c, "10.60.0.1")  # the gateway: a logical router port in OVN


def test_egress_reaches_a_server_outside_the_overlay(client, nb, cleanup, outside):
    net = network(client, cleanup, "10.61.0.0/24")
    c = container(client, cleanup, net)
    code, out = run_in(c, f"timeout 10 wget -q -O - {outside}")
    assert code == 0 and "hello-from-outside" in out


def test_published_port_reaches_a_container(client, nb, cleanup):
    net = network(client, cleanup, "10.62.0.0/24")
    c = container(client, cleanup, net, ports={"8080/tcp": 18088})
    run_in(c, f"mkdir -p /www && echo published-{c.name} > /www/index.html && "
              "httpd -p 8080 -h /www")
    body = urllib.request.urlopen("http://127.0.0.1:18088/", timeout=10).read().decode()
    assert body.strip() == f"published-{c.name}"


def test_routing_between_networks_is_opt_in(stack, client, nb, cleanup):
    router = unique("r")
    names = [unique("ra"), unique("rb"), unique("rc")]
    for name, subnet, opts in ((names[0], "10.63.0.0/24", ["-o", f"dockovn.router={router}"]),
                               (names[1], "10.64.0.0/24", ["-o", f"dockovn.router={router}"]),
                               (names[2], "10.65.0.0/24", [])):
        docker("network", "create", "-d", "dockovn", "--ipam-driver", "dockovn",
               "--subnet", subnet, *opts, name)
        cleanup.append(client.networks.get(name))
    a_net, b_net, c_net = (client.networks.get(n) for n in names)
    a = container(client, cleanup, a_net)
    b = container(client, cleanup, b_net)
    c = container(client, cleanup, c_net, cap_add=["NET_ADMIN"])
    wait_bound(nb, endpoint_of(a, a_net), endpoint_of(b, b_net), endpoint_of(c, c_net))
    # Same router: routed both ways.
    assert pings(a, ip_of(b, b_net)) and pings(b, ip_of(a, a_net))
    # No router in common: isolated both ways, even with a route pointed at it.
    run_in(c, "ip route add 10.63.0.0/24 via 10.65.0.1")
    assert not pings(c, ip_of(a, a_net))
    assert not pings(a, ip_of(c, c_net))


def test_ipv6_dual_stack(stack, client, nb, cleanup):
    name = unique("v6")
    docker("network", "create", "-d", "dockovn", "--ipam-driver", "dockovn", "--ipv6",
           "--subnet", "10.66.0.0/24", "--subnet", "fd00:66::/64", name)
    net = client.networks.get(name)
    cleanup.append(net)
    a, b = container(client, cleanup, net), container(client, cleanup, net)
    wait_bound(nb, endpoint_of(a, net), endpoint_of(b, net))
    b.reload()
    b6 = b.attrs["NetworkSettings"]["Networks"][name]["GlobalIPv6Address"]
    assert b6.startswith("fd00:66::")
    assert run_in(a, f"ping6 -c 3 -w 6 {b6}")[0] == 0
    assert run_in(a, "ping6 -c 3 -w 6 fd00:66::1")[0] == 0  # the IPv6 gateway answers too
    assert pings(a, ip_of(b, net))


def test_ipv6_egress_and_published_ports(stack, client, nb, cleanup, outside):
    """A dual-stack network's IPv6 leaves through the host too (its link-local gateway,
    source-NATed to the host's address: the outside has no route to the subnet), and
    `-p` answers on the host's IPv6 address, from outside and from the host itself."""
    name = unique("v6out")
    docker("network", "create", "-d", "dockovn", "--ipam-driver", "dockovn", "--ipv6",
           "--subnet", "10.67.0.0/24", "--subnet", "fd00:67::/64", name)
    net = client.networks.get(name)
    cleanup.append(net)
    c = container(client, cleanup, net, ports={"8080/tcp": 18089})
    wait_bound(nb, endpoint_of(c, net))
    _, routes = run_in(c, "ip -6 route")
    assert "default via fe80::" in routes and "dev eth0" in routes, routes
    code, out = run_in(c, f"timeout 10 wget -q -O - http://[{OUTSIDE6}]:8081/")
    assert code == 0 and "hello-from-outside" in out, out
    run_in(c, f"mkdir -p /www && echo published6-{c.name} > /www/index.html && "
              "httpd -p 8080 -h /www")
    done = sh("ip", "netns", "exec", OUTSIDE_NS, "timeout", "10", "busybox", "wget", "-q",
              "-O", "-", f"http://[{HOST6}]:18089/", check=False)
    assert done.stdout.strip() == f"published6-{c.name}", done.stderr
    body = urllib.request.urlopen(f"http://[{HOST6}]:18089/", timeout=10).read().decode()
    assert body.strip() == f"published6-{c.name}"
