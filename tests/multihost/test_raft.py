"""A three-member Raft central (NB, SB and ovn-northd on each member, its own namespace)
and two hosts with dockerd: members killed under load, the datapath and Docker's view
checked afterwards. The module switches the harness to the clustered central and back."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time

import docker as sdk
import pytest

from dockovn.deploy import procs

from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, network_on, run,
                                            sh_in, unique)
from tests.support import multihost, wait
from tests.support.faults import ping
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

LABEL = "dockovn-raft"


# A three-member Raft central; the hosts' tunnels inside WireGuard (shared with the fault
# suite and the encryption tests: conftest.harness).
HARNESS = {"members": 3, "encrypted": True}


@pytest.fixture(scope="module")
def raft(mh):
    return mh


def cluster_status(mh, member, db: str = "OVN_Northbound") -> str:
    which = "nb" if db == "OVN_Northbound" else "sb"
    return multihost.in_ns(member.ns, "ovs-appctl", "-t", f"{member.dir}/ovn{which}_db.ctl",
                           "cluster/status", db, check=False).stdout


def leader(mh, db: str = "OVN_Northbound"):
    def find():
        return next((m for m in mh.cluster.members
                     if procs.running(m.pidfile("ovnnb_db" if db == "OVN_Northbound"
                                                else "ovnsb_db"))
                     and "Role: leader" in cluster_status(mh, m, db)), None)
    return wait.until(find, 20, what=f"a {db} leader")


def nbctl(mh, *args: str) -> str:
    member = next(m for m in mh.cluster.members if procs.running(m.pidfile("ovnnb_db")))
    return multihost.in_ns(member.ns, "ovn-nbctl", f"--db=unix:{member.dir}/ovnnb_db.sock",
                           "--no-leader-only", *args).stdout


def servers(text: str) -> int:
    return text.split("Servers:")[-1].count(" at ")


def test_three_members_one_leader_one_active_northd(raft):
    mh = raft
    out = multihost.dockovn(mh.cluster.members[1].ns, "central", "status",
                            *multihost.central_args(mh.cluster, mh.cluster.members[1])).stdout
    assert "OVN_Northbound" in out and "OVN_Southbound" in out
    for m in mh.cluster.members:  # every member, in both databases' server lists
        assert f"{m.ip}:6643" in out and f"{m.ip}:6644" in out, out
    assert out.count("(self)") == 2, out  # NB and SB: this member among the servers
    for db in ("OVN_Northbound", "OVN_Southbound"):
        roles = [cluster_status(mh, m, db) for m in mh.cluster.members]
        assert sum("Role: leader" in r for r in roles) == 1, roles
    states = [multihost.in_ns(m.ns, "ovs-appctl", "-t", f"{m.dir}/ovn-northd.ctl",
                              "status").stdout.strip() for m in mh.cluster.members]
    assert sorted(states) == ["Status: active", "Status: standby", "Status: standby"], states
    # The hosts' chassis registered over SSL through the cluster.
    chassis = multihost.in_ns(mh.cluster.central_ns, "ovn-sbctl", f"--db={mh.cluster.sb}",
                              "--no-leader-only", "--columns=hostname", "list",
                              "Chassis").stdout
    assert "h1" in chassis and "h2" in chassis


def churn(mh, host: str, net: str, until: float, log: list) -> None:
    """`docker run`/`rm` on ``net`` and `docker network create`/`rm` on ``host`` until
    ``until``: (start, end, error or None) per round."""
    client = mh.docker(host)
    ipam = sdk.types.IPAMConfig(driver="dockovn")
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            c = client.containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                      name=unique(f"churn-{host}"), labels={LABEL: "1"})
            c.remove(force=True)
            n = client.networks.create(unique("raftnet"), driver="dockovn", ipam=ipam)
            remove(n)
            log.append((t0, time.monotonic(), None))
        except Exception as exc:  # the reply Docker gave, kept for the report
            log.append((t0, time.monotonic(), str(exc)[:300]))
            time.sleep(0.2)


def clean_up_churn(mh) -> None:
    for host in ("h1", "h2"):
        client = mh.docker(host)
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            remove(c)
        for n in client.networks.list():
            if n.name.startswith("raftnet-"):
                remove(n)


def check_docker_and_nb_agree(mh, net) -> None:
    """One NB port per endpoint Docker has on ``net`` (both hosts), no address twice, and
    no switch left of the networks created and removed during the failover."""
    endpoints = set()
    for host in ("h1", "h2"):
        detail = mh.docker(host).api.inspect_network(network_on(mh, host, net.name).id)
        endpoints |= {c["EndpointID"] for c in (detail.get("Containers") or {}).values()}

    def agree():
        ports = set(re.findall(r"\((\S+)\)", nbctl(mh, "lsp-list", net.id)))
        return {p for p in ports if not p.startswith(("rtr-", "host-"))} == endpoints

    wait.until(agree, 30, step=1, what="NB ports == Docker's endpoints")
    addresses = [a for ep in endpoints
                 for a in nbctl(mh, "lsp-get-addresses", ep).split()[1:]]
    assert len(addresses) == len(set(addresses)), addresses

    def no_churn_leftovers():
        return "raftnet-" not in nbctl(mh, "--columns=external_ids", "list", "Logical_Switch")
    wait.until(no_churn_leftovers, 60, step=2,
               what="networks removed during the failover gone from NB (gc)")


def failover_under_load(mh, kill) -> dict:
    net = create_network(mh, "h1", "10.90.60.0/24")
    network_on(mh, "h2", net.name)
    a, b = run(mh, "h1", net.name), run(mh, "h2", net.name)
    try:
        target = ip_of(b, net.name)
        try:
            # -W 1, not -w: busybox's ping waits 10 s for a lost packet's answer
            # whatever -w says, which left this wait two tries in its 20 s.
            wait.until(lambda: sh_in(a, f"ping -c 1 -W 1 {target}")[0] == 0, 20)
        except AssertionError:
            # Seen twice in full runs right after the previous test's failover: say why.
            raise AssertionError("new containers on h1 and h2 do not reach each other within "
                                 "20 s, before any fault:\n"
                                 + ping.explain(mh.cluster, a, "h1", b, target)) from None
        pinged = {}
        pinger = threading.Thread(target=lambda: pinged.update(
            out=sh_in(a, f"ping -c 150 -i 0.2 {target}")[1]))
        logs = {"h1": [], "h2": []}
        until = time.monotonic() + 28
        workers = [threading.Thread(target=churn, args=(mh, h, net.name, until, logs[h]))
                   for h in logs]
        pinger.start()
        for w in workers:
            w.start()
        time.sleep(6)
        killed_at = time.monotonic()
        kill()
        for w in workers:
            w.join(120)
        pinger.join(60)
        clean_up_churn(mh)
        rounds = [r for log in logs.values() for r in log]
        failures = [r for r in rounds if r[2] is not None]
        window = max((r[1] - killed_at for r in failures), default=0.0)
        print(f"failover: {len(rounds)} rounds, {len(failures)} failed, last failure "
              f"{window:.1f}s after the kill; ping: "
              f"{pinged['out'].strip().splitlines()[-2] if pinged else '?'}")
        for r in failures:  # every failure is a clear one, inside the window
            assert r[0] >= killed_at - 12, r
            assert "unreachable" in r[2] or "timed out" in r[2] or "no answer" in r[2] \
                or "may still apply" in r[2], r[2]
        assert window <= 20, f"requests still failing {window:.1f}s after the kill"
        assert any(r[2] is None and r[0] > killed_at + window for r in rounds), \
            "nothing succeeded after the failover"
        # The datapath does not need central: the ping keeps flowing through the kill. Loss
        # is reported, not bounded: on two cores the userspace datapath drops single
        # packets under this churn whether or not a member dies (never a run of them).
        loss = int(pinged["out"].split("% packet loss")[0].rsplit(" ", 1)[-1])
        answered = sorted(int(n) for n in re.findall(r"seq=(\d+)", pinged["out"]))
        gaps = [b - a - 1 for a, b in zip(answered, answered[1:])]
        assert answered and max(gaps, default=0) <= 3, pinged["out"]
        check_docker_and_nb_agree(mh, net)
        return {"window": window, "failures": len(failures), "loss": loss}
    finally:
        remove(a, b)
        remove(net)


def list_dbs_as(ns: str, files: tuple[str, str, str], remote: str) -> str:
    return multihost.in_ns(ns, "timeout", "5", "ovsdb-client", "-p", files[0], "-c", files[1],
                           "-C", files[2], "list-dbs", remote, check=False).stdout


def test_a_hosts_certificate_is_neither_a_raft_member_nor_a_members_client(raft):
    mh = raft
    h1, first = mh.cluster.host("h1"), mh.cluster.members[0]
    host = tuple(f"{h1.pki}/{n}.pem" for n in ("key", "cert", "ca"))
    pki = f"{first.dir}/pki"
    central = (f"{pki}/central-privkey.pem", f"{pki}/central-cert.pem",
               f"{pki}/ca/controllerca/cacert.pem")
    # Hosts talk to the relays: h1's certificate gets NB and SB there ...
    for port, db in ((6641, "OVN_Northbound"), (6642, "OVN_Southbound")):
        assert db in list_dbs_as(h1.ns, host, f"ssl:{first.ip}:{port}"), port
    # ... and nothing from a member's own client ports, which the central's certificate
    # (the control) is served on.
    for port, db in ((6645, "OVN_Northbound"), (6646, "OVN_Southbound")):
        assert db in list_dbs_as(first.ns, central, f"ssl:{first.ip}:{port}"), port
        assert db not in list_dbs_as(h1.ns, host, f"ssl:{first.ip}:{port}"), port
    # A member joining with h1's certificate never gets in.
    d = os.path.join(h1.dir, "would-be-member")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    multihost.sh("ovsdb-tool", "join-cluster", f"{d}/nb.db", "OVN_Northbound",
                 f"ssl:{h1.ip}:16643", f"ssl:{first.ip}:6643")
    multihost.in_ns(h1.ns, "ovsdb-server", f"{d}/nb.db", "--detach", "--no-chdir",
                    f"--pidfile={d}/nb.pid", f"--log-file={d}/nb.log", f"--unixctl={d}/nb.ctl",
                    f"--remote=punix:{d}/nb.sock", f"--private-key={host[0]}",
                    f"--certificate={host[1]}", f"--ca-cert={host[2]}")
    try:
        time.sleep(5)  # a real member is in after about a second
        joiner = multihost.in_ns(h1.ns, "ovs-appctl", "-t", f"{d}/nb.ctl", "cluster/status",
                                 "OVN_Northbound", check=False).stdout
        assert "Status: joining cluster" in joiner, joiner
        assert all(servers(cluster_status(mh, m)) == 3 for m in mh.cluster.members)
    finally:
        procs.stop(f"{d}/nb.pid")
    with open(os.path.join(first.dir, "ovsdb-server-nb.log")) as f:
        assert re.search(r"certificate verify failed|unknown ca|no certificate", f.read())


def test_nb_leader_killed_under_load(raft):
    mh = raft
    victim = leader(mh)
    failover_under_load(mh, lambda: multihost.sh(
        "kill", "-9", str(procs.read_pid(victim.pidfile("ovnnb_db")))))
    # The killed member comes back as a follower: three servers again.
    multihost.start_member(mh.cluster, victim, join=False)
    wait.until(lambda: "Role: follower" in cluster_status(mh, victim)
               or "Role: leader" in cluster_status(mh, victim), 30)
    assert servers(cluster_status(mh, victim)) == 3


def test_a_whole_member_killed_under_load_then_a_second_one(raft):
    mh = raft
    victim = leader(mh)

    def kill_member(member):
        for daemon in ("ovn-northd", "ovnsb_db", "ovnnb_db", "ovnnb_relay", "ovnsb_relay"):
            pid = procs.read_pid(member.pidfile(daemon))
            if pid:
                multihost.sh("kill", "-9", str(pid), check=False)

    failover_under_load(mh, lambda: kill_member(victim))
    multihost.start_member(mh.cluster, victim, join=False)
    wait.until(lambda: servers(cluster_status(mh, victim)) == 3, 30)
    # Then two of three down: no quorum. Requests fail fast and say why ...
    others = [m for m in mh.cluster.members if m is not victim]
    kill_member(others[0])
    kill_member(others[1])
    net_name = None
    try:
        t0 = time.monotonic()
        with pytest.raises(sdk.errors.APIError) as refused:
            mh.docker("h1").networks.create(unique("raftnet"), driver="dockovn",
                                            ipam=sdk.types.IPAMConfig(driver="dockovn"))
        assert time.monotonic() - t0 < 15
        assert "unreachable" in str(refused.value) or "no answer" in str(refused.value)
    finally:
        # ... and work again when a member is back.
        multihost.start_member(mh.cluster, others[0], join=False)
        multihost.start_member(mh.cluster, others[1], join=False)

    def creates():
        nonlocal net_name
        try:
            net_name = create_network(mh, "h1", "10.90.61.0/24").name
            return True
        except sdk.errors.APIError:
            return False

    assert wait.until(creates, 60, step=2, what="requests working again")
    remove(mh.docker("h1").networks.get(net_name))


def test_a_member_leaves_cleanly(raft):
    mh = raft
    leaving = next(m for m in mh.cluster.members if m is not leader(mh))
    done = multihost.dockovn(leaving.ns, "central", "leave",
                             *multihost.central_args(mh.cluster, leaving))
    assert "left the NB and SB clusters" in done.stdout
    assert not procs.running(leaving.pidfile("ovnnb_db"))
    stayed = [m for m in mh.cluster.members if m is not leaving]
    for db in ("OVN_Northbound", "OVN_Southbound"):
        wait.until(lambda db=db: all(servers(cluster_status(mh, m, db)) == 2 for m in stayed),
                   20, what=f"{db} down to two servers")
    # Two members are still a majority of the new configuration: writes go on.
    net = create_network(mh, "h2", "10.90.62.0/24")
    remove(net)
