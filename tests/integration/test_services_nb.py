"""Service VIPs in a real ovsdb-server with OVN's NB schema: what `service create` writes
(in one transaction), how backends follow the registry when two hosts reconcile at
once, and what delete and a vanished network leave behind (nothing)."""

from __future__ import annotations

import uuid

import pytest

from dockovn.network import external_ids
from dockovn.network.overlay.ipam import ADDRESS_SPACE
from dockovn.network.services.manager import Services
from dockovn.network.services.model import ServiceError, responder_names
from dockovn.ovn.nb import Northbound, NorthboundError

from tests.support import wait

pytestmark = pytest.mark.integration


def make_network(nb: Northbound, subnet_prefix: str, ipam: bool = False) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    switch, name = f"svcnet-{tag}", f"net-{tag}"
    ids = {external_ids.NETWORK_ID: switch, external_ids.NETWORK_NAME: name,
           external_ids.SUBNET: f"{subnet_prefix}.0/24", external_ids.GATEWAY: f"{subnet_prefix}.1"}
    if ipam:
        ids[external_ids.IPAM] = ADDRESS_SPACE
        pool = "dockovn_pool_" + subnet_prefix.replace(".", "_") + "_0_24"
        nb.create_pool(pool, {"dockovn:subnet": f"{subnet_prefix}.0/24"})
    nb.create_switch(switch, ids)
    wait.until(lambda: nb.switch(switch), what="switch in cache")
    return switch, name


def add_instance(nb: Northbound, switch: str, port: str, ip: str, service: str | None,
                 up: bool = True) -> None:
    mac = "0a:58:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    ids = {external_ids.ENDPOINT_ID: port, external_ids.CONTAINER_NAME: f"c-{port}", external_ids.HOSTNAME: "h1"}
    if service:
        ids.update({external_ids.SERVICE: service, external_ids.SERVICE_PORT: "8080"})
    nb.add_port(switch, port, [f"{mac} {ip}"], [f"{mac} {ip}"], ids)
    # ovn-northd sets `up` once ovn-controller binds the port; there is none here.
    nb._commit("up", nb.api.db_set("Logical_Switch_Port", port, ("up", up)))


def the_lb(services: Services, service: str):
    found = [s for s in services.service_lbs() if s.service == service]
    return found[0] if found else None


def test_create_writes_everything_in_one_go_and_delete_removes_it(nb):
    switch, name = make_network(nb, "10.70.1")
    add_instance(nb, switch, f"{switch}-a", "10.70.1.5", "orders")
    add_instance(nb, switch, f"{switch}-b", "10.70.1.6", "orders", up=False)
    add_instance(nb, switch, f"{switch}-c", "10.70.1.7", None)
    services = Services(nb)
    services.create("orders", name, "10.70.1.250:80", port=8080, interval=1)
    wait.until(lambda: the_lb(services, "orders"), what="load balancer in cache")
    slb = the_lb(services, "orders")
    assert slb.lb.vips == {"10.70.1.250:80": "10.70.1.5:8080"}  # b is not bound yet
    assert slb.lb.ip_port_mappings == {"10.70.1.5": f"{switch}-a:10.70.1.254"}
    assert slb.lb.switches == (switch,) and slb.lb.options == {"reject": "true"}
    [check] = slb.lb.health_checks
    assert check.vip == "10.70.1.250:80" and check.options["interval"] == "1"
    router, lrp, lsp = responder_names("orders", switch)
    [responder] = [p for p in nb.ports(switch) if p.name == lsp]
    assert responder.addresses == ("router",)
    assert responder.options == {"router-port": lrp}
    assert external_ids.SERVICE not in responder.external_ids  # not a registry instance
    lr = nb.api.lookup("Logical_Router", router)
    assert [(p.name, p.networks, p.mac) for p in lr.ports] == [
        (lrp, ["10.70.1.250/24"], "0a:58:0a:46:01:fa")]

    # The same service on the same network again, or the VIP for another: refused.
    with pytest.raises(ServiceError, match="already has a VIP"):
        services.create("orders", name, "10.70.1.251:80")
    with pytest.raises(ServiceError, match="VIP of service orders"):
        services.create("billing", name, "10.70.1.250:81")
    with pytest.raises(ServiceError, match=f"c-{switch}-c"):
        services.create("billing", name, "10.70.1.7:80")
    with pytest.raises(ServiceError, match="gateway"):
        services.create("billing", name, "10.70.1.1:80")

    services.delete("orders")
    wait.until(lambda: the_lb(services, "orders") is None, what="load balancer gone")
    assert nb.port(lsp) is None
    assert nb.api.lookup("Logical_Router", router, default=None) is None
    checks = nb.api.tables["Load_Balancer_Health_Check"].rows.values()
    assert all(hc.vip != "10.70.1.250:80" for hc in checks)  # collected with the LB
    with pytest.raises(ServiceError, match="has no VIP"):
        services.delete("orders")
    nb.delete_switch(switch)


def test_a_failed_create_leaves_nothing(nb):
    switch, name = make_network(nb, "10.70.2")
    services = Services(nb)
    router, _, lsp = responder_names("pay", switch)
    # Another host's create of the same service won the race: the responder's switch
    # port name (a unique index) is taken, so this whole transaction fails.
    nb._commit("squat", nb.api.lsp_add(switch, lsp, addresses=["unknown"]))
    with pytest.raises(NorthboundError):
        services.create("pay", name, "10.70.2.250:80")
    assert the_lb(services, "pay") is None
    assert nb.api.lookup("Logical_Router", router, default=None) is None
    nb.delete_switch(switch)


def test_dockovn_ipam_reserves_and_releases_vip_and_probe_address(nb):
    switch, name = make_network(nb, "10.70.3", ipam=True)
    pool = "dockovn_pool_10_70_3_0_24"
    nb.allocate(pool, lambda taken: "10.70.3.254")  # a container holds the top address
    services = Services(nb)
    slb = services.create("cart", name, "10.70.3.250:80")
    assert slb.health_ip == "10.70.3.253"
    wait.until(lambda: {"10.70.3.250", "10.70.3.253"} <= nb.pool(pool).addresses,
               what="addresses reserved")
    with pytest.raises(ServiceError, match="address pool"):
        services.create("other", name, "10.70.3.254:80")
    services.delete("cart")
    wait.until(lambda: nb.pool(pool).addresses == {"10.70.3.254"}, what="addresses released")
    nb.delete_switch(switch, (pool,))


def test_two_hosts_reconciling_converge(nb, nb_db):
    """Backends follow the registry; two writers at once agree and then go quiet."""
    other = Northbound(nb_db.remote)  # a second host's driver
    try:
        switch, name = make_network(nb, "10.70.4")
        here, there = Services(nb), Services(other)
        here.create("api", name, "10.70.4.250:80")
        for n in range(4):
            add_instance(nb, switch, f"{switch}-{n}", f"10.70.4.{n + 2}", "api")
        want = "10.70.4.2:8080,10.70.4.3:8080,10.70.4.4:8080,10.70.4.5:8080"

        def settled(services: Services) -> bool:
            slb = the_lb(services, "api")
            return bool(slb) and slb.lb.vips["10.70.4.250:80"] == want

        # Both passes may write (each from its own cache); they end up agreeing.
        wait.until(lambda: [here.reconcile(), there.reconcile()] and settled(here)
                   and settled(there), what="both hosts see the four backends")
        wait.until(lambda: here.reconcile() == 0 and there.reconcile() == 0, what="quiet")
        assert len(the_lb(here, "api").lb.ip_port_mappings) == 4

        nb.delete_port(f"{switch}-1")
        wait.until(lambda: nb.port(f"{switch}-1") is None and
                   other.port(f"{switch}-1") is None, what="port gone everywhere")
        # One pass removes the backend. (The session's driver process reconciles this
        # NB too and may get there first: what matters is the outcome and the quiet.)
        assert there.reconcile() in (0, 1)
        wait.until(lambda: "10.70.4.3:" not in the_lb(here, "api").lb.vips["10.70.4.250:80"],
                   what="backend removed")
        wait.until(lambda: here.reconcile() == 0 and there.reconcile() == 0, what="quiet again")

        # The network goes (Docker removed it): the next pass removes the VIP too.
        nb.delete_switch(switch)
        wait.until(lambda: other.switch(switch) is None, what="switch gone")
        assert there.reconcile() in (0, 1)  # (or the session's driver did it)
        router, _, _ = responder_names("api", switch)
        wait.until(lambda: the_lb(here, "api") is None and
                   nb.api.lookup("Logical_Router", router, default=None) is None,
                   what="orphaned VIP removed")
        assert here.reconcile() == 0 and there.reconcile() == 0
    finally:
        other.close()
