"""Every write dockovn makes to OVN Northbound has one effect even when its answer is lost.

The client under test talks to a real ovsdb-server through ``OvsdbProxy``, which lets
the transaction commit and drops the reply with the connection. python-ovs reports
"try again", ovsdbapp re-runs the commands on the refreshed cache, which already holds
what the first run wrote. Each test then checks, with a second client connected
directly, that the call answered success and the DB holds exactly one effect.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import time
import uuid
from collections import Counter

import pytest

from dockovn.network import external_ids
from dockovn.network.api import (ReleaseAddressRequest, ReleasePoolRequest,
                                 RequestAddressRequest, RequestPoolRequest)
from dockovn.network.collector import Stale
from dockovn.network.overlay import dead_host
from dockovn.network.overlay.gc import Collector
from dockovn.network.overlay.ipam import (ADDRESS_SPACE, ALLOCATED_AT, GATEWAY_REQUEST,
                                          POOL_GATEWAY, POOL_SUBNET, REQUEST_TYPE, OvnIpam,
                                          pool_id, pool_name)
from dockovn.network.policy.manager import Policies
from dockovn.network.policy.membership import MembershipSync
from dockovn.network.policy.model import LOG_METER
from dockovn.network.services.manager import Services
from dockovn.network.services.model import responder_names
from dockovn.ovn.nb import Northbound, RouterAttachment
from dockovn.ovsdb import internals
from dockovn.ovn.port_groups import NewPortGroup, PortGroups

from tests.support import wait
from tests.support.daemons import nb_server
from tests.support.ovsdb_proxy import OvsdbProxy

pytestmark = pytest.mark.integration

BARRIER = "dockovn-test:barrier"  # NB_Global key written to bring a client up to date
_subnets = itertools.count(1)


@pytest.fixture(scope="module")
def nb_db(workdir):
    """An NB of this module's own. The session's driver watches the session's NB and
    would run its own passes (service backends, policy groups) ahead of the call under
    test, which then has nothing left to write and proves nothing."""
    server = nb_server(os.path.join(workdir, "nb-lost-answers"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nb(nb_db):
    client = Northbound(nb_db.remote)
    yield client
    client.close()


@pytest.fixture
def proxy(nb_db):
    proxy = OvsdbProxy(nb_db.remote).start()
    yield proxy
    proxy.close()


@pytest.fixture
def through(proxy):
    """The client under test: its every byte passes the proxy."""
    client = Northbound(proxy.remote)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def leave_nothing(nb):
    """What a test here made (all named "lost"; pools of 10.61/16) must not meet the
    module's other tests (a policy selecting by label anywhere would find these ports)."""
    yield

    def ours(table, row) -> bool:
        if table == "Address_Set":
            return row.name.startswith("dockovn_pool_10_61_")
        if table == "Logical_Router":
            return "lost" in row.name or any("lost" in p.name for p in row.ports)
        return "lost" in row.name

    with nb.api.transaction(check_error=True) as txn:
        for table in ("Logical_Switch", "Logical_Router", "Port_Group", "Load_Balancer",
                      "Address_Set"):
            for row in list(nb.api.tables[table].rows.values()):
                if ours(table, row):
                    txn.add(nb.api.db_destroy(table, row.uuid))


# -- helpers ---------------------------------------------------------------------------


def tag() -> str:
    return uuid.uuid4().hex[:8]


def subnet() -> ipaddress.IPv4Network:
    """A /28 of its own per test (the NB server is shared by the session)."""
    n = next(_subnets)
    return ipaddress.ip_network(f"10.61.{n}.0/28")


def lose_answer(proxy: OvsdbProxy, call, *args, **kwargs):
    """``call(...)`` with the answer to its first write lost. A call that raises is
    reported as it is, once it is known the answer really was cut: a test whose
    cut never happened proves nothing and fails."""
    before = proxy.cut
    proxy.arm()
    try:
        return call(*args, **kwargs)
    finally:
        proxy.disarm()
        assert proxy.cut == before + 1, "the proxy lost no answer: nothing was tested"


def settled(nb: Northbound) -> None:
    """Bring ``nb``'s cache up to every commit so far: ovsdb-server sends a client the
    updates committed before its own transaction ahead of that transaction's reply."""
    with nb.api.ovsdb_connection.lock:
        row = next(iter(nb.api.tables["NB_Global"].rows.values()))
    with nb.api.transaction(check_error=True) as txn:
        txn.add(nb.api.db_set("NB_Global", row.uuid, ("external_ids", {BARRIER: tag()})))


def named(nb: Northbound, table: str, name: str) -> list:
    """Rows of ``table`` called ``name``, by scan (Logical_Switch and Logical_Router
    have no name index: a duplicate would hide behind a look-up)."""
    with nb.api.ovsdb_connection.lock:
        return [r for r in nb.api.tables[table].rows.values() if r.name == name]


def has(ids: dict, expected: dict) -> bool:
    return all(ids.get(k) == v for k, v in expected.items())


def pool_state(nb: Northbound, name: str) -> tuple[set[str], set[str], dict]:
    """(addresses, the addresses with a claim key, external_ids) of the one pool ``name``."""
    with nb.api.ovsdb_connection.lock:
        rows = [r for r in nb.api.tables["Address_Set"].rows.values() if r.name == name]
        assert len(rows) == 1, f"{len(rows)} pools named {name}"
        ids = dict(rows[0].external_ids)
        return (set(rows[0].addresses),
                {k[len(ALLOCATED_AT):] for k in ids if k.startswith(ALLOCATED_AT)}, ids)


def make_network(nb: Northbound, through: Northbound, net=None, ipam: bool = False,
                 **extra) -> tuple[str, str]:
    """A dockovn network's switch written directly, once the client under test sees it:
    (switch, network name)."""
    t = tag()
    switch, name = f"lost-{t}", f"net-{t}"
    ids = {external_ids.NETWORK_ID: switch, external_ids.NETWORK_NAME: name, **extra}
    if net is not None:
        ids[external_ids.SUBNET] = str(net)
    if ipam:
        ids[external_ids.IPAM] = ADDRESS_SPACE
        new_pool(nb, through, net)
    nb.create_switch(switch, ids)
    wait.until(lambda: through.switch(switch), what="switch seen through the proxy")
    return switch, name


def make_port(nb: Northbound, through: Northbound, switch: str, ip: str, **ids) -> str:
    port = f"{switch}-{tag()}"
    mac_ip = "0a:58:" + ":".join(f"{int(b):02x}" for b in ip.split(".")) + f" {ip}"
    nb.add_port(switch, port, [mac_ip], [mac_ip],
                {external_ids.ENDPOINT_ID: port, external_ids.NETWORK_ID: switch, **ids})
    wait.until(lambda: through.port(port), what="port seen through the proxy")
    return port


def new_pool(nb: Northbound, through: Northbound,
             net: ipaddress.IPv4Network | None = None) -> tuple[ipaddress.IPv4Network, str]:
    """A pool as RequestPool makes it, written directly: (subnet, pool ID)."""
    net = net or subnet()
    nb.create_pool(pool_name(net), {POOL_SUBNET: str(net),
                                    external_ids.CREATED_AT: str(int(time.time()))})
    wait.until(lambda: through.pool(pool_name(net)), what="pool seen through the proxy")
    return net, pool_id(net)


# -- the proxy itself ------------------------------------------------------------------


def test_the_answer_is_lost_after_the_commit_and_the_client_reconnects(proxy, through, nb,
                                                                        caplog):
    switch, _ = make_network(nb, through)
    connections = internals.connections_made(through.api.idl)
    accepted = proxy.accepted
    key = external_ids.DOCKER_ID_PREFIX + tag()
    with caplog.at_level(logging.DEBUG, logger="ovsdbapp.backend.ovs_idl.transaction"):
        lose_answer(proxy, through.set_switch_ids, switch, {key: "h1 1"})
    assert proxy.cut_happened.is_set()
    # The client never read the answer: python-ovs told ovsdbapp "try again"...
    assert "returned TRY_AGAIN" in caplog.text
    # ...because the IDL lost its session; it opened another, through the proxy.
    assert internals.connections_made(through.api.idl) == connections + 1
    assert proxy.accepted == accepted + 1
    # The server had committed the first run.
    settled(nb)
    assert nb.switch(switch).external_ids[key] == "h1 1"


# -- networks --------------------------------------------------------------------------


def test_create_switch(proxy, through, nb):
    switch = f"lost-{tag()}"
    ids = {external_ids.NETWORK_ID: switch, external_ids.SUBNET: str(subnet())}
    lose_answer(proxy, through.create_switch, switch, ids)
    settled(nb)
    rows = named(nb, "Logical_Switch", switch)
    assert len(rows) == 1, f"{len(rows)} switches named {switch}"
    assert has(rows[0].external_ids, ids)


def test_create_switch_with_router_attachment(proxy, through, nb):
    t = tag()
    switch, router, lrp, rtr = f"lost-{t}", f"dockovn-router-{t}", f"lrp-lost-{t}", f"rtr-{t}"
    attach = RouterAttachment(router=router, router_external_ids={external_ids.ROUTER: t},
                              router_port=lrp, switch_port=rtr, mac="0a:58:0a:3d:00:01",
                              networks=(f"{next(subnet().hosts())}/28",))
    lose_answer(proxy, through.create_switch, switch, {external_ids.NETWORK_ID: switch},
                None, attach)
    settled(nb)
    assert len(named(nb, "Logical_Switch", switch)) == 1
    routers = named(nb, "Logical_Router", router)
    assert len(routers) == 1, f"{len(routers)} routers named {router}"
    assert [p.name for p in routers[0].ports] == [lrp]
    assert len(named(nb, "Logical_Router_Port", lrp)) == 1
    assert [p.name for p in nb.ports(switch)] == [rtr]


def test_set_switch_ids_adds_an_alias(proxy, through, nb):
    switch, _ = make_network(nb, through)
    alias = {external_ids.DOCKER_ID_PREFIX + tag(): external_ids.alias_value("h2", time.time())}
    lose_answer(proxy, through.set_switch_ids, switch, alias)
    settled(nb)
    ids = nb.switch(switch).external_ids
    assert has(ids, alias)
    assert [k for k in ids if k.startswith(external_ids.DOCKER_ID_PREFIX)] == list(alias)


def test_remove_switch_ids_drops_an_alias(proxy, through, nb):
    key = external_ids.DOCKER_ID_PREFIX + tag()
    switch, _ = make_network(nb, through, **{key: "h2 1"})
    lose_answer(proxy, through.remove_switch_ids, switch, (key,))
    settled(nb)
    assert key not in nb.switch(switch).external_ids


def test_delete_switch_with_its_pool_and_router_port(proxy, through, nb):
    t = tag()
    net = subnet()
    switch, router, lrp = f"lost-{t}", f"dockovn-router-{t}", f"lrp-lost-{t}"
    nb.create_pool(pool_name(net), {POOL_SUBNET: str(net)})
    nb.create_switch(switch, {external_ids.NETWORK_ID: switch}, None,
                     RouterAttachment(router, {}, lrp, f"rtr-{t}", "0a:58:0a:3d:00:01",
                                      (f"{next(net.hosts())}/28",)))
    wait.until(lambda: through.switch(switch) and through.pool(pool_name(net))
               and through.routers("dockovn-router-").get(router), what="network seen")
    lose_answer(proxy, through.delete_switch, switch, (pool_name(net),), lrp)
    settled(nb)
    assert named(nb, "Logical_Switch", switch) == []
    assert nb.pool(pool_name(net)) is None
    assert named(nb, "Logical_Router_Port", lrp) == []
    assert named(nb, "Logical_Router", router) == []


# -- ports -----------------------------------------------------------------------------


def test_add_port_with_its_port_group(proxy, through, nb):
    switch, _ = make_network(nb, through, subnet())
    group = f"lost_pg_{tag()}"
    PortGroups(nb).create([NewPortGroup(group, {})])
    wait.until(lambda: PortGroups(through).get(group), what="group seen through the proxy")
    port = f"{switch}-p1"
    mac_ip = "0a:58:0a:3d:00:05 10.61.0.5"
    ids = {external_ids.ENDPOINT_ID: port, external_ids.HOST: "h1"}
    lose_answer(proxy, through.add_port, switch, port, [mac_ip], [mac_ip], ids, (group,))
    settled(nb)
    assert len(named(nb, "Logical_Switch_Port", port)) == 1
    [found] = nb.ports(switch)
    assert found.name == port and found.addresses == (mac_ip,) and has(found.external_ids, ids)
    assert PortGroups(nb).get(group).ports == {port}


def test_delete_port_of_its_switch(proxy, through, nb):
    """DeleteEndpoint: the port taken out of its switch's ports."""
    switch, _ = make_network(nb, through, subnet())
    port = make_port(nb, through, switch, "10.61.0.6")
    lose_answer(proxy, through.delete_port, port, switch)
    settled(nb)
    assert nb.port(port) is None and nb.ports(switch) == []


def test_gc_removes_a_stale_port(proxy, through, nb):
    """`dockovn gc`: a logical port found stale, removed by name."""
    switch, _ = make_network(nb, through, subnet())
    port = make_port(nb, through, switch, "10.61.0.7")
    gc = Collector(through, None, "h1", engine_factory=None)  # remove() needs neither
    lose_answer(proxy, gc.remove, Stale("logical port", port, "endpoint gone"))
    settled(nb)
    assert nb.port(port) is None and nb.ports(switch) == []


def test_forget_host_removes_its_ports_addresses_and_aliases(proxy, through, nb):
    """`dockovn gc --forget-host`: one forget_ports transaction."""
    net = subnet()
    alias = external_ids.DOCKER_ID_PREFIX + tag()
    switch, _ = make_network(nb, through, net, ipam=True,
                             **{alias: external_ids.alias_value("gone-host", 1)})
    ip = OvnIpam(nb).request_address(
        RequestAddressRequest(pool_id=pool_id(net))).address.split("/")[0]
    port = make_port(nb, through, switch, ip, **{external_ids.HOST: "gone-host"})
    wait.until(lambda: ip in through.pool(pool_name(net)).addresses, what="claim seen")
    state = dead_host.find(through, "gone-host")
    assert [p for _, p, _ in state.ports] == [port]
    lose_answer(proxy, dead_host.forget, through, state)
    settled(nb)
    assert nb.port(port) is None and nb.ports(switch) == []
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == (set(), set())
    assert alias not in nb.switch(switch).external_ids


# -- address pools (the IpamDriver) ----------------------------------------------------


def test_request_pool_with_a_subnet(proxy, through, nb):
    net = subnet()
    reply = lose_answer(proxy, OvnIpam(through).request_pool,
                        RequestPoolRequest(address_space=ADDRESS_SPACE, pool=str(net)))
    assert (reply.pool_id, reply.pool) == (pool_id(net), str(net))
    settled(nb)
    pool_state(nb, pool_name(net))  # exactly one pool of that name


def test_request_pool_choosing_the_subnet(proxy, through, nb):
    before = {p.name for p in nb.pools()}
    reply = lose_answer(proxy, OvnIpam(through).request_pool,
                        RequestPoolRequest(address_space=ADDRESS_SPACE))
    settled(nb)
    made = {p.name for p in nb.pools()} - before
    assert made == {pool_name(ipaddress.ip_network(reply.pool))}, \
        f"answered {reply.pool}, made pools {sorted(made)}"


def test_release_pool(proxy, through, nb):
    net, pid = new_pool(nb, through)
    lose_answer(proxy, OvnIpam(through).release_pool, ReleasePoolRequest(pool_id=pid))
    settled(nb)
    assert nb.pool(pool_name(net)) is None


def test_request_address_fixed(proxy, through, nb):
    net, pid = new_pool(nb, through)
    ip = str(net[5])
    reply = lose_answer(proxy, OvnIpam(through).request_address,
                        RequestAddressRequest(pool_id=pid, address=ip))
    assert reply.address == f"{ip}/28"
    settled(nb)
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == ({ip}, {ip})


def test_request_address_lowest_free(proxy, through, nb):
    net, pid = new_pool(nb, through)
    reply = lose_answer(proxy, OvnIpam(through).request_address,
                        RequestAddressRequest(pool_id=pid))
    ip = reply.address.split("/")[0]
    settled(nb)
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == ({ip}, {ip}), f"answered {ip}"
    assert ip == str(net[1])


def test_request_gateway(proxy, through, nb):
    """Docker's gateway request: Northbound.allocate, conditional on the whole pool."""
    net, pid = new_pool(nb, through)
    reply = lose_answer(proxy, OvnIpam(through).request_address,
                        RequestAddressRequest(pool_id=pid,
                                              options={REQUEST_TYPE: GATEWAY_REQUEST}))
    gateway = str(net[1])
    assert reply.address == f"{gateway}/28"
    settled(nb)
    addresses, claimed, ids = pool_state(nb, pool_name(net))
    assert (addresses, claimed, ids.get(POOL_GATEWAY)) == ({gateway}, {gateway}, gateway)


def test_release_address(proxy, through, nb):
    net, pid = new_pool(nb, through)
    ip = OvnIpam(nb).request_address(RequestAddressRequest(pool_id=pid)).address
    wait.until(lambda: through.pool(pool_name(net)).addresses, what="claim seen")
    lose_answer(proxy, OvnIpam(through).release_address,
                ReleaseAddressRequest(pool_id=pid, address=ip))
    settled(nb)
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == (set(), set())


# -- policies (what `dockovn policy` runs) -----------------------------------------------


def test_policy_create(proxy, through, nb):
    switch, network = make_network(nb, through, subnet())
    db = make_port(nb, through, switch, "10.61.0.8", **{external_ids.LABEL_PREFIX + "app": "db"})
    make_port(nb, through, switch, "10.61.0.9", **{external_ids.LABEL_PREFIX + "app": "web"})
    policies = Policies(through)
    name = f"lost-{tag()}"
    policy = policies.build(name, network, ("app=db",), ("app=web",), (), (), ("tcp/5432",),
                            log=True)
    row = lose_answer(proxy, policies.create, policy)
    assert [m.address for m in row.members] == ["10.61.0.8"]
    settled(nb)
    assert len(named(nb, "Port_Group", policy.group)) == 1
    assert len(named(nb, "Port_Group", policy.source_group)) == 1
    group = PortGroups(nb).get(policy.group)
    assert group.ports == {db}
    assert Counter(group.acls) == Counter(policy.acls())
    with nb.api.ovsdb_connection.lock:
        acls = [a for a in nb.api.tables["ACL"].rows.values() if a.name == [name]]
    assert len(acls) == len(policy.acls())
    assert len(named(nb, "Meter", LOG_METER)) == 1
    Policies(nb).delete(name)  # the NB is the session's: leave no policy to other tests


def test_policy_membership_follows_a_label(proxy, through, nb):
    """A driver's membership pass (labels -> port groups): set mutations, so the re-run
    adds nothing twice and removes nothing it should keep."""
    host = f"lost-host-{tag()}"
    switch, network = make_network(nb, through, subnet())
    name = f"lost-{tag()}"
    policy = Policies(nb).build(name, network, ("app=db",), ("app=web",), (), (), (),
                                log=False)
    Policies(nb).create(policy)
    db = make_port(nb, through, switch, "10.61.0.11", **{external_ids.LABEL_PREFIX + "app": "db",
                                                         external_ids.HOST: host})
    web = make_port(nb, through, switch, "10.61.0.12",
                    **{external_ids.LABEL_PREFIX + "app": "web", external_ids.HOST: host})
    wait.until(lambda: PortGroups(through).get(policy.group), what="policy seen through the proxy")
    try:
        changes = lose_answer(proxy, MembershipSync(through, host).sync_once)
        assert changes.add == {policy.group: [db], policy.source_group: [web]}
        settled(nb)
        assert PortGroups(nb).get(policy.group).ports == {db}
        assert PortGroups(nb).get(policy.source_group).ports == {web}
        wait.until(lambda: PortGroups(through).get(policy.group).ports == {db},
                   what="the membership seen through the proxy")
        assert not MembershipSync(through, host).sync_once()  # nothing left to do
    finally:
        Policies(nb).delete(name)


def test_policy_delete(proxy, through, nb):
    policies = Policies(through)
    name = f"lost-{tag()}"
    Policies(nb).create(Policies(nb).build(name, None, ("app=x",), ("app=y",), (), (), (),
                                           log=False))
    wait.until(lambda: policies.get(name), what="policy seen through the proxy")
    assert lose_answer(proxy, policies.delete, name) is True
    settled(nb)
    assert PortGroups(nb).all(f"dkpol_{name.replace('-', '_')}") == []


# -- services ----------------------------------------------------------------------------


def test_service_add(proxy, through, nb):
    switch, network = make_network(nb, through, subnet())
    container = f"c-{tag()}"
    port = make_port(nb, through, switch, "10.61.0.10",
                     **{external_ids.CONTAINER_NAME: container})
    service = f"lost-{tag()}"  # the NB is the session's: never a name other tests use
    ports = lose_answer(proxy, Services(through).add, service, container, 8080, network)
    assert [p.name for p in ports] == [port]
    settled(nb)
    assert has(nb.port(port).external_ids, {external_ids.SERVICE: service,
                                            external_ids.SERVICE_PORT: "8080",
                                            external_ids.CONTAINER_NAME: container})


def test_service_remove(proxy, through, nb):
    switch, network = make_network(nb, through, subnet())
    container, service = f"c-{tag()}", f"lost-{tag()}"
    port = make_port(nb, through, switch, "10.61.0.13",
                     **{external_ids.CONTAINER_NAME: container, external_ids.SERVICE: service,
                        external_ids.SERVICE_PORT: "8080"})
    ports = lose_answer(proxy, Services(through).remove, service, container, network)
    assert [p.name for p in ports] == [port]
    settled(nb)
    ids = nb.port(port).external_ids
    assert external_ids.SERVICE not in ids and external_ids.SERVICE_PORT not in ids
    assert ids[external_ids.CONTAINER_NAME] == container


def test_service_backends_follow_the_registry(proxy, through, nb):
    """A driver's reconciliation pass: the load balancer's backends are set whole (a
    column written, not mutated), so the re-run writes the same."""
    net = subnet()
    switch, network = make_network(nb, through, net, ipam=True)
    service = f"lost-{tag()}"
    Services(nb).create(service, network, f"{net[10]}:80", health_check=False)
    port = make_port(nb, through, switch, str(net[5]), **{external_ids.SERVICE: service,
                                                           external_ids.SERVICE_PORT: "8080"})
    # Bound, as ovn-northd reports it: only bound instances are backends.
    nb.api.db_set("Logical_Switch_Port", port, ("up", True)).execute(check_error=True)
    wait.until(lambda: through.port(port).up, what="the port's state seen through the proxy")
    wait.until(lambda: [s for s in Services(through).service_lbs() if s.network_id == switch],
               what="service seen through the proxy")
    try:
        assert lose_answer(proxy, Services(through).reconcile) >= 1
        settled(nb)
        [slb] = [s for s in Services(nb).service_lbs() if s.network_id == switch]
        assert slb.lb.vips == {f"{net[10]}:80": f"{net[5]}:8080"}
    finally:
        Services(nb).delete(service, network)


def test_service_create(proxy, through, nb):
    """`dockovn service create`: a VIP taken from the network's pool, with its
    load balancer and responder, in one transaction."""
    net = subnet()
    switch, network = make_network(nb, through, net, ipam=True)
    vip = str(net[10])
    service = f"lost-{tag()}"
    lose_answer(proxy, Services(through).create, service, network, f"{vip}:80",
                health_check=False)
    settled(nb)
    lbs = [s for s in Services(nb).service_lbs() if s.network_id == switch]
    assert len(lbs) == 1, f"{len(lbs)} load balancers on {switch}"
    router, lrp, lsp = responder_names(service, switch)
    assert len(named(nb, "Logical_Router", router)) == 1
    assert [p.name for p in nb.ports(switch)] == [lsp]
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == ({vip}, {vip})


def test_service_delete(proxy, through, nb):
    net = subnet()
    switch, network = make_network(nb, through, net, ipam=True)
    service = f"lost-{tag()}"
    Services(nb).create(service, network, f"{net[10]}:80", health_check=False)
    wait.until(lambda: [s for s in Services(through).service_lbs() if s.network_id == switch],
               what="service seen through the proxy")
    lose_answer(proxy, Services(through).delete, service, network)
    settled(nb)
    assert [s for s in Services(nb).service_lbs() if s.network_id == switch] == []
    assert named(nb, "Logical_Router", responder_names(service, switch)[0]) == []
    assert nb.ports(switch) == []
    addresses, claimed, _ = pool_state(nb, pool_name(net))
    assert (addresses, claimed) == (set(), set())
