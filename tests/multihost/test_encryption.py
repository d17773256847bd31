"""Encrypted tunnels on the harness (`central start --encrypt-tunnels`; hosts joined with
`dockovn host join`, which set up WireGuard): what crosses the underlay between the hosts
is WireGuard only, never Geneve nor a known payload in the clear; names and full-size
packets cross; a revoked host loses its peers, and comes back joined again. The cluster is
the one the Raft tests and the fault suite use (a three-member central)."""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager

import pytest

from dockovn.host import wireguard

from tests.multihost.test_multihost import create_network, ip_of, network_on, pings, run, sh_in
from tests.multihost.test_names import lookup, named
from tests.support import multihost, wait
from tests.support.docker_objects import remove

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
    assert count(pcap, "udp port 51820") > 0  # WireGuard instead


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


def test_a_revoked_host_loses_its_peers(mh, enc_net):
    c = mh.cluster
    h1, h2 = c.host("h1"), c.host("h2")
    device = f"wg-{h1.name}"

    def h1_peers() -> set[str]:  # wg reaches wireguard-go's control socket from anywhere
        return {p.allowed_ips for p in wireguard.show(device)}

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
