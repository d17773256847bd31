"""Services through a real dockerd and OVN: the registry filled from container
labels, a load-balanced VIP with OVN health checks, and the client-side balancer
running inside a container's network namespace."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from dockovn.deploy.central import CentralConfig
from dockovn.network import external_ids
from dockovn.network.services.manager import Services
from dockovn.network.services.model import responder_names
from dockovn.ovn.sb import Southbound

from tests.e2e.conftest import LABEL
from tests.e2e.test_overlay_single_host import (IMAGE, docker, endpoint_of, ip_of, network,
                                               run_in, unique, wait_bound)
from tests.support import wait

pytestmark = pytest.mark.e2e

# Unix sockets are not network-namespaced: a process inside a container's network
# namespace reaches NB through this, while NB's TCP address is on the host's loopback.
NB_UNIX = f"unix:{CentralConfig().sock('nb')}"
SB_UNIX = f"unix:{CentralConfig().sock('sb')}"


def dockovn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "dockovn", *args], capture_output=True,
                          text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"dockovn {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def started(client, cleanup, net, labels: dict[str, str] | None = None):
    c = client.containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                              name=unique("c"), labels={LABEL: "1", **(labels or {})})
    cleanup.append(c)
    return c


def backend(client, cleanup, net, service: str, port: int = 8080):
    """A busybox httpd answering its own container name, labelled as an instance."""
    c = started(client, cleanup, net, {"dockovn.service": service, "dockovn.port": str(port)})
    code, out = run_in(c, f"mkdir -p /www && echo {c.name} > /www/index.html && "
                          f"httpd -p {port} -h /www")
    assert code == 0, out
    return c


def stop_httpd(c) -> None:
    code, out = run_in(c, "kill $(pidof httpd)")
    assert code == 0, out


def registered(nb, c, net, service: str) -> bool:
    port = nb.port(endpoint_of(c, net))
    return bool(port and port.up and port.external_ids.get(external_ids.SERVICE) == service
                and port.external_ids.get(external_ids.CONTAINER_NAME) == c.name)


def fetch(client_c, url: str, count: int) -> list[str]:
    """``count`` GETs from inside the container, one wget each (a new connection,
    so a new source port and a new balancing decision); "FAIL" for a failed one."""
    code, out = run_in(client_c, f"for i in $(seq {count}); do "
                                 f"timeout 5 wget -q -O - {url} || echo FAIL; done")
    return out.split()


def service_rows(service: str) -> list[dict]:
    return [r for r in json.loads(dockovn("service", "ls", "--json").stdout)
            if r["service"] == service]


# -- (a) the registry from labels -----------------------------------------------------------


def test_labels_fill_the_registry_and_service_ls_shows_it(client, nb, cleanup):
    net = network(client, cleanup, "10.87.0.0/24")
    service = unique("reg")
    a = started(client, cleanup, net, {"dockovn.service": service, "dockovn.port": "8080"})
    b = started(client, cleanup, net, {"dockovn.service": service, "dockovn.port": "8081"})
    bad = started(client, cleanup, net, {"dockovn.service": service, "dockovn.port": "http"})
    plain = started(client, cleanup, net)
    wait_bound(nb, *(endpoint_of(c, net) for c in (a, b, bad, plain)))
    for c in (a, b):
        wait.until(lambda c=c: registered(nb, c, net, service), 10, what=f"{c.name} registered")
    for c, number in ((a, "8080"), (b, "8081")):
        assert nb.port(endpoint_of(c, net)).external_ids[external_ids.SERVICE_PORT] == number
    # A wrong label is skipped (and logged); the container is still named.
    wait.until(lambda: nb.port(endpoint_of(bad, net)).external_ids.get(external_ids.CONTAINER_NAME)
               == bad.name, 10, what="bad-label container named")
    assert external_ids.SERVICE not in nb.port(endpoint_of(bad, net)).external_ids

    # By hand: `service add` for a container without labels (`service remove` below).
    wait.until(lambda: nb.port(endpoint_of(plain, net)).external_ids.get(external_ids.CONTAINER_NAME)
               == plain.name, 10, what="plain container named")
    wait.until(lambda: nb.switch(net.id).external_ids.get(external_ids.NETWORK_NAME) == net.name, 10,
               what="network named")
    dockovn("service", "add", service, "--container", plain.name, "--port", "9000")

    rows = service_rows(service)
    assert {(r["container"], r["address"]) for r in rows} == {
        (a.name, f"{ip_of(a, net)}:8080"), (b.name, f"{ip_of(b, net)}:8081"),
        (plain.name, f"{ip_of(plain, net)}:9000")}
    for r in rows:
        assert r["network"] == net.name and r["chassis"] and r["vip"] == ""
        assert r["healthy"] == "-"  # no VIP, so no OVN health check
    table = dockovn("service", "ls").stdout
    for c, number in ((a, 8080), (b, 8081), (plain, 9000)):
        assert c.name in table and f"{ip_of(c, net)}:{number}" in table

    dockovn("service", "remove", service, "--container", plain.name)
    wait.until(lambda: external_ids.SERVICE not in nb.port(endpoint_of(plain, net)).external_ids,
               10, what="plain container out of the registry")
    refused = dockovn("service", "add", "not_a_hostname", "--container", plain.name,
                      "--port", "80", check=False)
    assert refused.returncode != 0 and "service name" in refused.stderr


# -- (b) balancing in the datapath: OVN Load_Balancer + health checks ------------------------------


def test_vip_balances_over_every_backend_and_health_checks_drop_a_dead_one(client, nb, cleanup):
    net = network(client, cleanup, "10.88.0.0/24")
    service = unique("web")
    backends = [backend(client, cleanup, net, service) for _ in range(3)]
    cl = started(client, cleanup, net)
    wait_bound(nb, *(endpoint_of(c, net) for c in (*backends, cl)))
    for c in backends:
        wait.until(lambda c=c: registered(nb, c, net, service), 10, what=f"{c.name} registered")

    vip = "10.88.0.250"
    out = dockovn("service", "create", service, "--network", net.name, "--vip", f"{vip}:80",
                  "--port", "8080", "--check-interval", "1").stdout
    assert "3 backend(s)" in out
    services = Services(nb)
    sb = Southbound(SB_UNIX)
    try:
        [slb] = [s for s in services.service_lbs() if s.service == service]
        assert slb.health_ip == "10.88.0.254"  # highest free address: Docker's IPAM is lowest-first
        ips = sorted((ip_of(c, net) for c in backends), key=ipaddress.IPv4Address)
        want = ",".join(f"{ip}:8080" for ip in ips)
        assert slb.lb.vips == {f"{vip}:80": want}
        assert slb.lb.switches == (net.id,)

        # 60 requests, each answered, and every backend answers some.
        answers = fetch(cl, f"http://{vip}/", 60)
        assert "FAIL" not in answers and len(answers) == 60
        assert set(answers) == {c.name for c in backends}, Counter(answers)

        # A backend whose server dies (the container stays, so the registry keeps it):
        # OVN's health check takes it out.
        dead = backends[1]
        monitor = (endpoint_of(dead, net), ip_of(dead, net), 8080)
        stop_httpd(dead)
        stopped_at = time.monotonic()

        def settled() -> bool:
            # OVN says so (SB Service_Monitor), and the datapath agrees.
            if sb.service_monitors().get(monitor) != "offline":
                return False
            got = fetch(cl, f"http://{vip}/", 10)
            return "FAIL" not in got and dead.name not in got

        wait.until(settled, 20, what="dead backend out of the VIP")
        window = time.monotonic() - stopped_at
        print(f"dead backend out of the VIP {window:.1f}s after its server stopped")
        assert window < 10, f"health checks took {window:.1f}s"
        answers = fetch(cl, f"http://{vip}/", 30)
        assert "FAIL" not in answers and dead.name not in answers, Counter(answers)
        health = {r["container"]: r["healthy"] for r in service_rows(service)}
        assert health[dead.name] == "no"
        assert health[backends[0].name] == "yes" and health[backends[2].name] == "yes"

        # A backend container that is killed: its port goes, and the backends follow.
        gone = backends[2]
        gone_ip = ip_of(gone, net)
        gone.kill()
        wait.until(lambda: gone_ip not in next(
            s.lb.vips[f"{vip}:80"] for s in services.service_lbs() if s.service == service),
            15, what="killed backend removed from the VIP")
        answers = fetch(cl, f"http://{vip}/", 20)
        assert answers == [backends[0].name] * 20

        # A new instance joins by its labels alone.
        newcomer = backend(client, cleanup, net, service)
        wait.until(lambda: ip_of(newcomer, net) in next(
            s.lb.vips[f"{vip}:80"] for s in services.service_lbs() if s.service == service),
            15, what="new backend in the VIP")
        answers = fetch(cl, f"http://{vip}/", 30)
        assert "FAIL" not in answers and set(answers) == {backends[0].name, newcomer.name}

        dockovn("service", "delete", service)
        router, _, switch_port = responder_names(service, net.id)
        # The CLI's commit reaches this test's copy of NB a moment later.
        wait.until(lambda: not [s for s in services.service_lbs() if s.service == service]
                   and nb.port(switch_port) is None
                   and nb.api.lookup("Logical_Router", router, default=None) is None,
                   what="the VIP, its responder port and router gone")
        # Without the VIP the instances stay registered, for client-side balancing.
        assert {r["vip"] for r in service_rows(service)} == {""}
    finally:
        sb.close()
        if [s for s in services.service_lbs() if s.service == service]:
            services.delete(service)


def test_vip_on_dockovn_ipam_reserves_its_addresses(stack, client, nb, cleanup):
    name = unique("ipam")
    docker("network", "create", "-d", "dockovn", "--ipam-driver", "dockovn",
           "--subnet", "10.89.0.0/24", name)
    net = client.networks.get(name)
    cleanup.append(net)
    service = unique("svc")
    dockovn("service", "create", service, "--network", name, "--vip", "10.89.0.250:80")
    pool = nb.pool("dockovn_pool_10_89_0_0_24")
    assert {"10.89.0.250", "10.89.0.254"} <= pool.addresses
    taken = docker("run", "-d", f"--net={name}", "--ip=10.89.0.250", f"--label={LABEL}=1",
                   IMAGE, "sleep", "60", check=False)
    assert taken.returncode != 0 and "10.89.0.250 is already in use" in taken.stderr
    for c in client.containers.list(all=True, filters={"network": name}):
        c.remove(force=True)  # docker run leaves the container it could not start
    again = dockovn("service", "create", unique("svc"), "--network", name, "--vip",
                    "10.89.0.250:81", check=False)
    assert again.returncode != 0 and "10.89.0.250" in again.stderr
    dockovn("service", "delete", service)
    pool = nb.pool("dockovn_pool_10_89_0_0_24")
    assert not {"10.89.0.250", "10.89.0.254"} & pool.addresses


# -- (c) the client-side balancer, from inside a container's network namespace ------------------


BALANCER_SCRIPT = textwrap.dedent("""
    import json, sys, time, urllib.request
    from dockovn.balancer import AvailabilityFilteringRule, LoadBalancerClient, NbRegistry

    nb, service, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    registry = NbRegistry(nb)
    lb = LoadBalancerClient(registry, rule=AvailabilityFilteringRule(), retries_next=2)

    def get(instance):
        url = lb.reconstruct_uri(instance, f"http://{service}/")
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.read().decode().strip()

    def until(count):
        deadline = time.monotonic() + 15
        while len(registry.instances(service)) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(registry.instances(service))

    def report(answers):
        stats = {i.metadata["container-name"]: lb.stats.snapshot(i).failures
                 for i in registry.instances(service)}
        print(json.dumps({"answers": answers, "failures": stats}), flush=True)

    until(expected)
    report([lb.execute(service, get) for _ in range(30)])
    sys.stdin.readline()          # the test stopped one instance's server
    report([lb.execute(service, get) for _ in range(30)])
    sys.stdin.readline()          # the test killed another instance's container
    left = until(expected - 1)
    report([lb.execute(service, get) for _ in range(10)] if left == expected - 1 else [])
    registry.close()
""")


def test_client_side_balancer_in_a_container_namespace(client, nb, cleanup):
    net = network(client, cleanup, "10.90.0.0/24")
    service = unique("api")
    backends = [backend(client, cleanup, net, service) for _ in range(3)]
    cl = started(client, cleanup, net)
    wait_bound(nb, *(endpoint_of(c, net) for c in (*backends, cl)))
    for c in backends:
        wait.until(lambda c=c: registered(nb, c, net, service), 10, what=f"{c.name} registered")
    cl.reload()
    # The venv's Python, in the client container's network namespace only: it
    # reaches the overlay addresses like the container does, and NB by unix socket.
    proc = subprocess.Popen(
        ["nsenter", "-t", str(cl.attrs["State"]["Pid"]), "-n", sys.executable, "-c",
         BALANCER_SCRIPT, NB_UNIX, service, "3"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def phase(line: str | None = None) -> dict:
            if line is not None:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            out = proc.stdout.readline()
            if not out:
                raise AssertionError(f"balancer script ended: {proc.stderr.read()}")
            return json.loads(out)

        first = phase()
        names = {c.name for c in backends}
        assert len(first["answers"]) == 30 and set(first["answers"]) == names
        # Round robin over the same three: an even spread.
        assert set(Counter(first["answers"]).values()) == {10}

        dead = backends[0]
        stop_httpd(dead)
        second = phase("stopped")
        # Every call succeeded (failed over to another instance), none from the dead one,
        # and the client did try it and count the failures (then its circuit opened).
        assert len(second["answers"]) == 30 and dead.name not in second["answers"]
        assert set(second["answers"]) == names - {dead.name}
        assert 1 <= second["failures"][dead.name] <= 5

        killed = backends[1]
        killed.kill()
        third = phase("killed")
        # The registry dropped the killed container (its port is gone from NB).
        assert third["answers"] == [backends[2].name] * 10
        assert killed.name not in third["failures"]
    finally:
        proc.kill()
        proc.wait()
