"""NbRegistry against a real ovsdb-server with OVN's NB schema: the instance lists
follow the ports by watch, and LoadBalancerClient works on top of them."""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest

from dockovn.balancer import (
    AllAttemptsFailed,
    LoadBalancerClient,
    NbRegistry,
    NoInstancesError,
    RegistryError,
    ServiceInstance,
)
from dockovn.balancer.registry import META_CONTAINER, META_ENDPOINT, META_NETWORK
from dockovn.deploy import procs
from dockovn.network import external_ids
from dockovn.ovn.nb import Northbound

from tests.support import wait
from tests.support.daemons import nb_server

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(nb_db):
    reg = NbRegistry(nb_db.remote)
    yield reg
    reg.close()


@pytest.fixture
def net(nb):
    """A logical switch as the driver makes it, with a unique name and service name."""
    tag = uuid.uuid4().hex[:8]
    name = f"lbnet-{tag}"
    nb.create_switch(name, {external_ids.NETWORK_ID: name, external_ids.NETWORK_NAME: f"front-{tag}"})
    yield name, f"orders-{tag}"
    nb.delete_switch(name)


def add_instance(nb: Northbound, switch: str, port: str, ip: str, service: str,
                 service_port: str = "8080", zone: str = "h1", up: bool = True) -> None:
    mac = "0a:58:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    nb.add_port(switch, port, [f"{mac} {ip}"], [f"{mac} {ip}"], {
        external_ids.ENDPOINT_ID: port, external_ids.HOSTNAME: zone, external_ids.CONTAINER_NAME: f"c-{port}",
        external_ids.SERVICE: service, external_ids.SERVICE_PORT: service_port,
    })
    if up:
        set_up(nb, port, True)


def set_up(nb: Northbound, port: str, up: bool) -> None:
    # ovn-northd sets `up` once ovn-controller binds the port; there is none here.
    nb._commit(f"marking {port} up={up}", nb.api.db_set("Logical_Switch_Port", port, ("up", up)))


def hosts(registry: NbRegistry, service: str) -> list[tuple[str, str, int]]:
    return [(i.instance_id, i.host, i.port) for i in registry.instances(service)]


def test_instance_list_follows_ports_by_watch(nb, registry, net):
    switch, service = net
    assert registry.instances(service) == []

    add_instance(nb, switch, f"{switch}-a", "10.9.0.5", service)
    wait.until(lambda: registry.instances(service), what="first instance")
    [a] = registry.instances(service)
    assert a == ServiceInstance(
        service_id=service, host="10.9.0.5", port=8080, zone="h1", instance_id=f"{switch}-a",
        metadata={META_CONTAINER: f"c-{switch}-a", META_NETWORK: f"front-{switch[6:]}",
                  META_ENDPOINT: f"{switch}-a", "network-id": switch})

    # Not bound by ovn-controller yet: not an instance until it is. (The rename of
    # a's container comes after b in NB's update stream: once the registry shows
    # it, it has seen b too.)
    add_instance(nb, switch, f"{switch}-b", "10.9.0.6", service, zone="h2", up=False)
    nb.set_port_ids(f"{switch}-a", {external_ids.CONTAINER_NAME: "a-renamed"})
    wait.until(lambda: registry.instances(service)[0].metadata[META_CONTAINER] == "a-renamed",
               what="container name in metadata")
    assert [i.instance_id for i in registry.instances(service)] == [f"{switch}-a"]
    set_up(nb, f"{switch}-b", True)
    wait.until(lambda: len(registry.instances(service)) == 2, what="b up")
    assert [i.zone for i in registry.instances(service)] == ["h1", "h2"]

    # Relabelled: another port number, then another service altogether.
    nb.set_port_ids(f"{switch}-a", {external_ids.SERVICE_PORT: "9090"})
    wait.until(lambda: (f"{switch}-a", "10.9.0.5", 9090) in hosts(registry, service),
               what="new port number")
    nb.set_port_ids(f"{switch}-a", {external_ids.SERVICE: f"{service}-v2"})
    wait.until(lambda: hosts(registry, service) == [(f"{switch}-b", "10.9.0.6", 8080)],
               what="a leaving the service")
    assert hosts(registry, f"{service}-v2") == [(f"{switch}-a", "10.9.0.5", 9090)]

    # Unlabelled, down, deleted.
    nb._commit("unlabel", nb.api.db_remove("Logical_Switch_Port", f"{switch}-a",
                                           "external_ids", external_ids.SERVICE))
    wait.until(lambda: registry.instances(f"{service}-v2") == [], what="a unlabelled")
    set_up(nb, f"{switch}-b", False)
    wait.until(lambda: registry.instances(service) == [], what="b down")
    set_up(nb, f"{switch}-b", True)
    wait.until(lambda: registry.instances(service), what="b up again")
    nb.delete_port(f"{switch}-b")
    wait.until(lambda: registry.instances(service) == [], what="b deleted")
    assert service not in registry.services()


def test_deleting_the_network_removes_its_instances(nb, registry):
    tag = uuid.uuid4().hex[:8]
    switch, service = f"lbdel-{tag}", f"pay-{tag}"
    nb.create_switch(switch, {external_ids.NETWORK_NAME: "gone"})
    for n in range(3):
        add_instance(nb, switch, f"{switch}-{n}", f"10.9.1.{n + 2}", service)
    wait.until(lambda: len(registry.instances(service)) == 3, what="three instances")
    nb.delete_switch(switch)  # the ports go with it (OVSDB garbage collection)
    wait.until(lambda: registry.instances(service) == [], what="network deleted")


def test_network_rename_updates_metadata(nb, registry, net):
    switch, service = net
    add_instance(nb, switch, f"{switch}-a", "10.9.2.5", service)
    wait.until(lambda: registry.instances(service), what="instance")
    nb.set_switch_ids(switch, {external_ids.NETWORK_NAME: "renamed"})
    wait.until(lambda: registry.instances(service)[0].metadata[META_NETWORK] == "renamed",
               what="new network name in metadata")


def test_badly_labelled_ports_are_skipped(nb, registry, net):
    switch, service = net
    add_instance(nb, switch, f"{switch}-bad", "10.9.3.5", service, service_port="http")
    nb.add_port(switch, f"{switch}-dyn", ["dynamic"], [], {
        external_ids.SERVICE: service, external_ids.SERVICE_PORT: "80"})
    set_up(nb, f"{switch}-dyn", True)
    add_instance(nb, switch, f"{switch}-ok", "10.9.3.6", service)
    wait.until(lambda: registry.instances(service), what="the good instance")
    assert hosts(registry, service) == [(f"{switch}-ok", "10.9.3.6", 8080)]


def test_listeners_hear_each_change_once_per_update(nb, registry, net):
    switch, service = net
    heard: list[tuple[str, ...]] = []
    lock = threading.Lock()

    def listener(service_id, instances):
        if service_id == service:
            with lock:
                heard.append(tuple(i.instance_id for i in instances))

    unsubscribe = registry.subscribe(listener)
    try:
        # Three ports in one transaction: one NB update, so one rebuild and one call.
        ports = [f"{switch}-{n}" for n in range(3)]
        commands = []
        for n, port in enumerate(ports):
            commands.append(nb.api.lsp_add(
                switch, port, addresses=[f"0a:58:0a:09:04:0{n} 10.9.4.{n}"],
                external_ids={external_ids.SERVICE: service, external_ids.SERVICE_PORT: "80"}))
            commands.append(nb.api.db_set("Logical_Switch_Port", port, ("up", True)))
        nb._commit("three instances at once", *commands)
        wait.until(lambda: heard, what="the listener")
        nb.delete_port(ports[0])
        wait.until(lambda: len(heard) == 2, what="the listener again")
        assert heard == [tuple(ports), tuple(ports[1:])]
    finally:
        unsubscribe()


def test_client_balances_and_fails_over_on_registry(nb, registry, net):
    switch, service = net
    for n in range(3):
        add_instance(nb, switch, f"{switch}-{n}", f"10.9.5.{n + 2}", service)
    wait.until(lambda: len(registry.instances(service)) == 3, what="three instances")

    with LoadBalancerClient(registry) as lb:
        chosen = [lb.choose(service).host for _ in range(6)]
        assert sorted(chosen) == sorted(["10.9.5.2", "10.9.5.3", "10.9.5.4"] * 2)
        assert lb.reconstruct_uri(lb.choose(service), f"http://{service}/orders?id=7") in {
            f"http://10.9.5.{n}:8080/orders?id=7" for n in (2, 3, 4)}

        dead = "10.9.5.3"

        def call(instance):
            if instance.host == dead:
                raise ConnectionRefusedError(f"{instance.address} refused")
            return instance.host

        results = [lb.execute(service, call, retries_next=1) for _ in range(9)]
        assert dead not in results and set(results) == {"10.9.5.2", "10.9.5.4"}

        # The dead one leaves the registry: its stats go with it.
        assert lb.stats.snapshot(next(i for i in registry.instances(service)
                                      if i.host == dead)).failures > 0
        nb.delete_port(f"{switch}-1")
        wait.until(lambda: len(registry.instances(service)) == 2, what="dead one removed")
        assert all(lb.execute(service, call) != dead for _ in range(4))

        with pytest.raises(AllAttemptsFailed, match=service):
            lb.execute(service, lambda i: 1 / 0, retries_next=5)
        with pytest.raises(NoInstancesError, match="no instances of service nosuch"):
            lb.choose("nosuch")


def test_choices_need_no_db_and_a_resync_drops_what_vanished(workdir):
    """Own server: stopped, changed offline, restarted. Choices keep coming from
    memory while it is down. After reconnecting, the IDL re-reads the DB and the
    ports come back as plain ports: no delete notice, no event matches them; only
    the re-sync rebuild can tell that the service is gone."""
    server = nb_server(os.path.join(workdir, "nb-lb"))
    client = Northbound(server.remote)
    registry = NbRegistry(server.remote)
    try:
        client.create_switch("sw", {external_ids.NETWORK_NAME: "front"})
        add_instance(client, "sw", "a", "10.9.6.2", "orders")
        add_instance(client, "sw", "b", "10.9.6.3", "orders")
        wait.until(lambda: len(registry.instances("orders")) == 2, what="two instances")
        client.close()
        server.stop()

        lb = LoadBalancerClient(registry)
        assert {lb.choose("orders").host for _ in range(4)} == {"10.9.6.2", "10.9.6.3"}

        db = os.path.join(server.folder, "db.db")
        procs.run(["ovsdb-tool", "transact", db, json.dumps(
            ["OVN_Northbound", {"op": "mutate", "table": "Logical_Switch_Port",
                                "where": [],
                                "mutations": [["external_ids", "delete",
                                               ["set", [external_ids.SERVICE]]]]}])],
                  "unlabelling offline")
        server.start()
        wait.until(lambda: registry.instances("orders") == [], timeout=20,
                   what="re-sync after reconnect")
        with pytest.raises(NoInstancesError):
            lb.choose("orders")
    finally:
        registry.close()
        server.stop()


def test_unreachable_db_is_a_clear_error(workdir):
    with pytest.raises(RegistryError, match="cannot watch OVN Northbound"):
        NbRegistry(f"unix:{workdir}/no-such-nb.sock", timeout=1)
