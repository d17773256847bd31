"""The cluster checks: databases, Raft, ovn-northd, lag, Docker vs NB."""

from __future__ import annotations

from dockovn.deploy.raft import ClusterStatus
from dockovn.network import external_ids as ids
from dockovn.diagnose.doctor import cluster_checks as cc
from dockovn.diagnose.doctor.cluster_reads import NbProgress
from dockovn.diagnose.doctor.facts import DockerEndpoint, DockerFacts
from dockovn.diagnose.doctor.findings import CLUSTER, Severity
from dockovn.diagnose.doctor.servers import MemberView
from dockovn.ovn.nb import LogicalPort, LogicalSwitch
from dockovn.ovn.sb import ChassisState

A, B, C = "ssl:10.0.0.1:6641", "ssl:10.0.0.2:6641", "ssl:10.0.0.3:6641"


def member(remote, leader=False, connected=True, model="clustered", error=""):
    return MemberView(remote, error=error, model=model, connected=connected, leader=leader)


def problems(findings):
    return [f for f in findings if f.problem]


def test_a_database_that_does_not_answer():
    (f,) = cc.check_database("northbound", [member(A, error="Connection refused")])
    assert f.severity is Severity.FAIL and "Connection refused" in f.summary
    assert "6641" in f.action and f.scope == CLUSTER
    (f,) = cc.check_database("southbound", [member(A, leader=True, model="standalone")])
    assert f.severity is Severity.OK
    (f,) = cc.check_database("southbound", [member(A, leader=True)], open_error="bad cert")
    assert f.severity is Severity.FAIL


def test_raft_standalone_and_a_healthy_cluster():
    (f,) = cc.check_raft("northbound", [member(A, leader=True, model="standalone")])
    assert f.severity is Severity.OK and "standalone" in f.summary
    local = ClusterStatus("OVN_Northbound", role="follower", term="4", status="cluster member")
    (f,) = cc.check_raft("northbound", [member(A, leader=True), member(B), member(C)], local)
    assert f.severity is Severity.OK and A in f.summary and "3 of 3" in f.summary
    assert "follower, term 4" in f.summary


def test_raft_without_quorum_and_with_a_member_down():
    found = cc.check_raft("northbound", [member(A, connected=False),
                                         member(B, error="Connection refused"),
                                         member(C, error="Connection refused")])
    assert found[0].severity is Severity.FAIL and "no Raft leader" in found[0].summary
    # ... and which members to look at: the one cut off, the two that are down.
    assert [(f.severity, f.subject) for f in found[1:]] == [
        (Severity.FAIL, A), (Severity.WARN, B), (Severity.WARN, C)]
    found = cc.check_raft("southbound", [member(A, leader=True), member(B),
                                         member(C, error="timed out")])
    assert [f.severity for f in found] == [Severity.WARN] and found[0].subject == C
    found = cc.check_raft("northbound", [member(A, leader=True, connected=False), member(B)])
    assert any(f.severity is Severity.FAIL and f.subject == A for f in found)


def test_raft_a_host_that_knows_one_member_only():
    (f,) = cc.check_raft("northbound", [member(A, leader=True)])
    assert f.severity is Severity.WARN and "--address a,b,c" in f.action


def test_raft_behind_relays():
    relays = [member(A, model="relay"), member(B, model="relay"), member(C, model="relay")]
    (f,) = cc.check_raft("southbound", relays)
    assert f.severity is Severity.OK and "3 of 3 relays" in f.summary
    relays[1] = member(B, model="relay", connected=False)
    found = cc.check_raft("southbound", relays)
    assert [(f.severity, f.subject) for f in problems(found)] == [(Severity.FAIL, B)]
    assert "lost the central's members" in found[0].summary
    (f,) = cc.check_raft("northbound", [member(A, model="relay")])
    assert f.severity is Severity.WARN and "--address a,b,c" in f.action


def test_northd_behind_relays_is_judged_by_progress():
    # a relay's locks are its own: never "no ovn-northd holds the lock" from a host
    (f,) = cc.check_northd(None, "", NbProgress(5, 5, 5, 0), relayed=True)
    assert f.severity is Severity.OK
    (f,) = cc.check_northd(None, "", NbProgress(7, 5, 5, 0), relayed=True)
    assert f.severity is Severity.FAIL and "#7" in f.summary
    (f,) = cc.check_northd(None, "", None, relayed=True)
    assert f.severity is Severity.WARN


def test_northd_lock_and_progress():
    assert not problems(cc.check_northd(True, "", NbProgress(5, 5, 5, 0)))
    (f,) = cc.check_northd(False, "", NbProgress(5, 5, 5, 0))
    assert f.severity is Severity.FAIL and "no ovn-northd" in f.summary
    (f,) = cc.check_northd(True, "", NbProgress(7, 5, 5, 0))
    assert f.severity is Severity.FAIL and "#7" in f.summary
    (f,) = cc.check_northd(None, "RBAC", None)
    assert f.severity is Severity.WARN


def test_lag_per_chassis():
    now = 1_000_000
    h1 = ChassisState("h1", "h1", ("10.0.0.11",), nb_cfg=9)
    h2 = ChassisState("h2", "h2", ("10.0.0.12",), nb_cfg=7)
    recent = NbProgress(9, 9, 7, now - 2_000)
    old = NbProgress(9, 9, 7, now - 60_000)
    (f,) = cc.check_lag(9, [h1, h2], recent, now)
    assert f.severity is Severity.OK and "h2 2 behind" in f.summary
    (f,) = cc.check_lag(9, [h1, h2], old, now)
    assert f.severity is Severity.FAIL and f.subject == "h2" and "2 NB change(s)" in f.summary
    assert "forget-host h2" in f.action
    assert not problems(cc.check_lag(9, [h1, h2], old, now, skip={"h2"}))
    (f,) = cc.check_lag(9, [h1], old, now)
    assert f.severity is Severity.OK and "#9" in f.summary


SWITCH = LogicalSwitch("s", "n1", {ids.NETWORK_ID: "n1", ids.NETWORK_NAME: "foo",
                                   ids.IPAM: "dockovn", ids.DOCKER_ID_PREFIX + "n2": "h2"}, {})
EP = "e" * 64
PORT = LogicalPort("u", EP, "n1", ("0a:58:0a:00:00:02 10.0.0.2",),
                   {ids.ENDPOINT_ID: EP, ids.HOST: "h1", ids.CONTAINER_NAME: "web"}, up=True)
DOCKER = DockerFacts(networks={"n1": "foo"}, endpoints={EP: DockerEndpoint(EP, "c", "web", "foo")})


def test_docker_and_nb_agreeing():
    assert not problems(cc.check_docker_nb(DOCKER, [SWITCH], {EP: PORT}, "h1"))
    # Another host's view of the network (its own NetworkID) maps to the same switch.
    there = DockerFacts(networks={"n2": "foo"})
    assert not problems(cc.check_docker_nb(there, [SWITCH], {EP: PORT}, "h2"))


def test_docker_and_nb_disagreeing():
    orphan = DockerFacts(networks={"n1": "foo", "n9": "bar"}, endpoints=DOCKER.endpoints)
    (f,) = cc.check_docker_nb(orphan, [SWITCH], {EP: PORT}, "h1")
    assert f.severity is Severity.FAIL and "bar" in f.summary
    (f,) = cc.check_docker_nb(DOCKER, [SWITCH], {}, "h1")
    assert f.severity is Severity.FAIL and "no logical port" in f.summary
    leftover = DockerFacts(networks={"n1": "foo"})
    (f,) = cc.check_docker_nb(leftover, [SWITCH], {EP: PORT}, "h1")
    assert f.severity is Severity.WARN and "leftover" in f.summary
    # This host's identity in doubt: its ports are not judged.
    assert not problems(cc.check_docker_nb(leftover, [SWITCH], {EP: PORT}, None))
    (f,) = cc.check_docker_nb(DockerFacts(), [SWITCH], {}, "h1")
    assert f.severity is Severity.WARN and "not in this host's Docker" in f.summary
