"""Underlay mode against a real Neutron: containers in an OpenStack VM on Neutron
networks, next to a plain VM; nothing left in Neutron, OVS or the VM afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker as sdk
import pytest

from tests.support import neutron as neutron_service
from tests.support import underlay
from tests.support.docker_objects import remove
from tests.support.multihost import in_ns
from tests.support.plugin_client import PluginClient

pytestmark = pytest.mark.underlay

IMAGE = "dockovn/busybox"
OWNER = "dockovn:container"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_network(ul, subnet: str, name: str | None = None, **options):
    ipam = sdk.types.IPAMConfig(driver="dockovn",
                                pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    return ul.docker().networks.create(name or unique("unet"), driver="dockovn", ipam=ipam,
                                       options=options or None)


def run(ul, net: str, **kwargs):
    return ul.docker().containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                      name=unique("uc"), **kwargs)


def ip_of(c, net: str) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def pings(c, ip: str, count: int = 3, wait_s: int = 8) -> bool:
    code, _ = c.exec_run(["sh", "-c", f"ping -c {count} -w {wait_s} {ip}"])
    return code == 0


def our_ports(ul, **query) -> list:
    return list(ul.conn.network.ports(device_owner=OWNER, **query))


def vlan_records(ul) -> dict[str, str]:
    out = ul.vm1.vsctl("get", "Bridge", "breth0", "external_ids")
    pairs = dict(kv.split("=", 1) for kv in out.strip().strip("{}").split(", ") if "=" in kv)
    return {k.strip('"'): v.strip('"') for k, v in pairs.items()
            if k.strip('"').startswith("dockovn-vlan:")}


def breth0_ports(ul) -> set[str]:
    return set(ul.vm1.vsctl("list-ports", "breth0").split())


def child_up(ul, port_id: str) -> None:
    underlay.wait_port_up(ul.nb, port_id)


def addresses(ns: str) -> dict[str, list[str]]:
    """Interface -> its IPv4 addresses, in namespace ``ns``."""
    out: dict[str, list[str]] = {}
    for line in in_ns(ns, "ip", "-4", "-o", "addr", "show").stdout.splitlines():
        fields = line.split()
        out.setdefault(fields[1], []).append(fields[3])
    return out


def test_vm_setup_moved_the_uplink_onto_breth0_and_is_idempotent(ul):
    vm = ul.vm1
    assert addresses(vm.ns).get("breth0") == [f"{vm.ip}/24"]
    assert "eth0" not in addresses(vm.ns)
    mac = in_ns(vm.ns, "cat", "/sys/class/net/breth0/address").stdout.strip()
    assert mac == vm.port["mac_address"]  # Neutron's port security still matches
    again = in_ns(vm.ns, sys.executable, "-m", "dockovn", "vm", "setup", "--bridge", "breth0",
                  "--uplink", "eth0", "--ovs-rundir", vm.dir, "--ovs-dbdir", vm.dir,
                  "--ovs-logdir", vm.dir)
    assert "moved" not in again.stdout, again.stdout
    assert breth0_ports(ul) == {"eth0"}
    assert addresses(vm.ns).get("breth0") == [f"{vm.ip}/24"]


def test_containers_on_a_new_network_ping_each_other_through_ovn(ul):
    net = create_network(ul, "10.78.1.0/24")
    a = b = None
    try:
        neutron_net = next(n for n in ul.conn.network.networks()
                           if n.name == f"dockovn-{net.id[:12]}")
        a, b = run(ul, net.name), run(ul, net.name)
        ports = our_ports(ul, network_id=neutron_net.id)
        assert len(ports) == 2
        profiles = [p.binding_profile for p in ports]
        assert all(p["parent_name"] == ul.vm1.port["id"] for p in profiles)
        tags = sorted(p["tag"] for p in profiles)
        assert len(set(tags)) == 2
        # breth0 holds each container as an access port of its tag.
        port_tags = sorted(int(t) for t in ul.vm1.vsctl(
            "--bare", "--columns=tag", "find", "Port", "tag!=[]").split())
        assert port_tags == tags
        for p in ports:
            child_up(ul, p.id)
        assert pings(b, ip_of(a, net.name))
        assert pings(a, ip_of(b, net.name))
        # `dockovn ls` shows them with their names, addresses and VLAN tags.
        done = dockovn_in_vm1(ul, "ls", "--mode", "underlay", "--json", "--ovs-db",
                              ul.vm1.ovs_db, "--docker-host", ul.vm1.docker_host)
        assert done.returncode == 0, done.stderr
        listed = {r["container"]: r for r in json.loads(done.stdout) if r["network"] == net.name}
        assert set(listed) == {a.name, b.name}
        assert listed[a.name]["ip"] == ip_of(a, net.name)
        assert sorted(int(r["vlan"]) for r in listed.values()) == tags
    finally:
        remove(*(c for c in (a, b) if c), net)
    assert not any(n.name == f"dockovn-{net.id[:12]}" for n in ul.conn.network.networks())
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}
    assert breth0_ports(ul) == {"eth0"}


def test_container_reaches_a_plain_vm_on_an_adopted_neutron_network(ul):
    net = create_network(ul, underlay.APPNET_CIDR, **{"dockovn.neutron.network": "appnet"})
    c = None
    try:
        c = run(ul, net.name)
        ip = ip_of(c, net.name)
        (port,) = our_ports(ul, network_id=ul.networks["appnet"])
        assert port.fixed_ips[0]["ip_address"] == ip
        child_up(ul, port.id)
        assert pings(c, ul.vm2.ip)
        # and the plain VM reaches the container
        assert in_ns(ul.vm2.ns, "ping", "-c", "2", "-w", "6", ip, check=False).returncode == 0
    finally:
        remove(*(x for x in (c,) if x), net)
    # The adopted network stays in Neutron (and the plain VM on it).
    assert ul.conn.network.get_network(ul.networks["appnet"]) is not None
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}


def test_networks_are_isolated(ul):
    n1 = create_network(ul, "10.78.2.0/24")
    n2 = create_network(ul, "10.78.3.0/24")
    cs = []
    try:
        a, b = run(ul, n1.name), run(ul, n2.name)
        a2 = run(ul, n1.name)
        cs = [a, b, a2]
        for p in our_ports(ul):
            child_up(ul, p.id)
        assert pings(a2, ip_of(a, n1.name))  # the same network works...
        b_ip = ip_of(b, n2.name)
        # ...a container of the other network is unreachable, even on its address's
        # own subnet: no route in, and a spoofed neighbour gets nothing.
        assert not pings(a, b_ip, count=2, wait_s=3)
    finally:
        remove(*cs, n1, n2)
    assert our_ports(ul) == []


def docker_cli(ul, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/docker", "-H", ul.vm1.docker_host, *args],
                          capture_output=True, text=True, timeout=120)


def test_taken_address_and_neutron_refusals_leave_nothing_behind(ul):
    before_vlans = vlan_records(ul)
    net = create_network(ul, underlay.APPNET_CIDR, **{"dockovn.neutron.network": "appnet"})
    try:
        # An address a plain VM already has: Neutron says who holds it.
        done = docker_cli(ul, "run", "-d", "--net", net.name, "--ip", ul.vm2.ip, IMAGE,
                          "sleep", "600")
        assert done.returncode != 0
        assert f"address {ul.vm2.ip} is already in use in Neutron" in done.stderr, done.stderr
        assert ul.vm2.port["id"] in done.stderr
        # A MAC another port has: Neutron refuses the child port halfway through
        # CreateEndpoint (address and tag already reserved): both are given back.
        done = docker_cli(ul, "run", "-d", "--net", net.name, "--mac-address",
                          ul.vm2.port["mac_address"], IMAGE, "sleep", "600")
        assert done.returncode != 0
        assert "mac" in done.stderr.lower(), done.stderr
        assert our_ports(ul) == []
        assert vlan_records(ul) == before_vlans
    finally:
        for leftover in ul.docker().containers.list(all=True):
            remove(leftover)
        remove(net)
    assert our_ports(ul) == []
    assert breth0_ports(ul) == {"eth0"}


def test_a_user_without_the_service_role_is_told_so_and_nothing_is_left(ul):
    # Neutron 24.0's default policy: only the service role sets binding:profile. As in a
    # cloud where nobody gave dockovn's user that role.
    net = create_network(ul, "10.78.9.0/24")
    before_vlans = vlan_records(ul)
    neutron_service.set_policy(ul.neutron.base, neutron_service.SERVICE_ROLE_ONLY)
    try:
        done = docker_cli(ul, "run", "-d", "--net", net.name, IMAGE, "sleep", "600")
        assert done.returncode != 0
        assert "not authorised by Neutron (403)" in done.stderr, done.stderr
        assert "openstack role add --user USER --project PROJECT service" in done.stderr
        assert our_ports(ul) == []
        assert vlan_records(ul) == before_vlans
    finally:
        neutron_service.set_policy(ul.neutron.base, neutron_service.SERVICE_ROLE_GRANT)
        for leftover in ul.docker().containers.list(all=True):
            remove(leftover)
    try:
        c = run(ul, net.name)  # the role given: the same request works
        remove(c)
    finally:
        remove(net)
    assert our_ports(ul) == []
    assert breth0_ports(ul) == {"eth0"}


def test_parallel_containers_get_unique_tags_and_addresses(ul):
    net = create_network(ul, "10.78.4.0/24")
    cs = []
    try:
        with ThreadPoolExecutor(8) as pool:
            cs = list(pool.map(lambda _: run(ul, net.name), range(8)))
        ports = our_ports(ul)
        assert len(ports) == 8
        assert len({p.binding_profile["tag"] for p in ports}) == 8
        assert len({p.fixed_ips[0]["ip_address"] for p in ports}) == 8
        assert len(vlan_records(ul)) == 8
        for p in ports:
            child_up(ul, p.id)
        target = ip_of(cs[0], net.name)
        assert all(pings(c, target, count=1) for c in cs[1:])
    finally:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(remove, cs))
        remove(net)
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}
    assert breth0_ports(ul) == {"eth0"}


def test_neutron_errors_reach_the_user_as_clear_err(ul):
    client = PluginClient(f"{ul.vm1.plugins}/dockovn.sock")
    status, reply = client.call("IpamDriver.RequestPool",
                                {"AddressSpace": "neutron", "Pool": "",
                                 "Options": {"dockovn.neutron.network": "no-such-net"}})
    assert reply["Err"] == "Neutron network no-such-net does not exist"
    status, reply = client.call("IpamDriver.RequestPool",
                                {"AddressSpace": "neutron", "Pool": "10.9.9.0/24",
                                 "Options": {"dockovn.neutron.network": "appnet"}})
    assert "has no subnet 10.9.9.0/24" in reply["Err"] and underlay.APPNET_CIDR in reply["Err"]
    status, reply = client.call("NetworkDriver.CreateEndpoint",
                                {"NetworkID": "f" * 64, "EndpointID": "e" * 64,
                                 "Interface": {"Address": "10.1.1.2/24"}})
    assert "is not a dockovn underlay network" in reply["Err"]


def dockovn_in_vm1(ul, *args: str, env: dict | None = None, stdin: str | None = None):
    return subprocess.run(["ip", "netns", "exec", ul.vm1.ns, sys.executable, "-m", "dockovn",
                           *args], capture_output=True, text=True, timeout=120, input=stdin,
                          env={**os.environ, **(env if env is not None else ul.driver_env())})


def test_neutron_down_is_a_clear_error_and_gc_removes_what_it_left(ul):
    net = create_network(ul, "10.78.5.0/24")
    c = run(ul, net.name)
    (port,) = our_ports(ul)
    underlay.neutron_blocked(True)
    try:
        done = docker_cli(ul, "run", "-d", "--net", net.name, IMAGE, "sleep", "600")
        assert done.returncode != 0
        assert "Neutron is unreachable" in done.stderr, done.stderr
        # Docker removes the container whatever the plugin says: its Neutron port
        # and VLAN tag cannot be removed now.
        remove(c)
    finally:
        underlay.neutron_blocked(False)
    assert [p.id for p in our_ports(ul)] == [port.id]
    assert len(vlan_records(ul)) == 1
    assert breth0_ports(ul) == {"eth0"}  # local unplugging did not need Neutron
    done = dockovn_in_vm1(ul, "gc", "--mode", "underlay", "--min-age", "0", "--ovs-db",
                          ul.vm1.ovs_db, "--docker-host", ul.vm1.docker_host)
    assert done.returncode == 0, done.stderr
    assert "child port" in done.stdout and "vlan" in done.stdout, done.stdout
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}
    remove(net)
    assert not any(n.name == f"dockovn-{net.id[:12]}" for n in ul.conn.network.networks())


def test_quota_exceeded_is_a_clear_error_and_leaves_nothing(ul):
    project = ul.conn.network.get_port(ul.vm1.port["id"]).project_id
    used = len(list(ul.conn.network.ports(project_id=project)))
    net = create_network(ul, "10.78.6.0/24")
    ul.conn.network.update_quota(project, ports=used + 1)
    try:
        run(ul, net.name)  # the last port the quota allows
        done = docker_cli(ul, "run", "-d", "--net", net.name, IMAGE, "sleep", "600")
        assert done.returncode != 0
        assert "Quota exceeded for resources: ['port']" in done.stderr, done.stderr
        assert len(our_ports(ul)) == 1
        assert len(vlan_records(ul)) == 1
    finally:
        ul.conn.network.update_quota(project, ports=-1)
        for leftover in ul.docker().containers.list(all=True):
            remove(leftover)
        remove(net)
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}


def test_driver_restart_keeps_containers_working_and_removable(ul):
    net = create_network(ul, "10.78.7.0/24")
    a, b = run(ul, net.name), run(ul, net.name)
    try:
        for p in our_ports(ul):
            child_up(ul, p.id)
        underlay.kill_vm1_driver(ul)
        assert pings(a, ip_of(b, net.name))  # the data path does not need the driver
        underlay.start_vm_driver(ul, ul.vm1)
        c = run(ul, net.name)  # what it remembers (VLAN tags) came back from breth0
        tags = [p.binding_profile["tag"] for p in our_ports(ul)]
        assert len(set(tags)) == 3
        child_up(ul, next(p.id for p in our_ports(ul) if p.device_id not in
                          (a.attrs["NetworkSettings"]["Networks"][net.name]["EndpointID"],
                           b.attrs["NetworkSettings"]["Networks"][net.name]["EndpointID"])))
        assert pings(c, ip_of(a, net.name))
    finally:
        for leftover in ul.docker().containers.list(all=True):
            remove(leftover)
        remove(net)
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}
    assert breth0_ports(ul) == {"eth0"}


def test_driver_refuses_to_start_without_what_underlay_needs(ul):
    args = ["driver", "--mode", "underlay", "--ovs-db", ul.vm1.ovs_db, "--plugin-dir",
            "/tmp/dkul/nowhere"]
    no_vif = {k: v for k, v in ul.driver_env().items() if k != "OS_VIF_ID"}
    env = {**os.environ, **no_vif}
    env.pop("OS_VIF_ID", None)
    done = subprocess.run(["ip", "netns", "exec", ul.vm1.ns, sys.executable, "-m", "dockovn",
                           *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and "OS_VIF_ID" in done.stderr, done.stderr
    done = dockovn_in_vm1(ul, *args, env={**ul.driver_env(), "OS_VIF_ID": "no-such-port"})
    assert done.returncode == 1 and "OS_VIF_ID no-such-port: no such Neutron port" in \
        done.stderr, done.stderr
    done = dockovn_in_vm1(ul, *args, env={**ul.driver_env(),
                                          "DOCKOVN_NEUTRON_URL": "http://127.0.0.1:1"})
    assert done.returncode == 1 and "Neutron is unreachable" in done.stderr, done.stderr


def test_password_is_prompted_for_and_never_shown(ul):
    env = {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "alice",
           "OS_PROJECT_ID": "p1", "OS_USER_DOMAIN_NAME": "Default", "OS_VIF_ID": "x",
           "OS_PASSWORD": ""}
    done = dockovn_in_vm1(ul, "driver", "--mode", "underlay", "--ovs-db", ul.vm1.ovs_db,
                          "--plugin-dir", "/tmp/dkul/nowhere", env=env,
                          stdin="s3cret-pw\n")
    assert "OpenStack password for alice" in done.stderr, done.stderr
    assert done.returncode == 1  # no Keystone at that URL: a clear error, not a traceback
    assert "Traceback" not in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_concurrent_endpoints_never_share_a_vlan_tag(ul):
    """CreateEndpoint straight on the socket, 16 at once (dockerd serialises less
    than this): each tag is reserved atomically in breth0's record."""
    client = PluginClient(f"{ul.vm1.plugins}/dockovn.sock")
    network_id = uuid.uuid4().hex * 2
    status, reply = client.call("NetworkDriver.CreateNetwork", {
        "NetworkID": network_id, "Options": {},
        "IPv4Data": [{"AddressSpace": "", "Pool": "10.78.8.0/24", "Gateway": "10.78.8.1/24"}]})
    assert status == 200 and "Err" not in reply, reply
    endpoints = [uuid.uuid4().hex * 2 for _ in range(16)]

    def create(i: int):
        return client.call("NetworkDriver.CreateEndpoint", {
            "NetworkID": network_id, "EndpointID": endpoints[i],
            "Interface": {"Address": f"10.78.8.{10 + i}/24"}})

    try:
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(create, range(16)))
        assert all(status == 200 and "Err" not in r for status, r in replies), replies
        tags = [p.binding_profile["tag"] for p in our_ports(ul)]
        assert len(tags) == 16 and len(set(tags)) == 16
        assert sorted(int(k.split(":")[1]) for k in vlan_records(ul)) == sorted(tags)
    finally:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda e: client.call("NetworkDriver.DeleteEndpoint", {
                "NetworkID": network_id, "EndpointID": e}), endpoints))
        client.call("NetworkDriver.DeleteNetwork", {"NetworkID": network_id})
    assert our_ports(ul) == []
    assert vlan_records(ul) == {}


def test_network_other_vms_still_use_stays_in_neutron_until_unused(ul):
    net = create_network(ul, "10.78.11.0/24")
    neutron_net = next(n for n in ul.conn.network.networks()
                       if n.name == f"dockovn-{net.id[:12]}")
    other_vm = ul.conn.network.create_port(network_id=neutron_net.id, name="another-vm",
                                           device_owner="compute:nova")
    try:
        remove(net)  # Docker drops its view whatever the driver answers
        assert ul.conn.network.get_network(neutron_net.id) is not None
        records = ul.vm1.vsctl("get", "Bridge", "breth0", "external_ids")
        assert net.id not in records  # this VM forgot it
        log = open(os.path.join(ul.vm1.dir, "driver.log")).read()
        assert f"Neutron network {neutron_net.id} stays while other VMs use it" in log
    finally:
        ul.conn.network.delete_port(other_vm)
    # Unused now: gc (on any dockovn VM) deletes the orphan.
    done = dockovn_in_vm1(ul, "gc", "--mode", "underlay", "--min-age", "0", "--ovs-db",
                          ul.vm1.ovs_db, "--docker-host", ul.vm1.docker_host)
    assert done.returncode == 0 and "orphaned network" in done.stdout, done.stdout + done.stderr
    assert ul.conn.network.find_network(neutron_net.id) is None


def test_containers_in_two_vms_share_a_neutron_network(ul):
    """VM3 adopts the network VM1 made: containers of both VMs on it reach each
    other; each VM has its own tag space; the network lives until both let go."""
    net1 = create_network(ul, "10.78.12.0/24")
    neutron_name = f"dockovn-{net1.id[:12]}"
    ipam = sdk.types.IPAMConfig(driver="dockovn",
                                pool_configs=[sdk.types.IPAMPool(subnet="10.78.12.0/24")])
    net3 = ul.docker(ul.vm3).networks.create(unique("unet"), driver="dockovn", ipam=ipam,
                                             options={"dockovn.neutron.network": neutron_name})
    a = ul.docker().containers.run(IMAGE, "sleep 600", detach=True, network=net1.name,
                                   name=unique("uc"))
    b = ul.docker(ul.vm3).containers.run(IMAGE, "sleep 600", detach=True, network=net3.name,
                                         name=unique("uc"))
    try:
        ports = {p.binding_profile["parent_name"]: p for p in our_ports(ul)}
        assert set(ports) == {ul.vm1.port["id"], ul.vm3.port["id"]}
        # Tags are per VM: both first containers have tag 1, on different parents.
        assert {p.binding_profile["tag"] for p in ports.values()} == {1}
        for p in ports.values():
            child_up(ul, p.id)
        assert pings(a, ip_of(b, net3.name))
        assert pings(b, ip_of(a, net1.name))
        remove(a, net1)  # VM1 lets go first: VM3's container keeps the network
        neutron_net = ul.conn.network.find_network(neutron_name)
        assert neutron_net is not None
    finally:
        remove(a, b, net3)  # VM3, the last one out, deletes it
        remove(net1)
    assert ul.conn.network.find_network(neutron_name) is None
    assert our_ports(ul) == []
