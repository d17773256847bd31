"""dockovn through a real dockerd: what a user types, what a user checks."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from dockovn.host import links
from dockovn.network import external_ids
from dockovn.network import identifiers

from tests.e2e.conftest import LABEL, docker_cli
from tests.support import wait

pytestmark = pytest.mark.e2e

IMAGE = "dockovn/busybox"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(docker_cli(), *args, check=check)


def unique(prefix: str) -> str:
    return f"dkt-{prefix}-{uuid.uuid4().hex[:6]}"


def network(client, cleanup, subnet: str, **kwargs):
    import docker as sdk
    ipam = sdk.types.IPAMConfig(pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    net = client.networks.create(unique("net"), driver="dockovn", ipam=ipam, **kwargs)
    cleanup.append(net)
    return net


def container(client, cleanup, net, **kwargs):
    c = client.containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                              name=unique("c"), labels={LABEL: "1"}, **kwargs)
    cleanup.append(c)
    return c


def ip_of(c, net) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]


def endpoint_of(c, net) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net.name]["EndpointID"]


def run_in(c, cmd: str) -> tuple[int, str]:
    code, out = c.exec_run(["sh", "-c", cmd])
    return code, out.decode(errors="replace")


def container_ports(nb, network_id: str) -> list[str]:
    """The network's container ports (its router port aside)."""
    return [p.name for p in nb.ports(network_id) if external_ids.ENDPOINT_ID in p.external_ids]


def wait_bound(nb, *endpoint_ids: str) -> None:
    """ovn-controller has bound the ports (NB up=true): traffic can flow."""
    for eid in endpoint_ids:
        wait.until(lambda: (nb.port(eid) or None) and nb.port(eid).up, 20,
                   what=f"port {eid[:12]} up")


def pings(c, ip: str, extra: str = "") -> bool:
    code, _ = run_in(c, f"ping -c 3 -w 6 {extra} {ip}")
    return code == 0


# -- the seed walkthrough, command for command ------------------------------------------------


def test_seed_walkthrough(stack, nb):
    out = docker("network", "create", "-d", "dockovn", "--subnet=192.168.1.0/24", "foo").stdout
    foo_id = out.strip()
    # The test reads its own copy of NB, which learns of the driver's commits a moment later.
    wait.until(lambda: nb.switch(foo_id) is not None, what="foo in NB")
    assert nb.switch(foo_id).external_ids[external_ids.SUBNET] == "192.168.1.0/24"
    listing = docker("network", "ls").stdout
    assert any(line.split()[1:3] == ["foo", "dockovn"] for line in listing.splitlines()[1:])

    docker("run", "-itd", "--net=foo", "--name=busybox", IMAGE)
    assert docker("inspect", "-f", "{{.State.Running}}", "busybox").stdout.strip() == "true"
    code_eth = docker("exec", "busybox", "ip", "-4", "addr", "show", "eth0").stdout
    assert "inet 192.168.1." in code_eth

    bar_id = docker("network", "create", "-d", "dockovn", "--subnet=192.168.2.0/24",
                    "bar").stdout.strip()
    docker("network", "connect", "bar", "busybox")
    assert "inet 192.168.2." in docker("exec", "busybox", "ip", "addr").stdout
    docker("network", "disconnect", "bar", "busybox")
    assert "192.168.2." not in docker("exec", "busybox", "ip", "addr").stdout
    docker("network", "rm", "bar")
    wait.until(lambda: nb.switch(bar_id) is None, what="bar gone from NB")
    assert "bar" not in docker("network", "ls", "--format", "{{.Name}}").stdout.split()

    docker("rm", "-f", "busybox")
    docker("network", "rm", "foo")
    wait.until(lambda: nb.switch(foo_id) is None, what="foo gone from NB")


# -- connectivity -----------------------------------------------------------------------------------


def test_two_containers_on_one_network_ping(client, nb, cleanup):
    net = network(client, cleanup, "10.40.0.0/24")
    a, b = container(client, cleanup, net), container(client, cleanup, net)
    wait_bound(nb, endpoint_of(a, net), endpoint_of(b, net))
    assert pings(a, ip_of(b, net))
    assert pings(b, ip_of(a, net))


def test_tcp_works_between_containers(client, nb, cleanup):
    # TCP fails on the userspace datapath unless tx checksum offload is off.
    net = network(client, cleanup, "10.41.0.0/24")
    server, cl = container(client, cleanup, net), container(client, cleanup, net)
    wait_bound(nb, endpoint_of(server, net), endpoint_of(cl, net))
    run_in(server, "mkdir -p /www && echo hello-from-ovn > /www/index.html && httpd -p 8080 -h /www")
    code, out = run_in(cl, f"timeout 10 wget -q -O - http://{ip_of(server, net)}:8080/")
    assert code == 0 and "hello-from-ovn" in out


def test_networks_are_isolated(client, nb, cleanup):
    foo = network(client, cleanup, "10.42.0.0/24")
    bar = network(client, cleanup, "10.43.0.0/24")
    a = container(client, cleanup, foo)
    b = container(client, cleanup, bar)
    c = container(client, cleanup, bar)
    wait_bound(nb, endpoint_of(a, foo), endpoint_of(b, bar), endpoint_of(c, bar))
    assert pings(c, ip_of(b, bar))  # bar works...
    # ...but foo cannot reach bar, even with a route pointing straight at it.
    run_in(a, "ip route add 10.43.0.0/24 dev eth0")
    assert not pings(a, ip_of(b, bar))


def test_mtu_fits_the_tunnel(client, nb, cleanup):
    net = network(client, cleanup, "10.45.0.0/24")
    a, b = container(client, cleanup, net), container(client, cleanup, net)
    assert run_in(a, "cat /sys/class/net/eth0/mtu")[1].strip() == "1442"
    wait_bound(nb, endpoint_of(a, net), endpoint_of(b, net))
    # 1414 bytes of payload + 28 of headers = 1442, unfragmented.
    assert pings(a, ip_of(b, net), "-s 1414")


def test_mtu_option_per_network(client, nb, cleanup):
    net = network(client, cleanup, "10.46.0.0/24", options={"mtu": "1300"})
    a = container(client, cleanup, net)
    assert run_in(a, "cat /sys/class/net/eth0/mtu")[1].strip() == "1300"


def test_ip_and_mac_address_are_honoured(stack, nb, cleanup, client):
    net = network(client, cleanup, "10.47.0.0/24")
    name = unique("fixed")
    docker("run", "-d", f"--net={net.name}", "--ip=10.47.0.77", "--mac-address=02:42:0a:2f:00:4d",
           f"--name={name}", f"--label={LABEL}=1", IMAGE, "sleep", "600")
    c = client.containers.get(name)
    cleanup.append(c)
    _, addr = run_in(c, "ip addr show eth0")
    assert "10.47.0.77/24" in addr and "02:42:0a:2f:00:4d" in addr
    port = nb.port(endpoint_of(c, net))
    assert port.addresses == ("02:42:0a:2f:00:4d 10.47.0.77",)
    other = container(client, cleanup, net)
    wait_bound(nb, endpoint_of(c, net), endpoint_of(other, net))
    assert pings(other, "10.47.0.77")


def test_connect_and_disconnect_add_and_remove_an_interface(client, nb, cleanup):
    foo = network(client, cleanup, "10.48.0.0/24")
    bar = network(client, cleanup, "10.49.0.0/24")
    a = container(client, cleanup, foo)
    peer = container(client, cleanup, bar)
    bar.connect(a)
    _, addrs = run_in(a, "ip -4 addr")
    assert "10.49.0." in addrs
    eid = endpoint_of(a, bar)
    wait_bound(nb, eid, endpoint_of(peer, bar))
    assert pings(a, ip_of(peer, bar))
    outer, _ = identifiers.veth_names(eid)
    assert links.exists(outer)

    bar.disconnect(a)
    _, addrs = run_in(a, "ip -4 addr")
    assert "10.49.0." not in addrs
    wait.until(lambda: nb.port(eid) is None, what="port gone from NB")
    assert not links.exists(outer)


def test_nothing_left_after_rm(client, nb, cleanup):
    import docker as sdk
    net = network(client, cleanup, "10.50.0.0/24")
    cs = [container(client, cleanup, net) for _ in range(3)]
    eids = [endpoint_of(c, net) for c in cs]
    wait.until(lambda: set(container_ports(nb, net.id)) == set(eids), what="ports in NB")
    for c in cs:
        c.remove(force=True)
    net.remove()
    wait.until(lambda: nb.switch(net.id) is None, what="switch gone from NB")
    for eid in eids:
        assert nb.port(eid) is None
        outer, inner = identifiers.veth_names(eid)
        assert not links.exists(outer) and not links.exists(inner)
    ovs_ports = sh("ovs-vsctl", "--columns=name", "find", "Interface",
                   f"external_ids:{external_ids.OVS_NETWORK}={net.id}").stdout
    assert ovs_ports.strip() == ""
    with pytest.raises(sdk.errors.NotFound):
        client.networks.get(net.id)


def test_ls_shows_networks_and_container_names(client, nb, cleanup):
    net = network(client, cleanup, "10.51.0.0/24")
    c = container(client, cleanup, net)
    eid = endpoint_of(c, net)
    wait_bound(nb, eid)
    c.reload()
    # Names arrive from Docker events, off the request path.
    wait.until(lambda: nb.port(eid).external_ids.get(external_ids.CONTAINER_NAME) == c.name, 10,
               what="container name in NB")
    out = sh(sys.executable, "-m", "dockovn", "ls", "--json").stdout
    rows = [r for r in json.loads(out) if r["network"] == net.name]
    assert len(rows) == 1
    row = rows[0]
    assert row["container"] == c.name and row["ip"] == ip_of(c, net)
    assert row["port"] == eid[:12] and row["up"] == "yes" and row["chassis"]


def test_dockovn_ipam_through_docker(stack, nb, cleanup, client):
    """`--ipam-driver dockovn`: gateway, --aux-address and --ip reserved in NB; a taken
    --ip is refused naming the container that holds it."""
    name = unique("ipam")
    docker("network", "create", "-d", "dockovn", "--ipam-driver", "dockovn",
           "--subnet", "10.52.0.0/24", "--aux-address", "router=10.52.0.9", name)
    net = client.networks.get(name)
    cleanup.append(net)
    assert net.attrs["IPAM"]["Driver"] == "dockovn"
    holder = container(client, cleanup, net)
    assert ip_of(holder, net) == "10.52.0.2"  # .1 is the gateway
    pool = nb.pool("dockovn_pool_10_52_0_0_24")
    assert {"10.52.0.1", "10.52.0.2", "10.52.0.9"} <= pool.addresses
    wait.until(lambda: nb.port(endpoint_of(holder, net)).external_ids.get(external_ids.CONTAINER_NAME))
    taken = docker("run", "-d", f"--net={name}", "--ip=10.52.0.2", IMAGE, "sleep", "60",
                   check=False)
    assert taken.returncode != 0
    assert f"address 10.52.0.2 is already in use by {holder.name}" in taken.stderr
    aux = docker("run", "-d", f"--net={name}", "--ip=10.52.0.9", IMAGE, "sleep", "60",
                 check=False)
    assert aux.returncode != 0 and "10.52.0.9 is already in use" in aux.stderr
    for c in client.containers.list(all=True, filters={"network": name}):
        if c.id != holder.id:
            c.remove(force=True)
    holder.remove(force=True)
    net.remove()
    wait.until(lambda: nb.pool("dockovn_pool_10_52_0_0_24") is None, what="pool gone with network")
