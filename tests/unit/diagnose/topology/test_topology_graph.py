"""The topology model built from NB/SB reads, and the Graphviz graph drawn from it."""

from __future__ import annotations

import re
import shutil

import pytest

from dockovn.network import external_ids as X
from dockovn.diagnose.topology.model import Reads, build
from dockovn.diagnose.topology.graph import (container_node, graph, network_node,
                                                     router_node, service_node)
from dockovn.network.services.model import ServiceLb
from dockovn.ovn.lb import LoadBalancer
from dockovn.ovn.nb import LogicalPort, LogicalSwitch

NET_A, NET_B = "a" * 64, "b" * 64


def switch(name: str, net_name: str, subnet: str, router: str | None = None) -> LogicalSwitch:
    ids = {X.NETWORK_ID: name, X.NETWORK_NAME: net_name, X.SUBNET: subnet,
           X.GATEWAY: subnet.replace("0/24", "1")}
    if router:
        ids[X.ROUTER] = router
    return LogicalSwitch(uuid=f"u-{name[:4]}", name=name, external_ids=ids, other_config={})


def port(name: str, switch_name: str, ip: str, container: str, cid: str, host: str,
         up: bool = True, **extra: str) -> LogicalPort:
    return LogicalPort(uuid=f"u-{name}", name=name, switch_name=switch_name,
                       addresses=(f"0a:58:00:00:00:{name[-2:]} {ip}",),
                       external_ids={X.ENDPOINT_ID: name, X.CONTAINER_NAME: container,
                                     X.CONTAINER_ID: cid, X.HOST: host, X.HOSTNAME: host,
                                     **extra},
                       up=up)


def router_port(switch_name: str) -> LogicalPort:
    return LogicalPort(uuid="u-r", name=f"rtr-{switch_name}", switch_name=switch_name,
                       addresses=("router",), external_ids={}, up=True)


def reads(**overrides) -> Reads:
    """Two hosts, two networks on one shared router, web on h1 (on both networks),
    db on h2 (a service backend, selected by a policy), old on h2 and down."""
    ports = {
        NET_A: [port("ep01", NET_A, "10.1.0.2", "web", "c1", "h1"),
                port("ep02", NET_A, "10.1.0.3", "db", "c2", "h2",
                     **{X.SERVICE: "orders", X.SERVICE_PORT: "8080"}),
                port("ep03", NET_A, "10.1.0.4", "old", "c3", "h2", up=False),
                router_port(NET_A)],
        NET_B: [port("ep04", NET_B, "10.2.0.2", "web", "c1", "h1")],
    }
    lb = LoadBalancer(uuid="lb1", name="dockovn-orders", protocol="tcp",
                      vips={"10.1.0.250:80": "10.1.0.3:8080"}, ip_port_mappings={},
                      health_checks=(), options={},
                      external_ids={X.SERVICE: "orders", X.NETWORK_ID: NET_A,
                                    X.VIP: "10.1.0.250:80", X.HEALTH_CHECK_IP: "10.1.0.254"})
    values = dict(
        switches=(switch(NET_A, "front", "10.1.0.0/24", router="core"),
                  switch(NET_B, "back", "10.2.0.0/24", router="core")),
        ports=ports,
        routers={"dockovn-router-core": [f"lrp-{NET_A}", f"lrp-{NET_B}"]},
        service_lbs=(ServiceLb.read(lb),),
        policy_members={"db-in": frozenset({"ep02"})},
        chassis=(("h1", "h1", ["geneve 172.31.255.11"]), ("h2", "h2", ["geneve 172.31.255.12"])),
        bindings={"ep01": "h1", "ep02": "h2", "ep04": "h1"},
    )
    values.update(overrides)
    return Reads(**values)


def test_build_gathers_containers_by_id_on_their_hosts():
    topo = build(reads())
    assert [(h.name, h.encaps, h.registered) for h in topo.hosts] == [
        ("h1", ("geneve 172.31.255.11",), True), ("h2", ("geneve 172.31.255.12",), True)]
    assert [c.name for c in topo.on_host("h1")] == ["web"]
    assert sorted(c.name for c in topo.on_host("h2")) == ["db", "old"]
    web = topo.on_host("h1")[0]
    # One container on two networks is one container with two attachments.
    assert [(a.network, a.addresses, a.chassis) for a in web.attachments] == [
        (NET_A, ("10.1.0.2",), "h1"), (NET_B, ("10.2.0.2",), "h1")]
    by_name = {c.name: c for c in topo.containers}
    assert by_name["db"].services == ("orders",) and by_name["db"].policies == ("db-in",)
    assert not by_name["old"].up and by_name["old"].attachments[0].chassis is None
    # Router-type ports are not containers.
    assert len(topo.containers) == 3


def test_build_networks_routers_and_services():
    topo = build(reads())
    assert [(n.name, n.subnets, n.gateways, n.router) for n in topo.networks] == [
        ("back", ("10.2.0.0/24",), ("10.2.0.1",), "core"),
        ("front", ("10.1.0.0/24",), ("10.1.0.1",), "core")]
    assert [(r.name, r.shared, set(r.networks)) for r in topo.routers] == [
        ("core", True, {NET_A, NET_B})]
    (svc,) = topo.services
    assert (svc.name, svc.vip, svc.backends, svc.health_checked) == (
        "orders", "10.1.0.250:80", ("c2",), True)


def test_a_router_nb_lacks_and_a_service_on_a_gone_network_are_left_out():
    topo = build(reads(routers={}, switches=(switch(NET_B, "back", "10.2.0.0/24"),)))
    assert topo.routers == () and topo.services == ()


def test_a_host_known_only_from_nb_is_shown_unregistered_with_its_containers_down():
    # h2 was stopped for good: its chassis is gone from SB and its ports are unbound.
    topo = build(reads(chassis=(("h1", "h1", ["geneve 172.31.255.11"]),),
                       bindings={"ep01": "h1", "ep04": "h1"}))
    h2 = topo.host("h2")
    assert h2 is not None and not h2.registered and h2.encaps == ()


def test_bindings_by_hostname_map_back_to_the_chassis_name():
    topo = build(reads(chassis=(("sys-1", "h1", []), ("sys-2", "h2", [])),
                       bindings={"ep01": "h1"},
                       ports={NET_A: [port("ep01", NET_A, "10.1.0.2", "web", "c1", "sys-1")]}))
    (web,) = topo.containers
    assert web.host == "sys-1" and web.attachments[0].chassis == "sys-1"
    assert topo.host("sys-1").label == "h1"


def test_without_southbound_nb_alone_gives_hosts_and_containers():
    topo = build(reads(chassis=(), bindings={}, southbound=False))
    assert {h.name for h in topo.hosts} == {"h1", "h2"}
    assert not any(h.registered for h in topo.hosts)
    assert topo.to_dict()["southbound"] is False


def test_to_dict_is_json_ready_and_says_up():
    import json
    data = json.loads(json.dumps(build(reads()).to_dict()))
    assert {c["name"]: c["up"] for c in data["containers"]} == {"web": True, "db": True,
                                                               "old": False}


# -- the graph -------------------------------------------------------------------------


def clusters(source: str) -> dict[str, str]:
    """cluster name -> its body, from DOT source (clusters are not nested here)."""
    return dict(re.findall(r"subgraph (cluster_\S+) \{(.*?)\n\t\}", source, re.S))


def edges(source: str) -> set[tuple[str, str]]:
    return {(a.strip('"'), b.strip('"'))
            for a, b in re.findall(r'^\t+("[^"]+"|\S+) -> ("[^"]+"|\S+)', source, re.M)}


def test_graph_puts_containers_inside_their_hosts():
    source = graph(build(reads())).source
    boxes = clusters(source)
    assert set(boxes) == {"cluster_host_h1", "cluster_host_h2"}
    assert container_node("c1") in boxes["cluster_host_h1"]
    assert container_node("c2") in boxes["cluster_host_h2"]
    assert container_node("c3") in boxes["cluster_host_h2"]
    assert container_node("c2") not in boxes["cluster_host_h1"]
    assert "geneve 172.31.255.11" in boxes["cluster_host_h1"]


def test_graph_edges_container_network_router_service():
    source = graph(build(reads())).source
    drawn = edges(source)
    assert (container_node("c1"), network_node(NET_A)) in drawn
    assert (container_node("c1"), network_node(NET_B)) in drawn
    assert (network_node(NET_A), router_node("dockovn-router-core")) in drawn
    assert (network_node(NET_B), router_node("dockovn-router-core")) in drawn
    svc = service_node("orders", NET_A)
    assert (svc, network_node(NET_A)) in drawn
    assert (svc, container_node("c2")) in drawn        # its backend now
    assert (svc, container_node("c3")) not in drawn    # down: not a backend
    assert "VIP 10.1.0.250:80" in source and "front" in source and "10.1.0.0/24" in source


def test_graph_draws_down_containers_differently():
    source = graph(build(reads())).source
    node_line = {m.group(1): m.group(0) for m in re.finditer(r"\t+(c_\w+) \[.*", source)}
    assert "dashed" in node_line["c_c3"] and "down" in node_line["c_c3"]
    assert "dashed" not in node_line["c_c2"]
    edge = next(line for line in source.splitlines() if line.strip().startswith("c_c3 ->"))
    assert "dashed" in edge


def test_graph_of_an_empty_cluster_and_awkward_names():
    source = graph(build(Reads(switches=(), ports={}, routers={},
                               chassis=(("a:b", "h x", []),)))).source
    assert "host_a_b" in source  # ':' would make DOT read a node port


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_renders_to_svg():
    svg = graph(build(reads())).pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "web" in svg and "orders" in svg and "172.31.255.12" in svg


def test_a_port_bound_elsewhere_than_its_host_is_named_on_the_container():
    source = graph(build(reads(bindings={"ep01": "h2", "ep02": "h2", "ep04": "h1"}))).source
    assert "front bound on h2" in source
    assert "back bound on" not in source
