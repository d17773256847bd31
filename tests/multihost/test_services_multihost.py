"""A service VIP across hosts: backends on both hosts, balanced from a client on one,
kept in step by both hosts' drivers at once, with OVN's health checks probing each
backend from the chassis that hosts it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.multihost.test_multihost import create_network, ip_of, network_on, remove, sh_in, unique
from tests.support import wait

pytestmark = pytest.mark.multihost

IMAGE = "dockovn/busybox"


def dockovn(mh, *args: str) -> str:
    c = mh.cluster
    done = subprocess.run([sys.executable, "-m", "dockovn", "service", *args, "--nb", c.nb,
                           "--ovs-db", c.host("h1").ovs_db], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def backend(mh, host: str, net: str, service: str):
    c = mh.docker(host).containers.run(
        IMAGE, "sleep 600", detach=True, network=net, name=unique(f"c-{host}"),
        labels={"dockovn.service": service, "dockovn.port": "8080"})
    code, out = sh_in(c, f"mkdir -p /www && echo {c.name} > /www/index.html && "
                         "httpd -p 8080 -h /www")
    assert code == 0, out
    return c


def fetch(c, url: str, count: int) -> list[str]:
    return sh_in(c, f"for i in $(seq {count}); do "
                    f"timeout 5 wget -q -O - {url} || echo FAIL; done")[1].split()


def test_vip_balances_across_hosts_and_health_checks_run_where_the_backend_is(mh):
    net = create_network(mh, "h1", "10.90.20.0/24")
    network_on(mh, "h2", net.name)
    service = unique("xsvc")
    made = []
    try:
        made += [backend(mh, "h1", net.name, service)]
        made += [backend(mh, "h2", net.name, service) for _ in range(2)]
        client = mh.docker("h1").containers.run(IMAGE, "sleep 600", detach=True,
                                                network=net.name, name=unique("cl"))
        made.append(client)
        backends = made[:3]
        vip = "10.90.20.250"
        dockovn(mh, "create", service, "--network", net.name, "--vip", f"{vip}:80",
                "--check-interval", "1")

        def instances() -> dict[str, dict]:
            rows = json.loads(dockovn(mh, "ls", "--json", "--sb", mh.cluster.sb))
            return {r["container"]: r for r in rows if r["service"] == service}

        # Registered by each host's own driver (labels), bound on each host's chassis.
        wait.until(lambda: len([r for r in instances().values() if r["healthy"] == "yes"]) == 3,
                   30, what="three healthy instances")
        assert {r["chassis"] for r in instances().values()} == {"h1", "h2"}

        answers = fetch(client, f"http://{vip}/", 60)
        assert "FAIL" not in answers and set(answers) == {b.name for b in backends}, \
            Counter(answers)

        # h2's ovn-controller probes h2's backends: stop one's server there.
        dead = backends[2]
        sh_in(dead, "kill $(pidof httpd)")
        wait.until(lambda: instances()[dead.name]["healthy"] == "no", 20, what="offline")

        def settled() -> bool:
            got = fetch(client, f"http://{vip}/", 10)
            return "FAIL" not in got and dead.name not in got

        wait.until(settled, 20, what="dead backend out of the VIP")
        answers = fetch(client, f"http://{vip}/", 30)
        assert "FAIL" not in answers and dead.name not in answers, Counter(answers)

        # A backend removed on h2 leaves the VIP (both drivers reconcile; they agree).
        gone_ip = ip_of(backends[1], net.name)
        remove(backends[1])
        wait.until(lambda: gone_ip not in {r["address"].split(":")[0]
                                           for r in instances().values()}, 20,
                   what="removed backend gone")
        answers = fetch(client, f"http://{vip}/", 20)
        assert answers == [backends[0].name] * 20
        dockovn(mh, "delete", service)
    finally:
        remove(*made)
        remove(net)
