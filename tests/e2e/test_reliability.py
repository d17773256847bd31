"""Faults, restarts, concurrency and security, through a real dockerd and OVN."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from dockovn.host import links
from dockovn.host.ovs import LocalSwitch
from dockovn.metrics.exporter import DEFAULT_ADDRESS as DEFAULT_METRICS_ADDRESS
from dockovn.metrics.exporter import parse_address
from dockovn.network import external_ids
from dockovn.network import identifiers

from tests.e2e.conftest import LABEL
from tests.e2e.test_overlay_single_host import (IMAGE, container, container_ports, endpoint_of,
                                               ip_of, network, pings, run_in, wait_bound)
from tests.support import wait

pytestmark = pytest.mark.e2e


def test_plugin_socket_is_root_only_and_no_tcp_listener(stack):
    driver = stack["driver"]
    st = os.stat(driver.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_uid == 0 and not st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_IROTH
    # The driver's process listens on no TCP port (the upstream one: 0.0.0.0:5000) but
    # its name server's, on the link-local address only this host's containers use, and
    # its metrics', on this host's loopback (containers cannot reach it).
    inodes = {os.readlink(f"/proc/{driver.proc.pid}/fd/{fd}")
              for fd in os.listdir(f"/proc/{driver.proc.pid}/fd")}
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                listening[f"socket:[{fields[9]}]"] = fields[1]
    ours = {listening[i] for i in inodes & set(listening)}
    name_server = socket.inet_aton("169.254.53.53")[::-1].hex().upper() + ":0035"
    host, port = parse_address(DEFAULT_METRICS_ADDRESS)
    metrics = socket.inet_aton(host)[::-1].hex().upper() + f":{port:04X}"
    assert host == "127.0.0.1" and ours <= {name_server, metrics}, ours


def test_spoofed_mac_and_ip_never_reach_the_peer(client, nb, cleanup):
    net = network(client, cleanup, "10.53.0.0/24")
    victim = container(client, cleanup, net)
    attacker = container(client, cleanup, net, cap_add=["NET_ADMIN", "NET_RAW"])
    wait_bound(nb, endpoint_of(victim, net), endpoint_of(attacker, net))
    target = ip_of(victim, net)
    assert pings(attacker, target)  # the honest path works
    # Spoofed source IP: an address the port was not given.
    run_in(attacker, "ip addr add 10.53.0.99/24 dev eth0")
    assert run_in(attacker, f"ping -c 3 -w 5 -I 10.53.0.99 {target}")[0] != 0
    run_in(attacker, "ip addr del 10.53.0.99/24 dev eth0")
    # Spoofed source MAC: the port security pins the MAC too.
    run_in(attacker, "ip link set eth0 down; ip link set eth0 address 02:de:ad:be:ef:01; "
                     "ip link set eth0 up; ip route add default dev eth0 2>/dev/null; true")
    assert not pings(attacker, target)
    # ...and the victim never saw a packet from either spoofed source.
    _, neigh = run_in(victim, "ip neigh")
    assert "10.53.0.99" not in neigh and "02:de:ad:be:ef:01" not in neigh


def test_fifty_containers_at_once(client, nb, cleanup):
    net = network(client, cleanup, "10.54.0.0/24")
    with ThreadPoolExecutor(max_workers=25) as pool:
        made = list(pool.map(lambda _: container(client, cleanup, net), range(50)))
    ips = [ip_of(c, net) for c in made]
    macs = [c.attrs["NetworkSettings"]["Networks"][net.name]["MacAddress"] for c in made]
    assert len(set(ips)) == 50 and len(set(macs)) == 50
    wait_bound(nb, *[endpoint_of(c, net) for c in made])
    others = " ".join(ips[1:])
    _, out = run_in(made[0], f"for ip in {others}; do ping -c 1 -w 5 $ip >/dev/null "
                             f"|| echo FAIL $ip; done")
    assert "FAIL" not in out, out
    assert len(container_ports(nb, net.id)) == 50


def _plant_stale_state(nb, host_id: str, switch_name: str) -> dict:
    """What a crash leaves: a port with no container, an OVS port and veth for a
    dead endpoint, a veth on no bridge, a pool no network uses, an alias of the network
    this host's dockerd no longer has; and an alias a CreateNetwork just added (its
    dockerd has not stored the network yet), which is not stale."""
    dead_lsp, dead_plugged = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    old = str(int(time.time()) - 3600)
    nb.add_port(switch_name, dead_lsp, ["0a:58:0a:37:00:c8 10.55.0.200"],
                ["0a:58:0a:37:00:c8 10.55.0.200"],
                {external_ids.HOST: host_id, external_ids.NETWORK_ID: switch_name, external_ids.CREATED_AT: old})
    outer, inner = identifiers.veth_names(dead_plugged)
    links.create_veth(outer, inner, "0a:58:0a:37:00:c9", 1442)
    ovs = LocalSwitch()
    try:
        ovs.plug(outer, {"iface-id": dead_plugged, external_ids.OVS_ENDPOINT: dead_plugged})
    finally:
        ovs.close()
    loose, loose_peer = "dov" + uuid.uuid4().hex[:12], "dvc" + uuid.uuid4().hex[:12]
    links.create_veth(loose, loose_peer, "0a:58:0a:37:00:ca", 1442)
    nb.create_pool("dockovn_pool_10_56_0_0_24", {"dockovn:subnet": "10.56.0.0/24",
                                                 external_ids.CREATED_AT: old})
    gone_alias, young_alias = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    nb.set_switch_ids(switch_name, {
        external_ids.DOCKER_ID_PREFIX + gone_alias: external_ids.alias_value(host_id, float(old)),
        external_ids.DOCKER_ID_PREFIX + young_alias: external_ids.alias_value(host_id, time.time())})
    return {"lsp": dead_lsp, "plugged": outer, "loose": loose,
            "pool": "dockovn_pool_10_56_0_0_24", "gone alias": gone_alias,
            "young alias": young_alias}


def test_gc_dry_run_then_remove(stack, client, nb, cleanup):
    net = network(client, cleanup, "10.55.0.0/24")
    live = container(client, cleanup, net)
    host_id = LocalSwitch().system_id()
    planted = _plant_stale_state(nb, host_id, net.id)
    gc = [sys.executable, "-m", "dockovn", "gc", "--min-age", "30"]
    dry = subprocess.run(gc + ["--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    for what in (planted["lsp"][:40], planted["plugged"], planted["loose"], planted["pool"],
                 "network alias"):
        assert what in dry.stdout
    assert dry.stdout.count("network alias") == 1, dry.stdout  # not the young one
    assert nb.port(planted["lsp"]) is not None and links.exists(planted["loose"])  # untouched
    done = subprocess.run(gc, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "removed" in done.stdout, done.stdout + done.stderr
    wait.until(lambda: nb.port(planted["lsp"]) is None and nb.pool(planted["pool"]) is None)
    assert not links.exists(planted["plugged"]) and not links.exists(planted["loose"])
    ids = nb.switch(net.id).external_ids
    assert external_ids.DOCKER_ID_PREFIX + planted["gone alias"] not in ids
    assert external_ids.DOCKER_ID_PREFIX + planted["young alias"] in ids
    # The live container was spared, and still works.
    assert nb.port(endpoint_of(live, net)) is not None
    again = subprocess.run(gc, capture_output=True, text=True, timeout=60)
    assert "nothing stale" in again.stdout


def test_driver_kill_9_traffic_keeps_flowing_and_restart_reconciles(stack, client, nb, cleanup):
    driver = stack["driver"]
    net = network(client, cleanup, "10.57.0.0/24")
    made = [container(client, cleanup, net) for _ in range(20)]
    wait_bound(nb, *[endpoint_of(c, net) for c in made])
    a, b = made[0], made[1]
    target = ip_of(b, net)
    result = {}
    pinger = threading.Thread(target=lambda: result.update(
        out=run_in(a, f"ping -c 40 -i 0.1 {target}")[1]))
    pinger.start()
    time.sleep(1)
    driver.proc.kill()  # kill -9: no cleanup at all
    driver.proc.wait()
    pinger.join(30)
    assert " 0% packet loss" in result["out"], result["out"]  # the datapath never noticed
    planted = _plant_stale_state(nb, LocalSwitch().system_id(), net.id)
    # Start again (as systemd would): the stale socket is replaced, gc runs at start.
    driver.args = ("--pidfile", "/var/run/dockovn/driver.pid", "--gc-min-age", "30",
                   "--gc-interval", "0")
    driver.start()
    wait.until(lambda: nb.port(planted["lsp"]) is None and not links.exists(planted["loose"])
               and not links.exists(planted["plugged"]) and nb.pool(planted["pool"]) is None,
               30, what="stale state reconciled at start")
    # Everything that was running is still there and reachable, and new work goes on.
    assert all(nb.port(endpoint_of(c, net)) is not None for c in made)
    fresh = container(client, cleanup, net)
    wait_bound(nb, endpoint_of(fresh, net))
    assert pings(fresh, target)


def test_killed_containers_and_dockerd_restart(stack, client, nb, cleanup):
    from dockovn.deploy import dockerd

    net = network(client, cleanup, "10.58.0.0/24")
    # SIGKILL as stop signal: busybox's sleep as PID 1 ignores SIGTERM.
    keep = [container(client, cleanup, net, restart_policy={"Name": "always"},
                      stop_signal="SIGKILL") for _ in range(2)]
    doomed = container(client, cleanup, net, stop_signal="SIGKILL")
    wait_bound(nb, *[endpoint_of(c, net) for c in keep + [doomed]])
    doomed_ep = endpoint_of(doomed, net)
    doomed.kill()
    wait.until(lambda: nb.port(doomed_ep) is None, 15, what="killed container's port removed")
    assert not links.exists(identifiers.veth_names(doomed_ep)[0])

    dockerd.stop()
    dockerd.start()
    client.close()  # a new connection to the new dockerd
    for c in keep:
        wait.until(lambda c=c: (c.reload() or c.status == "running"), 60,
                   what="restart-policy container back")
    eps = [endpoint_of(c, net) for c in keep]
    wait_bound(nb, *eps)
    # Connected again, and the switch holds exactly the live endpoints: nothing left
    # behind by the containers' previous lives or the killed one.
    assert pings(keep[0], ip_of(keep[1], net))
    wait.until(lambda: set(container_ports(nb, net.id)) == set(eps),
               what="exactly the live endpoints in NB")


# 150 cycles with 5 kills (a kill every ~30 cycles); `DOCKOVN_SOAK_CYCLES=2000` for a
# longer soak (a kill every 100 cycles then).
SOAK_CYCLES = int(os.environ.get("DOCKOVN_SOAK_CYCLES", "150"))
SOAK_KILLS = max(5, SOAK_CYCLES // 100)


def test_soak_create_delete_with_random_driver_kills(stack, client, nb, cleanup):
    """Container create/delete cycles, 4 at a time, while the driver is killed -9 and
    restarted at random moments; then `dockovn gc`. Nothing may leak."""
    import random

    driver = stack["driver"]
    net = network(client, cleanup, "10.59.0.0/24")
    rng = random.Random(1234)
    kill_at = set(rng.sample(range(20, SOAK_CYCLES - 20), k=SOAK_KILLS))
    failures = []
    lock = threading.Lock()

    def cycle(i: int) -> None:
        if i in kill_at:
            with lock:
                driver.proc.kill()
                driver.proc.wait()
                driver.start()  # as systemd's Restart=on-failure would
        try:
            c = client.containers.run(IMAGE, "sleep 60", detach=True, network=net.name,
                                      labels={LABEL: "1"}, stop_signal="SIGKILL")
            c.remove(force=True)
        except Exception as exc:  # a request caught by a kill: Docker reports it
            failures.append(str(exc)[:200])

    driver.args = ("--pidfile", "/var/run/dockovn/driver.pid", "--gc-min-age", "-1")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(cycle, range(SOAK_CYCLES)))
    for c in client.containers.list(all=True, filters={"label": LABEL, "network": net.name}):
        c.remove(force=True)
    gc = subprocess.run([sys.executable, "-m", "dockovn", "gc", "--min-age", "0"],
                        capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    print(f"soak: {SOAK_CYCLES} cycles, {len(kill_at)} kills, {len(failures)} failed requests, "
          f"gc: {gc.stdout.count('removed')} item(s) removed")
    # Nothing leaked: no ports on the network, no OVS ports, no unplugged veths.
    assert container_ports(nb, net.id) == []
    ovs = LocalSwitch()
    try:
        assert [p for p in ovs.ports() if p.external_ids.get(external_ids.OVS_NETWORK) == net.id] == []
        on_ovs = ovs.all_port_names()
    finally:
        ovs.close()
    assert [n for n in links.names_with_prefix(identifiers.OUTER_PREFIX) if n not in on_ovs] == []
    pool = nb.pool("dockovn_pool_10_59_0_0_24")
    assert pool is None  # Docker's default IPAM on this network: no dockovn pool involved
    driver.args = ("--pidfile", "/var/run/dockovn/driver.pid")
