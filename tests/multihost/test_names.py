"""Names across hosts, asserted from inside containers with busybox's nslookup, ping
and wget, through each container's usual resolver (Docker's embedded DNS; no --dns)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import docker as sdk
import pytest

from dockovn.deploy import procs

from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, network_on, run,
                                            sh_in, unique)
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

UPSTREAM_NAME, UPSTREAM_ADDRESS = "outside.example.test", "203.0.113.7"


def lookup(c, name: str, kind: str = "a") -> list[str]:
    """The addresses ``c`` gets for ``name`` (busybox nslookup through 127.0.0.11)."""
    code, out = sh_in(c, f"timeout 8 nslookup -type={kind} {name}")
    answers = out.split("Non-authoritative answer:")[-1] if "answer:" in out else out
    found = re.findall(r"Address:\s*([0-9a-f.:]+)\s*$", answers, re.M)
    return sorted(a for a in found if a != "127.0.0.11" and not a.endswith(":53"))


def named(mh, host: str, net: str, name: str, aliases=(), image_cmd="sleep 600"):
    api = mh.docker(host).api
    made = api.create_container(
        IMAGE, image_cmd, name=name, host_config=api.create_host_config(network_mode=net),
        networking_config=api.create_networking_config(
            {net: api.create_endpoint_config(aliases=list(aliases))}))
    c = mh.docker(host).containers.get(made["Id"])
    c.start()
    return c


@pytest.fixture(scope="module")
def names_net(mh):
    net = create_network(mh, "h1", "10.90.50.0/24")
    network_on(mh, "h2", net.name)
    yield net
    for host in ("h1", "h2"):
        for c in mh.docker(host).containers.list(all=True, filters={"network": net.name}):
            remove(c)
    remove(net)


def test_a_container_on_another_host_resolves_by_name_alias_and_network(mh, names_net):
    net = names_net.name
    web = named(mh, "h2", net, unique("web"), aliases=["api"],
                image_cmd="sh -c 'mkdir -p /www && echo hello-by-name > /www/index.html "
                          "&& httpd -f -p 80 -h /www'")
    client = run(mh, "h1", net)
    try:
        address = ip_of(web, net)
        assert wait.until(lambda: lookup(client, web.name) == [address], 10,
                          what=f"{web.name} resolving on h1")
        assert lookup(client, "api") == [address]
        assert lookup(client, f"{web.name}.{net}") == [address]
        # (the first packets may wait for the port to be bound on h2)
        assert wait.until(lambda: sh_in(client, f"ping -c 1 -W 1 {web.name}")[0] == 0, 20,
                          what=f"ping {web.name}")
        code, body = sh_in(client, f"timeout 10 wget -q -O - http://{web.name}/")
        assert code == 0 and "hello-by-name" in body
        # Reverse: the address gives the container's name on the network.
        code, out = sh_in(client, f"timeout 8 nslookup {address}")
        assert f"{web.name}.{net}".lower() in out.lower(), out
    finally:
        remove(web, client)


def test_an_alias_shared_by_containers_elsewhere_gives_every_address(mh, names_net):
    net = names_net.name
    members = [named(mh, "h2", net, unique("m"), aliases=["pool"]) for _ in range(2)]
    client = run(mh, "h1", net)
    try:
        want = sorted(ip_of(m, net) for m in members)
        assert wait.until(lambda: lookup(client, "pool") == want, 10,
                          what="both members of the alias")
        # With a member on the asking host too, Docker answers from what it knows
        # itself (its own answers win; it asks no further): the local member.
        local = named(mh, "h1", net, unique("m"), aliases=["pool"])
        members.append(local)
        assert wait.until(lambda: lookup(client, "pool") == [ip_of(local, net)], 10)
    finally:
        remove(*members, client)


CROWD = 40  # members of one alias: their answer is more than a 512-byte UDP reply holds

# A resolver's query through Docker's embedded DNS, run in a container's namespace:
# over UDP (what it says, and whether it was cut) and over TCP (the whole answer).
ASK = r"""
import sys, dns.flags, dns.message, dns.query, dns.rcode, dns.rdatatype
q = dns.message.make_query(sys.argv[1], dns.rdatatype.A)
udp = dns.query.udp(q, "127.0.0.11", timeout=5, raise_on_truncation=False)
tcp = dns.query.tcp(q, "127.0.0.11", timeout=5)
def addrs(r): return ",".join(sorted(x.to_text() for rr in r.answer for x in rr))
print(dns.rcode.to_text(udp.rcode()), int(bool(udp.flags & dns.flags.TC)), addrs(udp))
print(dns.rcode.to_text(tcp.rcode()), addrs(tcp))
"""


def test_an_alias_with_many_members_answers_whole_over_tcp_and_cut_over_udp(mh, names_net):
    net = names_net.name
    members = [named(mh, "h2", net, unique("crowd"), aliases=["crowd"]) for _ in range(CROWD)]
    client = run(mh, "h1", net)
    try:
        want = sorted(ip_of(m, net) for m in members)
        pid = mh.docker("h1").api.inspect_container(client.id)["State"]["Pid"]

        def asked() -> tuple[list[str], list[str]]:
            done = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", ASK,
                                   "crowd"], capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr[-2000:]
            return [line.split(" ") for line in done.stdout.splitlines()]

        def whole() -> bool:
            _, tcp = asked()
            return tcp[0] == "NOERROR" and sorted(tcp[1].split(",")) == want
        assert wait.until(whole, 20, what=f"all {CROWD} members over TCP")
        udp, _ = asked()
        # Over UDP: no "no such name"; what fits, flagged as cut, so resolvers ask again
        # over TCP. (busybox's nslookup does not; it shows the part that came.)
        assert udp[0] == "NOERROR" and udp[1] == "1", udp
        part = udp[2].split(",")
        assert 0 < len(part) < CROWD and set(part) <= set(want)
        assert set(lookup(client, "crowd")) <= set(want) and lookup(client, "crowd")
    finally:
        remove(*members, client)


def test_names_follow_rm_rename_and_disconnect(mh, names_net):
    net = names_net.name
    client = run(mh, "h1", net)
    gone, renamed, leaving, dying = (run(mh, "h2", net) for _ in range(4))
    try:
        for c in (gone, renamed, leaving, dying):
            assert wait.until(lambda c=c: lookup(client, c.name) == [ip_of(c, net)], 10)
        old_name = renamed.name
        renamed.rename(unique("renamed"))
        renamed.reload()
        mh.docker("h2").networks.get(net).disconnect(leaving)
        remove(gone)
        dying.kill()  # its process dies; the container stays (exited)
        for name in (gone.name, old_name, leaving.name, dying.name):
            assert wait.until(lambda name=name: lookup(client, name) == [], 10,
                              what=f"{name} no longer resolving")
        assert wait.until(lambda: lookup(client, renamed.name) == [ip_of(renamed, net)], 10)
    finally:
        remove(client, gone, renamed, leaving, dying)


def test_external_names_unknown_names_and_local_answers_are_as_on_docker(mh, names_net):
    net = names_net.name
    dup = unique("dup")
    local = named(mh, "h1", net, dup + "-1", aliases=[dup])
    remote = named(mh, "h2", net, dup + "-2", aliases=[dup])
    client = run(mh, "h1", net)
    try:
        # External names go to the host's upstream as before.
        assert lookup(client, UPSTREAM_NAME) == [UPSTREAM_ADDRESS]
        # A name nobody has fails at once, as on Docker's bridge.
        started = time.monotonic()
        code, out = sh_in(client, "timeout 8 nslookup nosuchname-anywhere")
        assert code != 0 and time.monotonic() - started < 4, out
        # Docker's own (local) answer wins for a name it knows.
        assert wait.until(lambda: lookup(client, dup + "-2") == [ip_of(remote, net)], 10)
        assert lookup(client, dup) == [ip_of(local, net)]
    finally:
        remove(local, remote, client)


def test_names_of_a_network_are_not_answered_on_another(mh, names_net):
    other = create_network(mh, "h1", "10.90.51.0/24")
    network_on(mh, "h2", other.name)
    secret = run(mh, "h2", names_net.name)
    outsider = run(mh, "h1", other.name)
    insider = run(mh, "h1", names_net.name)
    try:
        assert wait.until(lambda: lookup(insider, secret.name) == [ip_of(secret, names_net.name)],
                          10)
        assert lookup(outsider, secret.name) == []
    finally:
        remove(secret, outsider, insider, other)


def test_dual_stack_names_answer_aaaa(mh):
    ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
        sdk.types.IPAMPool(subnet="10.90.52.0/24"), sdk.types.IPAMPool(subnet="fd00:90:52::/64")])
    net = mh.docker("h1").networks.create(unique("v6"), driver="dockovn", ipam=ipam,
                                          enable_ipv6=True)
    network_on(mh, "h2", net.name)
    target = run(mh, "h2", net.name)
    client = run(mh, "h1", net.name)
    try:
        target.reload()
        v6 = target.attrs["NetworkSettings"]["Networks"][net.name]["GlobalIPv6Address"]
        assert wait.until(lambda: lookup(client, target.name, "aaaa") == [v6], 10)
        assert lookup(client, target.name, "a") == [ip_of(target, net.name)]
    finally:
        remove(target, client, net)


def test_driver_killed_then_back_and_central_unreachable(mh, names_net):
    net = names_net.name
    target = run(mh, "h2", net)
    client = run(mh, "h1", net)
    h1 = mh.cluster.host("h1")
    try:
        assert wait.until(lambda: lookup(client, target.name) == [ip_of(target, net)], 10)
        # Central unreachable: names already published keep resolving (local NB cache).
        procs.stop(f"{mh.cluster.central_dir}/ovnnb_db.pid")
        try:
            assert lookup(client, target.name) == [ip_of(target, net)]
        finally:
            multihost.dockovn(mh.cluster.central_ns, "central", "start",
                              *multihost.central_args(mh.cluster))
        # The driver killed: cross-host names stop, external names go on; back with it.
        multihost.sh("kill", "-9", str(procs.read_pid(h1.pidfile("driver"))))
        assert lookup(client, target.name) == []
        assert lookup(client, UPSTREAM_NAME) == [UPSTREAM_ADDRESS]
        multihost.restart_driver(h1)
        assert wait.until(lambda: lookup(client, target.name) == [ip_of(target, net)], 20,
                          what="names back with the driver")
    finally:
        remove(target, client)
