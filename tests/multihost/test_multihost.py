"""One logical network across hosts: Geneve tunnels, cluster-wide IPAM, one network
everywhere, isolation, MTU, and network removal semantics."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker as sdk
import pytest


from tests.support import multihost, wait
from tests.support.docker_objects import remove
from tests.support.plugin_client import PluginClient

pytestmark = pytest.mark.multihost

IMAGE = "dockovn/busybox"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_network(mh, host: str, subnet: str, name: str | None = None):
    ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    return mh.docker(host).networks.create(name or unique("net"), driver="dockovn", ipam=ipam)


def network_on(mh, host: str, name: str, timeout: float = 15):
    """The network as ``host``'s dockerd knows it, once it has appeared there."""
    def find():
        nets = mh.docker(host).networks.list(names=[name])
        return next((n for n in nets if n.name == name), None)
    return wait.until(find, timeout, what=f"network {name} on {host}")


def run(mh, host: str, net: str, **kwargs):
    return mh.docker(host).containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                          name=unique(f"c-{host}"), **kwargs)


def ip_of(c, net: str) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def mac_of(c, net: str) -> str:
    c.reload()
    return c.attrs["NetworkSettings"]["Networks"][net]["MacAddress"]


def sh_in(c, cmd: str) -> tuple[int, str]:
    code, out = c.exec_run(["sh", "-c", cmd])
    return code, out.decode(errors="replace")


def pings(c, ip: str, count: int = 3, wait_s: int = 6) -> bool:
    return sh_in(c, f"ping -c {count} -w {wait_s} {ip}")[0] == 0


def nbctl(mh, *args: str) -> str:
    c = mh.cluster
    return multihost.in_ns(c.central_ns, "ovn-nbctl", f"--db={c.nb}", *args).stdout


def sbctl(mh, *args: str) -> str:
    c = mh.cluster
    return multihost.in_ns(c.central_ns, "ovn-sbctl", f"--db={c.sb}", *args).stdout


def tunnel_tx_packets(host) -> int:
    """Packets h sent into Geneve tunnels (its br-int's tunnel interfaces)."""
    out = host.vsctl("--format=json", "--columns=statistics", "find", "Interface", "type=geneve")
    total = 0
    for row in json.loads(out)["data"]:
        stats = dict(row[0][1])
        total += stats.get("tx_packets", 0)
    return total


def test_containers_on_two_hosts_ping_over_geneve(mh):
    net = create_network(mh, "h1", "10.90.1.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    try:
        h1 = mh.cluster.host("h1")
        before = tunnel_tx_packets(h1)
        assert wait.until(lambda: pings(a, ip_of(b, net.name), count=1, wait_s=2), 20,
                          what="first cross-host ping")
        assert pings(a, ip_of(b, net.name)) and pings(b, ip_of(a, net.name))
        # The packets left h1 through a tunnel. (vswitchd refreshes the counters every 5 s:
        # right after a fast ping, as on a cluster whose tunnels are warm, they may not
        # show it yet.)
        assert wait.until(lambda: tunnel_tx_packets(h1) > before, 12, step=1,
                          what="h1's tunnel counters counting the pings")
        # Both ports are bound, each to its own host's chassis.
        bindings = json.loads(sbctl(mh, "--format=json", "--columns=logical_port,chassis",
                                    "list", "Port_Binding"))
        chassis_of = {row[0]: row[1][1] for row in bindings["data"]}
        ports = {c.attrs["NetworkSettings"]["Networks"][net.name]["EndpointID"] for c in (a, b)}
        bound = {chassis_of[p] for p in ports}
        assert len(bound) == 2
        hostnames = sbctl(mh, "--columns=hostname", "list", "Chassis")
        assert "h1" in hostnames and "h2" in hostnames
    finally:
        remove(a, b, net)


def test_network_made_on_one_host_is_usable_on_the_other(mh):
    net = create_network(mh, "h1", "10.90.2.0/24")
    try:
        there = network_on(mh, "h2", net.name)
        assert there.attrs["Driver"] == "dockovn"
        assert there.attrs["IPAM"]["Config"][0]["Subnet"] == "10.90.2.0/24"
        c = run(mh, "h2", net.name)  # no `docker network create` on h2
        try:
            assert ip_of(c, net.name).startswith("10.90.2.")
        finally:
            remove(c)
    finally:
        remove(net)


def test_parallel_containers_get_unique_addresses_and_all_pairs_ping(mh):
    net = create_network(mh, "h1", "10.90.3.0/24")
    network_on(mh, "h2", net.name)
    per_host = 10
    with ThreadPoolExecutor(max_workers=2 * per_host) as pool:
        futures = [pool.submit(run, mh, host, net.name)
                   for host in ("h1", "h2") for _ in range(per_host)]
        containers = [f.result() for f in futures]
    try:
        ips = [ip_of(c, net.name) for c in containers]
        macs = [mac_of(c, net.name) for c in containers]
        assert len(set(ips)) == len(ips) == 2 * per_host
        assert len(set(macs)) == len(macs)
        # From every container, ping every other one (one exec per container). Twenty
        # ports bound at once on two busy cores: a remote one can take a few seconds to
        # reach the other host's flows (bench/ measures how long), so a pair that fails
        # is tried again for up to 30 s; what is still unreachable then fails the test.
        unreached = {}
        for c, own in zip(containers, ips):
            others = " ".join(ip for ip in ips if ip != own)
            _, out = sh_in(c, f"for ip in {others}; do ping -c 1 -w 5 $ip >/dev/null "
                              f"|| echo FAIL $ip; done")
            unreached[c] = set(re.findall(r"FAIL (\S+)", out))

        def meshed() -> bool:
            for c, missing in unreached.items():
                missing -= {ip for ip in missing if sh_in(c, f"ping -c 1 -W 1 {ip}")[0] == 0}
            return not any(unreached.values())
        deadline = time.monotonic() + 30
        while not meshed() and time.monotonic() < deadline:
            time.sleep(1)
        still = {c.name: sorted(m) for c, m in unreached.items() if m}
        assert not still, f"still unreachable 30 s after the first round: {still}"
    finally:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, containers))
        remove(net)


def test_networks_stay_isolated_across_hosts(mh):
    red = create_network(mh, "h1", "10.90.4.0/24")
    blue = create_network(mh, "h1", "10.90.5.0/24")
    network_on(mh, "h2", blue.name)
    a = run(mh, "h1", red.name)
    b1, b2 = run(mh, "h2", blue.name), run(mh, "h1", blue.name)
    try:
        assert wait.until(lambda: pings(b2, ip_of(b1, blue.name), 1, 2), 20)  # blue works
        sh_in(a, "ip route add 10.90.5.0/24 dev eth0")
        assert not pings(a, ip_of(b1, blue.name))
    finally:
        remove(a, b1, b2, red, blue)


def test_large_packets_cross_hosts_at_the_network_mtu(mh):
    net = create_network(mh, "h1", "10.90.6.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    try:
        assert sh_in(a, "cat /sys/class/net/eth0/mtu")[1].strip() == "1442"
        target = ip_of(b, net.name)
        assert wait.until(lambda: pings(a, target, 1, 2), 20)
        a.reload()
        pid = str(a.attrs["State"]["Pid"])

        def ping_df(size: int) -> subprocess.CompletedProcess:
            # iputils ping from the container's namespace: -M do forbids fragmenting.
            return subprocess.run(["nsenter", "-t", pid, "-n", "ping", "-M", "do", "-c", "3",
                                   "-w", "6", "-s", str(size), target],
                                  capture_output=True, text=True)

        assert ping_df(1414).returncode == 0  # 1414 + 28 = 1442: fills the MTU, crosses
        too_big = ping_df(1415)
        # The kernel refuses it at the interface's MTU: iputils 20221126 (Debian 12) says
        # "local error: message too long, mtu=1442", 20240905 (Debian 13) "sendmsg: Message
        # too long". Either way nothing was sent.
        said = (too_big.stdout + too_big.stderr).lower()
        assert too_big.returncode != 0 and "message too long" in said, said
        assert "0 received" in said
    finally:
        remove(a, b, net)


def test_requested_ip_taken_on_another_host_names_the_holder(mh):
    net = create_network(mh, "h1", "10.90.7.0/24")
    network_on(mh, "h2", net.name)
    holder = run(mh, "h1", net.name)
    try:
        taken = ip_of(holder, net.name)
        wait.until(lambda: holder.name in nbctl(mh, "--columns=external_ids", "list",
                                                "Logical_Switch_Port"), 10)
        # What a user on h2 types: `docker run --ip <taken>`.
        done = subprocess.run(["/usr/bin/docker", "-H", mh.cluster.host("h2").docker_host,
                               "run", "-d", "--rm", f"--net={net.name}", f"--ip={taken}",
                               IMAGE, "sleep", "600"], capture_output=True, text=True)
        assert done.returncode != 0
        assert f"address {taken} is already in use by {holder.name}" in done.stderr
    finally:
        for c in mh.docker("h2").containers.list(all=True, filters={"network": net.name}):
            remove(c)
        remove(holder, net)


def test_network_removal_across_hosts(mh):
    net = create_network(mh, "h1", "10.90.8.0/24")
    there = network_on(mh, "h2", net.name)
    c = run(mh, "h1", net.name)
    try:
        wait.until(lambda: c.name in nbctl(mh, "--columns=external_ids", "list",
                                           "Logical_Switch_Port"), 10)
        # Docker gives drivers no veto on `network rm`: h2 drops its view, but the
        # network stays in the cluster while h1 uses it, and comes back on h2.
        there.remove()
        back = wait.until(lambda: next((n for n in mh.docker("h2").networks.list(
            names=[net.name]) if n.id != there.id), None), 15, what="network back on h2")
        assert back.attrs["IPAM"]["Config"][0]["Subnet"] == "10.90.8.0/24"
        log = open(f"{mh.cluster.host('h2').dir}/driver.log").read()
        assert f"still has 1 container(s): {c.name} on h1" in log
        d = run(mh, "h2", net.name)  # and it works there
        assert wait.until(lambda: pings(d, ip_of(c, net.name), 1, 2), 20)
        remove(d)
    finally:
        remove(c)
    # With no containers anywhere, removing it on one host removes it everywhere.
    mh.docker("h2").networks.get(net.name).remove()
    wait.until(lambda: not mh.docker("h1").networks.list(names=[net.name]), 15,
               what="network gone from h1")
    assert "dockovn_pool_10_90_8_0_24" not in nbctl(mh, "--columns=name", "list", "Address_Set")
    switches = nbctl(mh, "--columns=external_ids", "list", "Logical_Switch")
    assert net.id not in switches


def test_concurrent_address_requests_from_two_hosts_never_collide(mh):
    """Raw IpamDriver calls, 2 x 40 at once on one pool: NB serialises them."""
    h1, h2 = (PluginClient(f"{mh.cluster.host(h).plugins}/dockovn.sock") for h in ("h1", "h2"))
    status, pool = h1.call("IpamDriver.RequestPool", {"AddressSpace": "dockovn",
                                                      "Pool": "10.90.9.0/24"})
    assert status == 200 and pool["PoolID"] == "dockovn/10.90.9.0/24", pool
    clients = [h1, h2] * 40
    try:
        with ThreadPoolExecutor(max_workers=16) as pool_exec:
            replies = list(pool_exec.map(
                lambda cl: cl.call("IpamDriver.RequestAddress", {"PoolID": "dockovn/10.90.9.0/24"}),
                clients))
        addresses = [r["Address"] for status, r in replies if status == 200 and "Address" in r]
        assert len(addresses) == 80, [r for r in replies if "Address" not in r[1]][:3]
        assert len(set(addresses)) == 80
        members = nbctl(mh, "get", "Address_Set", "dockovn_pool_10_90_9_0_24", "addresses")
        assert all(a.split("/")[0] in members for a in addresses)
    finally:
        for a in addresses:
            h1.call("IpamDriver.ReleaseAddress", {"PoolID": "dockovn/10.90.9.0/24", "Address": a})
        h1.call("IpamDriver.ReleasePool", {"PoolID": "dockovn/10.90.9.0/24"})
    assert "10_90_9_0" not in nbctl(mh, "--columns=name", "list", "Address_Set")


def test_gateway_egress_routing_and_ipv6_across_hosts(mh, tmp_path):
    """Gateways on two hosts: the gateway answers on each, both reach an "outside"
    server on the underlay, a named router routes between networks across hosts,
    and IPv6 crosses the tunnel."""
    c = mh.cluster
    out_ns, www = multihost.PREFIX + "out", tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello-from-outside\n")
    multihost.sh("ip", "netns", "add", out_ns)
    multihost.sh("ip", "link", "add", "ul-out", "netns", c.central_ns, "type", "veth",
                 "peer", "name", "eth0", "netns", out_ns)
    multihost.in_ns(c.central_ns, "ip", "link", "set", "ul-out", "master", "ulbr", "up")
    multihost.in_ns(c.central_ns, "ethtool", "-K", "ul-out", "tx", "off")
    multihost.in_ns(out_ns, "ip", "addr", "add", f"{multihost.UNDERLAY}.100/24", "dev", "eth0")
    multihost.in_ns(out_ns, "ip", "link", "set", "eth0", "up")
    multihost.in_ns(out_ns, "busybox", "httpd", "-p", "8081", "-h", str(www))
    router = unique("r")
    nets = []
    for host, subnet, v6 in (("h1", "10.91.1.0/24", "fd00:91:1::/64"),
                             ("h2", "10.91.2.0/24", "fd00:91:2::/64")):
        ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
            sdk.types.IPAMPool(subnet=subnet), sdk.types.IPAMPool(subnet=v6)])
        nets.append(mh.docker(host).networks.create(unique("rt"), driver="dockovn", ipam=ipam,
                                                     enable_ipv6=True,
                                                     options={"dockovn.router": router}))
    for host in ("h1", "h2"):
        for n in nets:
            network_on(mh, host, n.name)
    a = run(mh, "h1", nets[0].name)
    a2 = run(mh, "h2", nets[0].name)
    b = run(mh, "h2", nets[1].name)
    try:
        for x in (a, a2, b):
            assert wait.until(lambda x=x: pings(x, "10.91.1.1" if x is not b else "10.91.2.1",
                                                1, 2), 20)  # each host answers its gateway
            code, body = sh_in(x, f"timeout 10 wget -q -O - http://{multihost.UNDERLAY}.100:8081/")
            assert code == 0 and "hello-from-outside" in body
        assert wait.until(lambda: pings(a, ip_of(b, nets[1].name), 1, 2), 20)  # h1 -> h2, routed
        assert pings(b, ip_of(a, nets[0].name))
        a2.reload()
        v6 = a2.attrs["NetworkSettings"]["Networks"][nets[0].name]["GlobalIPv6Address"]
        assert wait.until(lambda: sh_in(a, f"ping6 -c 1 -w 2 {v6}")[0] == 0, 20)  # across
    finally:
        remove(a, a2, b, *nets)
        for pid in multihost.sh("ip", "netns", "pids", out_ns, check=False).stdout.split():
            multihost.sh("kill", pid, check=False)
        multihost.sh("ip", "netns", "del", out_ns, check=False)


def test_central_outage_keeps_traffic_and_recovers(mh):
    import threading
    import time

    from dockovn.deploy import procs

    net = create_network(mh, "h1", "10.90.11.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    made = [a, b]
    try:
        target = ip_of(b, net.name)
        assert wait.until(lambda: pings(a, target, 1, 2), 20)
        procs.stop(f"{mh.cluster.central_dir}/ovnnb_db.pid")  # Northbound down
        result = {}
        pinger = threading.Thread(target=lambda: result.update(
            out=sh_in(a, f"ping -c 150 -i 0.2 {target}")[1]))
        pinger.start()
        # A request during the outage fails fast and says why; dockerd never hangs.
        t0 = time.monotonic()
        with pytest.raises(sdk.errors.APIError) as err:
            made.append(run(mh, "h1", net.name))
        assert time.monotonic() - t0 < 12
        assert "OVN central is unreachable" in str(err.value)
        pinger.join(60)  # 30 s of traffic while central is down
        assert " 0% packet loss" in result["out"], result["out"]
        # Central back (the same command a user runs): the drivers reconnect by themselves.
        multihost.dockovn(mh.cluster.central_ns, "central", "start",
                          *multihost.central_args(mh.cluster))

        def new_container():
            try:
                made.append(run(mh, "h2", net.name))
                return True
            except sdk.errors.APIError:
                return False

        assert wait.until(new_container, 40, step=1, what="requests work again")
        assert wait.until(lambda: pings(made[-1], ip_of(a, net.name), 1, 2), 20)
    finally:
        for c in mh.docker("h1").containers.list(all=True, filters={"network": net.name}):
            remove(c)
        for c in mh.docker("h2").containers.list(all=True, filters={"network": net.name}):
            remove(c)
        remove(net)


def test_harness_tears_down_and_starts_again(mh):
    mh.restart()
    net = create_network(mh, "h1", "10.90.10.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    try:
        assert wait.until(lambda: pings(a, ip_of(b, net.name), 1, 2), 20)
    finally:
        remove(a, b, net)
