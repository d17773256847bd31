"""Encrypted tunnels on the harness (`central start --encrypt-tunnels`; hosts joined with
`dockovn host join`, which set up WireGuard): what crosses the underlay between the hosts
is WireGuard only, never Geneve nor a known payload in the clear; names, full-size
packets, policy, services and published ports work across hosts; keys rotate by one
command under traffic without a lost packet; a host without encryption exchanges
nothing with the others and doctor says why; a revoked host loses its peers, and comes
back joined again. The cluster is the one the Raft tests and the fault suite use (a
three-member central)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import pytest

from dockovn.deploy.encryption.datapath import device_name
from dockovn.host import wireguard

from tests.multihost import test_policy as pol
from tests.multihost import test_services_multihost as svc
from tests.multihost.test_doctor import doctor
from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, network_on, pings,
                                            run, sh_in, unique)
from tests.multihost.test_names import lookup, named
from tests.support import multihost, probes, wait
from tests.support.docker_objects import remove
from tests.support.outside import Outside

pytestmark = pytest.mark.multihost

HARNESS = {"members": 3, "encrypted": True}  # conftest.harness


@pytest.fixture(scope="module")
def enc_net(mh):
    net = create_network(mh, "h1", "10.90.70.0/24")
    network_on(mh, "h2", net.name)
    yield net
    if mh.config[0] == 0:
        return  # the cluster is made again before its next use: nothing to tidy
    for host in ("h1", "h2"):
        for c in mh.docker(host).containers.list(all=True, filters={"network": net.name}):
            remove(c)
    remove(net)


@pytest.fixture(scope="module")
def outside(mh):
    o = Outside(mh.cluster).start()
    yield o
    o.stop()


@contextmanager
def underlay_capture(mh, name: str):
    """Everything on the underlay bridge (in the central's namespace) while the block runs."""
    path = os.path.join(mh.cluster.central_dir, f"{name}.pcap")
    proc = subprocess.Popen(["ip", "netns", "exec", mh.cluster.central_ns, "tcpdump", "-i",
                             "ulbr", "-U", "-s", "0", "-w", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        started = proc.stderr.readline()  # "listening on ulbr, ..." once it captures
        assert "listening on ulbr" in started, started
        yield path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def count(path: str, expression: str) -> int:
    done = subprocess.run(["tcpdump", "-nn", "-r", path, expression], capture_output=True,
                          text=True, timeout=60)
    return len(done.stdout.splitlines())


def test_the_underlay_carries_wireguard_only(mh, enc_net):
    net = enc_net.name
    server = named(mh, "h1", net, f"srv-{uuid.uuid4().hex[:6]}",
                   image_cmd="sh -c 'nc -l -p 7070 > /tmp/got; sleep 600'")
    client = run(mh, "h2", net)
    marker = f"dockovn-secret-{uuid.uuid4().hex}"
    address = ip_of(server, net)
    with underlay_capture(mh, "encrypted") as pcap:
        assert pings(client, address)
        code, out = sh_in(client, f"echo {marker} | nc -w 3 {address} 7070")
        assert code == 0, out
        wait.until(lambda: marker in sh_in(server, "cat /tmp/got")[1], 10,
                   what="the payload at the server")  # the control: it did cross
    with open(pcap, "rb") as f:
        assert marker.encode() not in f.read()
    assert count(pcap, "udp port 6081") == 0  # no Geneve on the wire
    assert count(pcap, "udp portrange 51820-51821") > 0  # WireGuard instead


def test_names_and_full_size_packets_cross_encrypted_tunnels(mh, enc_net):
    net = enc_net.name
    name = f"far-{uuid.uuid4().hex[:6]}"
    far = named(mh, "h2", net, name)
    near = run(mh, "h1", net)
    # The container MTU leaves room for Geneve inside WireGuard.
    code, out = sh_in(near, "cat /sys/class/net/eth0/mtu")
    mtu = int(out.strip())
    assert mtu == 1500 - 60 - 58, out
    assert wait.until(lambda: lookup(near, name) == [ip_of(far, net)], 20, step=1,
                      what=f"{name} resolving across the encrypted tunnel")
    # A full-size packet, unfragmented (busybox ping: 28 bytes of headers)
    assert sh_in(near, f"ping -c 2 -W 3 -s {mtu - 28} {ip_of(far, net)}")[0] == 0


def test_policy_services_and_published_ports_work_over_encrypted_tunnels(mh, enc_net,
                                                                        outside):
    net, h2 = enc_net.name, mh.cluster.host("h2")
    service, rule = unique("esvc"), unique("epol")
    made = []
    try:
        # A service: its VIP on h1 balances to a backend on h2.
        backend = svc.backend(mh, "h2", net, service)
        client = run(mh, "h1", net)
        made += [backend, client]
        vip = "10.90.70.250"
        svc.dockovn(mh, "create", service, "--network", net, "--vip", f"{vip}:80")
        assert wait.until(lambda: svc.fetch(client, f"http://{vip}/", 1) == [backend.name], 30,
                          step=1, what="the VIP answering from h2's backend")
        # A policy made on h1 decides who reaches a container on h2.
        db = pol.started(mh, "h2", net, labels={"app": "db"}, command=pol.HTTPD)
        web = pol.started(mh, "h1", net, labels={"app": "web"})
        made += [db, web]
        db_ip = ip_of(db, net)
        probes.settles(client, db_ip, "tcp", 80, want=True, within=20)  # flat before
        pol.policy(mh, "h1", "create", rule, "--network", net, "--select", "app=db",
                   "--from", "app=web", "--port", "tcp/80")
        probes.settles(client, db_ip, "tcp", 80, want=False)
        assert probes.reaches(web, db_ip, "tcp", 80)
        # A port published on h2: from outside, and from h1's container (out through h1).
        published = mh.docker("h2").containers.run(
            IMAGE, ["sh", "-c", "mkdir /www && echo hello-encrypted > /www/index.html && "
                                "exec httpd -f -p 80 -h /www"],
            detach=True, network=net, name=unique("pub"), ports={"80/tcp": 8085})
        made.append(published)
        url = f"http://{h2.ip}:8085/"
        assert wait.until(lambda: outside.fetch(url) == "hello-encrypted\n", 20, step=1,
                          what="the published port from outside")
        assert sh_in(client, f"timeout 8 wget -q -O - {url}") == (0, "hello-encrypted\n")
    finally:
        pol.policy(mh, "h1", "delete", rule, check=False)
        subprocess.run([sys.executable, "-m", "dockovn", "service", "delete", service,
                        "--nb", mh.cluster.nb], capture_output=True, timeout=60)
        remove(*made)


def peers_of(host: multihost.Host) -> set[str]:
    """The tunnel addresses among ``host``'s WireGuard peers, on either key slot (wg
    reaches wireguard-go's control socket from any namespace)."""
    return {p.allowed_ips for slot in (0, 1) for p in wireguard.show(device_name(host.name, slot))}


def peer_keys(host: multihost.Host) -> set[str]:
    return {p.public_key for slot in (0, 1) for p in wireguard.show(device_name(host.name, slot))}


def own_keys(host: multihost.Host) -> set[str]:
    return {wireguard.own_public_key(device_name(host.name, slot)) for slot in (0, 1)} - {""}


def test_keys_rotate_by_one_command_without_losing_a_packet(mh, enc_net):
    c = mh.cluster
    h1, h2 = c.host("h1"), c.host("h2")
    near, far = run(mh, "h1", enc_net.name), run(mh, "h2", enc_net.name)
    target = ip_of(far, enc_net.name)
    assert pings(near, target)  # the control; the tunnel is up
    before = {h.name: own_keys(h) for h in (h1, h2)}
    result = {}

    def flow():  # 20 echoes a second (and their replies) until stopped
        result["ping"] = sh_in(near, f"ping -i 0.05 {target} & echo $! > /tmp/pinger; "
                                     "wait")[1]

    pinger = threading.Thread(target=flow)
    pinger.start()
    try:
        time.sleep(1)  # under way before the first rotation
        # Twice: the cluster moves to the other slot and back (every key new).
        for _ in range(2):
            done = multihost.dockovn(c.central_ns, "central", "rotate-tunnel-keys",
                                     *multihost.central_args(c))
            assert "rotated: 2 host(s)" in done.stdout, done.stdout
        time.sleep(1)  # and on for a moment after
    finally:
        sh_in(near, "kill -INT $(cat /tmp/pinger)")
        pinger.join(timeout=30)
    # Every echo answered: no gap in the replies' sequence numbers (the one in flight when
    # the ping was stopped has no reply yet, and is not counted).
    answered = [int(n) for n in re.findall(r"seq=(\d+)", result["ping"])]
    sent = int(re.search(r"(\d+) packets transmitted", result["ping"]).group(1))
    assert len(answered) > 40 and sent - len(answered) <= 1, result["ping"][-400:]
    assert answered == list(range(len(answered))), \
        f"lost: {sorted(set(range(max(answered))) - set(answered))}"
    for h, other in ((h1, h2), (h2, h1)):
        assert not own_keys(h) & before[h.name], f"{h.name} kept a key"
        assert not peer_keys(other) & before[h.name], f"{other.name} still takes an old key"
    assert pings(near, target)


def plain_setup(c: multihost.Cluster, host: multihost.Host) -> list[str]:
    """`dockovn host setup` by hand, without encryption: the host's own certificate, the
    central's addresses, tunnels from its underlay address."""
    with open(os.path.join(host.pki, "central.json")) as f:
        central = json.load(f)
    d = host.dir
    return ["host", "setup", "--ssl-key", os.path.join(host.pki, "key.pem"),
            "--ssl-cert", os.path.join(host.pki, "cert.pem"),
            "--ssl-ca", os.path.join(host.pki, "ca.pem"), "--nb", central["nb"],
            "--sb", central["sb"], "--hostname", host.name, "--encap-ip", host.ip,
            "--ovs-rundir", d, "--ovs-dbdir", d, "--ovs-logdir", d, "--ovn-rundir", d,
            "--ovn-logdir", d, "--docker-config", host.daemon_json,
            "--dns-upstream", multihost.CENTRAL_IP]


def encryption_findings(mh, host: str) -> list[dict]:
    return [f for f in doctor(mh, host)[1] if f["check"] == "encryption"]


def test_a_host_without_encryption_exchanges_nothing_and_doctor_says_why(mh, enc_net):
    c = mh.cluster
    h1, h2 = c.host("h1"), c.host("h2")
    near, far = run(mh, "h1", enc_net.name), run(mh, "h2", enc_net.name)
    address = ip_of(far, enc_net.name)
    assert pings(near, address)  # the control
    back = False
    try:
        said = multihost.dockovn(h2.ns, *plain_setup(c, h2)).stdout
        assert "encrypted tunnels: removed" in said, said
        assert multihost.tunnel_address(c, h2) == h2.ip
        # Nothing of the encrypted set-up is left on h2.
        for slot in (0, 1):
            with pytest.raises(wireguard.WireGuardError):
                wireguard.show(device_name(h2.name, slot))
        assert "br-wg" not in h2.vsctl("list-br").split()
        # No tunnel between the two any more (OVN's transport zones): nothing is sent.
        wait.until(lambda: not h1.vsctl("--bare", "--columns=name", "find", "Interface",
                                        "type=geneve").strip(), 20,
                   what="h1's tunnel to h2 gone")
        marker = f"dockovn-secret-{uuid.uuid4().hex}"
        with underlay_capture(mh, "plain-host") as pcap:
            assert not pings(near, address, count=2, wait_s=3)
            sh_in(near, f"echo {marker} | nc -w 2 {address} 7070")
        with open(pcap, "rb") as f:
            assert marker.encode() not in f.read()
        assert count(pcap, "udp port 6081") == 0
        # Doctor, on each side, names the cause.
        on_h1 = [f for f in encryption_findings(mh, "h1") if f["severity"] == "fail"]
        assert [(f["subject"], "fails closed" in f["summary"]) for f in on_h1] == \
            [(h2.name, True)], on_h1
        on_h2 = encryption_findings(mh, "h2")
        assert [f["severity"] for f in on_h2] == ["fail"], on_h2
        assert f"start from {h2.ip}" in on_h2[0]["summary"]
        assert "dockovn host join" in on_h2[0]["action"]
        # Joined again: encrypted, and the containers reach each other.
        multihost.join_again(c, h2)
        assert wait.until(lambda: pings(near, address, count=1, wait_s=2), 60, step=1,
                          what="h1's container reaching h2's again")
        back = True
    finally:
        if not back:
            mh.config = (0, None, False)  # h2 is out: whoever comes next starts afresh


def test_a_revoked_host_loses_its_peers(mh, enc_net):
    c = mh.cluster
    h1, h2 = c.host("h1"), c.host("h2")

    def h1_peers() -> set[str]:
        return peers_of(h1)

    h2_tunnel = multihost.tunnel_address(c, h2)
    assert f"{h2_tunnel}/32" in h1_peers()
    near, far = run(mh, "h1", enc_net.name), run(mh, "h2", enc_net.name)
    assert pings(near, ip_of(far, enc_net.name))  # the control
    back = False
    try:
        done = multihost.dockovn(c.central_ns, "central", "revoke", "h2",
                                 *multihost.central_args(c))
        wait.until(lambda: f"{h2_tunnel}/32" not in h1_peers(), 15,
                   what="h1 dropping h2 from its WireGuard peers")
        assert not pings(near, ip_of(far, enc_net.name), count=2, wait_s=4)
        # Joined again with the new token: a peer again, and the containers reach each other.
        token = done.stdout.split("(the old one is void): ")[1].split()[0]
        multihost.dockovn(h2.ns, *multihost.join_args(c, h2, token))
        wait.until(lambda: f"{h2_tunnel}/32" in h1_peers(), 30, what="h2 a peer again")
        assert wait.until(lambda: pings(near, ip_of(far, enc_net.name), count=1, wait_s=2),
                          60, step=1, what="h1's container reaching h2's again")
        back = True
    finally:
        if not back:
            mh.config = (0, None, False)  # h2 is out: whoever comes next starts afresh
