"""The host checks at the level of facts: a healthy host gives no problem, and each fault
of doctor's matrix gives its own finding."""

from __future__ import annotations

import dataclasses

from dockovn.host.ovs import InterfaceState
from dockovn.network import external_ids as ids
from dockovn.diagnose.doctor import host_checks as hc
from dockovn.diagnose.doctor.facts import (ChassisRow, ControllerFacts, DockerEndpoint,
                                                   DockerFacts, DriverFacts, LocalAddress, Offload,
                                                   OvsFacts, TunnelTraffic)
from dockovn.diagnose.doctor.findings import Severity
from dockovn.ovn.nb import LogicalPort, LogicalSwitch
from dockovn.ovn.sb import Binding

EP = "e" * 64
TUNNEL = InterfaceState("ovn-h2-0", "geneve", 3, {"remote_ip": "172.31.255.12"}, {}, "up", "")
CONTAINER = InterfaceState("dov1234", "", 4, {}, {"iface-id": EP, ids.OVS_ENDPOINT: EP,
                                                   "attached-mac": "0a:58:0a:00:00:02"},
                           "up", "")
OVS = OvsFacts(vswitchd_running=True, bridge="br-int", bridge_exists=True,
               datapath_type="netdev",
               config={"system-id": "h1", "hostname": "h1", "ovn-encap-ip": "172.31.255.11",
                       "ovn-encap-type": "geneve"},
               interfaces=(TUNNEL, CONTAINER))
CHASSIS = [ChassisRow("h1", "h1", (("geneve", "172.31.255.11"),)),
           ChassisRow("h2", "h2", (("geneve", "172.31.255.12"),))]
ADDRESSES = {"172.31.255.11": LocalAddress("br-phy", 1500), "127.0.0.1": LocalAddress("lo", 65536)}
PORT = LogicalPort("u", EP, "net", ("0a:58:0a:00:00:02 10.0.0.2",),
                   {ids.ENDPOINT_ID: EP, ids.HOST: "h1", ids.CONTAINER_NAME: "web"}, up=True)
BOUND = {EP: Binding(chassis="h1", up=True)}
DOCKER = DockerFacts(networks={"n1": "foo"},
                     endpoints={EP: DockerEndpoint(EP, "c1", "web", "foo")})
SWITCH = LogicalSwitch("s", "n1", {ids.NETWORK_ID: "n1", ids.NETWORK_NAME: "foo",
                                   ids.IPAM: "dockovn", ids.MTU: "1442"}, {})


def severities(findings) -> set[Severity]:
    return {f.severity for f in findings}


def problems(findings):
    return [f for f in findings if f.problem]


def test_a_healthy_host_has_no_problem():
    every = (hc.check_ovs(OVS) + hc.check_controller(ControllerFacts(True, "connected"), "sb")
             + hc.check_encap(OVS, ADDRESSES) + hc.check_chassis(OVS, CHASSIS)
             + hc.check_tunnels(OVS, CHASSIS, {3: TunnelTraffic(20, 20)}, 3)
             + hc.check_mtu(OVS, ADDRESSES, [SWITCH], 1442)
             + hc.check_datapath(OVS, False, {EP: Offload("web", False)})
             + hc.check_driver(DriverFacts("/run/docker/plugins/dockovn.sock", True, True,
                                           ("NetworkDriver", "IpamDriver")))
             + hc.check_dockerd(dataclasses.replace(DOCKER, plugin_reached=True,
                                                    plugin_detail="reached"), "unix://d")
             + hc.check_endpoints(OVS, {EP: PORT}, BOUND, DOCKER))
    assert severities(every) == {Severity.OK}, problems(every)
    assert all(f.action == "" for f in every)


def test_ovn_controller_stopped_or_cut_off():
    (stopped,) = hc.check_controller(ControllerFacts(False), "ssl:c:6642")
    assert stopped.severity is Severity.FAIL and "not running" in stopped.summary
    assert "host setup" in stopped.action
    (cut,) = hc.check_controller(ControllerFacts(True, "not connected"), "ssl:c:6642")
    assert cut.severity is Severity.FAIL and "ssl:c:6642" in cut.summary


def test_duplicate_system_id_names_the_other_host_and_this_hosts_own_row():
    # h2 was given h1's system-id: SB's h1 is the other host's; h2's old row is this host.
    h2 = dataclasses.replace(OVS, config={**OVS.config, "system-id": "h1", "hostname": "h2",
                                          "ovn-encap-ip": "172.31.255.12"})
    found = hc.check_chassis(h2, CHASSIS)
    assert {f.check for f in found} == {"chassis"}
    assert all(f.severity is Severity.FAIL for f in found)
    assert "registered by another host: h1" in found[0].summary
    assert "own identity" in found[0].action
    assert "chassis h2 is this host too" in found[1].summary


def test_chassis_not_registered_or_sharing_an_address_with_another_host():
    (missing,) = hc.check_chassis(OVS, CHASSIS[1:])
    assert missing.severity is Severity.FAIL and "no chassis h1" in missing.summary
    twin = ChassisRow("h3", "h3", (("geneve", "172.31.255.11"),))
    found = hc.check_chassis(OVS, CHASSIS + [twin])
    assert [f.subject for f in problems(found)] == ["h3"]
    assert "uses this host's tunnel address" in found[0].summary


def test_a_tunnel_address_that_is_not_this_hosts():
    wrong = dataclasses.replace(OVS, config={**OVS.config, "ovn-encap-ip": "172.31.255.99"})
    (f,) = hc.check_encap(wrong, ADDRESSES)
    assert f.severity is Severity.FAIL and "172.31.255.99 is not an address" in f.summary
    assert "--encap-ip" in f.action
    (none,) = hc.check_encap(dataclasses.replace(OVS, config={}), ADDRESSES)
    assert none.severity is Severity.FAIL


def test_a_blocked_tunnel_sends_and_hears_nothing_back():
    (blocked,) = hc.check_tunnels(OVS, CHASSIS, {3: TunnelTraffic(sent=15, received=0)}, 3)
    assert blocked.severity is Severity.FAIL and blocked.subject == "h2"
    assert "sent 15 packets" in blocked.summary and "UDP 6081" in blocked.action
    (idle,) = hc.check_tunnels(OVS, CHASSIS, {3: TunnelTraffic(0, 0)}, 3)
    assert idle.severity is Severity.OK and "not verified" in idle.summary
    (unread,) = hc.check_tunnels(OVS, CHASSIS, None, 3, "ovs-ofctl is not installed")
    assert unread.severity is Severity.OK and "not checked" in unread.summary


def test_a_missing_tunnel_and_chassis_sharing_this_hosts_address_are_not_peers():
    no_tunnel = dataclasses.replace(OVS, interfaces=(CONTAINER,))
    (f,) = hc.check_tunnels(no_tunnel, CHASSIS, {}, 3)
    assert f.severity is Severity.FAIL and "no tunnel to chassis h2" in f.summary
    stale_self = ChassisRow("old-h1", "h1", (("geneve", "172.31.255.11"),))
    assert not problems(hc.check_tunnels(OVS, CHASSIS + [stale_self], {}, 3))


def test_an_unbound_port_says_why():
    wrong_id = dataclasses.replace(CONTAINER, external_ids={**CONTAINER.external_ids,
                                                            "iface-id": "bogus"})
    (f,) = hc.check_endpoints(dataclasses.replace(OVS, interfaces=(TUNNEL, wrong_id)),
                              {EP: PORT}, {EP: Binding("", None)}, DOCKER)
    assert f.severity is Severity.FAIL and f.subject == "web"
    assert "iface-id 'bogus'" in f.summary
    assert f.action == f"ovs-vsctl set Interface dov1234 external_ids:iface-id={EP}"
    (unclaimed,) = hc.check_endpoints(OVS, {EP: PORT}, {EP: Binding("", None)}, DOCKER)
    assert "bound to no chassis" in unclaimed.summary
    (elsewhere,) = hc.check_endpoints(OVS, {EP: PORT}, {EP: Binding("h2", True)}, DOCKER)
    assert "chassis h2" in elsewhere.summary
    down = dataclasses.replace(PORT, up=False)
    (not_up,) = hc.check_endpoints(OVS, {EP: down}, BOUND, DOCKER)
    assert "not up" in not_up.summary


def test_an_endpoint_docker_has_but_the_bridge_does_not():
    (f,) = hc.check_endpoints(dataclasses.replace(OVS, interfaces=(TUNNEL,)), {EP: PORT},
                              BOUND, DOCKER)
    assert f.severity is Severity.FAIL and "not on br-int" in f.summary
    assert "docker network connect foo web" in f.action


def test_driver_down_or_dead():
    (gone,) = hc.check_driver(DriverFacts("/p/dockovn.sock", exists=False))
    assert gone.severity is Severity.FAIL and "not running" in gone.summary
    (dead,) = hc.check_driver(DriverFacts("/p/dockovn.sock", True, error="Connection refused"))
    assert dead.severity is Severity.FAIL and "Connection refused" in dead.summary


def test_dockerd_not_reaching_the_plugin_and_not_probed():
    no = dataclasses.replace(DOCKER, plugin_reached=False, plugin_detail="no answer in 10s")
    (f,) = hc.check_dockerd(no, "unix://d")
    assert f.severity is Severity.FAIL and "/run/docker/plugins" in f.action
    (unprobed,) = hc.check_dockerd(DOCKER, "unix://d")
    assert unprobed.severity is Severity.OK


def test_mtu_of_cross_host_networks_against_the_tunnel():
    big = dataclasses.replace(SWITCH, external_ids={**SWITCH.external_ids, ids.MTU: "1500"})
    (f,) = hc.check_mtu(OVS, ADDRESSES, [big], 1442)
    assert f.severity is Severity.FAIL and "at most 1442" in f.summary
    assert "-o mtu=1442" in f.action and "1558" in f.action
    local = dataclasses.replace(big, external_ids={**big.external_ids, ids.IPAM: "docker"})
    assert not problems(hc.check_mtu(OVS, ADDRESSES, [local], 1442))
    vxlan = dataclasses.replace(OVS, config={**OVS.config, "ovn-encap-type": "vxlan"})
    assert "1450 bytes" in hc.check_mtu(vxlan, ADDRESSES, [SWITCH], 1442)[0].summary


def test_checksum_offload_left_on_with_the_userspace_datapath():
    (f,) = hc.check_datapath(OVS, False, {EP: Offload("web", True)})
    assert f.severity is Severity.FAIL and f.subject == "web" and "TCP" in f.summary
    kernel = dataclasses.replace(OVS, datapath_type="system")
    assert not problems(hc.check_datapath(kernel, True, {EP: Offload("web", True)}))
    (f,) = hc.check_datapath(kernel, False, None)
    assert f.severity is Severity.FAIL and "kernel module" in f.summary


def test_open_vswitch_down():
    (f,) = hc.check_ovs(OvsFacts(error="cannot connect"))
    assert f.severity is Severity.FAIL and f.action
    found = hc.check_ovs(dataclasses.replace(OVS, vswitchd_running=False, bridge_exists=False))
    assert len(found) == 2 and all(x.severity is Severity.FAIL for x in found)
