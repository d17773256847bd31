"""The whole checkup with every read replaced by facts: a healthy host gives only "ok",
and each fault of the matrix gives one failing check, the checks after it skipped."""

from __future__ import annotations

import dataclasses

import pytest

from dockovn.diagnose.doctor import checkup, servers, tunnel_traffic
from dockovn.diagnose.doctor import cluster_reads as creads
from dockovn.diagnose.doctor import host_reads as hreads
from dockovn.diagnose.doctor.cluster_reads import NbProgress
from dockovn.diagnose.doctor.facts import ControllerFacts, DriverFacts, Offload
from dockovn.diagnose.doctor.findings import Severity
from dockovn.ovn.sb import ChassisState
from dockovn.ovn.tunnel_keys import Generations

from tests.unit.diagnose.doctor.test_host_checks import (ADDRESSES, BOUND, CHASSIS, DOCKER,
                                                                 EP, OVS, PORT, SWITCH)


class FakeSwitch:
    def interfaces(self):
        return list(OVS.interfaces)

    def close(self):
        pass


class FakeSb:
    def bindings(self):
        return BOUND

    def nb_cfg(self):
        return 4

    def chassis_states(self):
        return [ChassisState(c.name, c.hostname, tuple(c.ips), nb_cfg=4) for c in CHASSIS]

    def close(self):
        pass


class FakeNb:
    def close(self):
        pass


@pytest.fixture
def host(monkeypatch):
    """Healthy reads; a test changes ``state`` to inject its fault."""
    state = {"ovs": OVS, "controller": ControllerFacts(True, "connected"),
             "driver": DriverFacts("/p/dockovn.sock", True, True, ("NetworkDriver",)),
             "counters": [{"3": tunnel_traffic.Counters(10, 10)},
                          {"3": tunnel_traffic.Counters(20, 20)}],
             "probed": []}
    member = servers.MemberView("ssl:c:6641", model="standalone", connected=True, leader=True)

    def read_docker(docker_host, timeout, probe, driver_name="dockovn"):
        state["probed"].append(probe)
        return dataclasses.replace(DOCKER, plugin_reached=True if probe else None,
                                   plugin_detail="reached")

    monkeypatch.setattr(checkup, "RECHECK_PAUSE", 0)
    monkeypatch.setattr(hreads, "open_switch", lambda *a: (FakeSwitch(), ""))
    monkeypatch.setattr(hreads, "read_ovs", lambda *a: state["ovs"])
    monkeypatch.setattr(tunnel_traffic, "read_counters", lambda *a: state["counters"].pop(0))
    monkeypatch.setattr(servers, "ask_members", lambda remote, db, t: [member])
    monkeypatch.setattr(servers, "northd_lock_held", lambda remote, t: (True, ""))
    monkeypatch.setattr(creads, "open_northbound", lambda *a: (FakeNb(), ""))
    monkeypatch.setattr(creads, "open_southbound", lambda *a: (FakeSb(), ""))
    monkeypatch.setattr(creads, "chassis_rows", lambda sb: CHASSIS)
    monkeypatch.setattr(creads, "dockovn_switches", lambda nb: [SWITCH])
    monkeypatch.setattr(creads, "dockovn_ports", lambda nb, switches: {EP: PORT})
    monkeypatch.setattr(creads, "nb_progress", lambda nb: NbProgress(4, 4, 4, 0))
    monkeypatch.setattr(creads, "encryption_state", lambda sb: (None, Generations(0, None), []))
    monkeypatch.setattr(hreads, "wireguard_peers", lambda chassis, slot: (None, "no device"))
    monkeypatch.setattr(hreads, "read_controller", lambda rundir: state["controller"])
    monkeypatch.setattr(hreads, "local_addresses", lambda: ADDRESSES)
    monkeypatch.setattr(hreads, "probe_driver", lambda *a: state["driver"])
    monkeypatch.setattr(hreads, "read_docker", read_docker)
    monkeypatch.setattr(hreads, "managed_plugin", lambda *a: None)  # the legacy plugin
    monkeypatch.setattr(hreads, "read_offloads", lambda *a: {EP: Offload("web", False)})
    return state


def run() -> list:
    return checkup.run(checkup.Config("ssl:c:6641", "ssl:c:6642", probe_seconds=0.01))


def failing(findings) -> set[str]:
    return {f.check for f in findings if f.problem}


def test_healthy_every_check_ok(host):
    found = run()
    assert {f.severity for f in found} == {Severity.OK}, [f for f in found if f.problem]
    assert {f.check for f in found} == {c for c, *_ in checkup.CHECKS}
    assert found[0].check == "ovs" and found[-1].check == "docker-nb"  # host, then cluster
    assert host["probed"] == [True]


def test_ovn_controller_stopped(host):
    host["controller"] = ControllerFacts(False)
    found = run()
    assert failing(found) == {"ovn-controller"}
    skipped = {f.check for f in found if f.severity is Severity.SKIP}
    assert skipped == {"chassis", "tunnel", "endpoints"}


def test_driver_down_is_one_finding_and_dockerd_is_not_probed(host):
    host["driver"] = DriverFacts("/p/dockovn.sock", exists=False)
    assert failing(run()) == {"driver"}
    assert host["probed"] == [False]


def test_duplicate_system_id(host):
    host["ovs"] = dataclasses.replace(OVS, config={**OVS.config, "system-id": "h2",
                                                   "ovn-encap-ip": "172.31.255.11"})
    # this host (h1, 172.31.255.11) took h2's system-id
    found = run()
    assert failing(found) == {"chassis"}


def test_blocked_tunnel(host):
    host["counters"] = [{"3": tunnel_traffic.Counters(10, 10)},
                        {"3": tunnel_traffic.Counters(10, 30)}]
    assert failing(run()) == {"tunnel"}


def test_wrong_encap(host):
    host["ovs"] = dataclasses.replace(OVS, config={**OVS.config, "ovn-encap-ip": "172.31.255.99"})
    found = run()
    assert failing(found) == {"encap"}
    # (before ovn-controller has published the new address the registration differs too:
    # the same fault, so the checks that need a sane address are skipped)
    assert {f.check for f in found if f.severity is Severity.SKIP} == {
        "chassis", "tunnel", "mtu", "endpoints"}
