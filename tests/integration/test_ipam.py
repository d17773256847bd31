"""The IpamDriver over the socket, against a real NB ovsdb-server: pools and
addresses as Address_Set rows, errors in both "Err" and IPAM's "Error"."""

from __future__ import annotations

import uuid

import pytest

from dockovn.network import external_ids

from tests.support import wait

pytestmark = pytest.mark.integration


def subnet() -> str:
    """A /28 of its own per test (the NB server is shared by the session)."""
    n = uuid.uuid4().int % 4000
    return f"10.{120 + n // 250}.{n % 250}.0/28"


def pool(plugin, net: str, **extra) -> str:
    status, reply = plugin.call("IpamDriver.RequestPool",
                                {"AddressSpace": "dockovn", "Pool": net, **extra})
    assert status == 200 and "Err" not in reply, reply
    assert reply["Pool"] == net
    return reply["PoolID"]


def address(plugin, pool_id: str, ip: str = "", gateway: bool = False) -> dict:
    options = {"RequestAddressType": "com.docker.network.gateway"} if gateway else {}
    return plugin.call("IpamDriver.RequestAddress",
                       {"PoolID": pool_id, "Address": ip, "Options": options})[1]


def test_capabilities_and_address_spaces(plugin):
    assert plugin.call("IpamDriver.GetCapabilities") == (
        200, {"RequiresMACAddress": False, "RequiresRequestReplay": False})
    assert plugin.call("IpamDriver.GetDefaultAddressSpaces") == (
        200, {"LocalDefaultAddressSpace": "dockovn", "GlobalDefaultAddressSpace": "dockovn"})


def test_pool_lifecycle_in_nb(plugin, nb):
    net = subnet()
    pid = pool(plugin, net)
    name = "dockovn_pool_" + net.replace(".", "_").replace("/", "_")
    wait.until(lambda: nb.pool(name), what="Address_Set row")
    gw = address(plugin, pid, gateway=True)
    prefix = net.rsplit(".", 1)[0]
    assert gw == {"Address": f"{prefix}.1/28", "Data": {}}
    # A second gateway request (another host's view of the network) gets the same one.
    assert address(plugin, pid, gateway=True)["Address"] == f"{prefix}.1/28"
    first = address(plugin, pid)["Address"]
    second = address(plugin, pid)["Address"]
    assert (first, second) == (f"{prefix}.2/28", f"{prefix}.3/28")
    wait.until(lambda: nb.pool(name).addresses == {f"{prefix}.1", f"{prefix}.2", f"{prefix}.3"})
    # Released addresses are reused, lowest first.
    assert plugin.call("IpamDriver.ReleaseAddress", {"PoolID": pid, "Address": first}) == (200, {})
    assert address(plugin, pid)["Address"] == f"{prefix}.2/28"
    assert plugin.call("IpamDriver.ReleasePool", {"PoolID": pid}) == (200, {})
    wait.until(lambda: nb.pool(name) is None, what="pool deleted")
    assert plugin.call("IpamDriver.ReleasePool", {"PoolID": pid}) == (200, {})  # idempotent


def test_requested_address_taken_is_refused_with_error_key(plugin):
    net = subnet()
    pid = pool(plugin, net)
    ip = net.rsplit(".", 1)[0] + ".5"
    assert address(plugin, pid, ip)["Address"] == f"{ip}/28"
    reply = address(plugin, pid, ip)
    # libnetwork's IPAM client reads "Error"; a reply with only "Err" would look like success.
    assert reply["Error"] == reply["Err"]
    assert f"address {ip} is already in use" in reply["Err"]
    plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})


def test_pool_exhaustion_is_reported(plugin):
    net = subnet()  # a /28: 14 usable addresses
    pid = pool(plugin, net)
    got = [address(plugin, pid).get("Address") for _ in range(14)]
    assert all(got) and len(set(got)) == 14
    assert "no free address left" in address(plugin, pid)["Err"]
    plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})


def test_ip_range_limits_allocation(plugin):
    net = subnet()
    prefix = net.rsplit(".", 1)[0]
    pid = pool(plugin, net, SubPool=f"{prefix}.8/29")
    assert address(plugin, pid)["Address"] == f"{prefix}.8/28"
    plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})


@pytest.mark.parametrize("body, complaint", [
    ({"AddressSpace": "elsewhere", "Pool": "10.250.0.0/24"}, "unknown address space"),
    ({"Pool": "10.250.0.1/24"}, "has host bits set"),
    ({"Pool": "10.250.0.0/24", "V6": True}, "is not an IPv6 subnet"),
    ({"Pool": "10.250.0.0/24", "SubPool": "10.251.0.0/28"}, "is not inside"),
])
def test_bad_pool_requests(plugin, body, complaint):
    status, reply = plugin.call("IpamDriver.RequestPool", body)
    assert status == 200 and complaint in reply["Error"]


def test_subnet_in_use_or_overlapping_is_refused(plugin, nb):
    net = subnet()
    pid = pool(plugin, net)
    nid = uuid.uuid4().hex * 2
    status, reply = plugin.call("NetworkDriver.CreateNetwork", {
        "NetworkID": nid, "Options": {"com.docker.network.generic": {}},
        "IPv4Data": [{"AddressSpace": "dockovn", "Pool": net, "Gateway": ""}]})
    assert status == 200 and reply == {}
    wait.until(lambda: nb.switch(nid))
    assert nb.switch(nid).external_ids[external_ids.IPAM] == "dockovn"
    # Same subnet again from a user (not another host's view): refused.
    status, reply = plugin.call("IpamDriver.RequestPool", {"Pool": net})
    assert "is already used by dockovn network" in reply["Error"]
    # ... but another host's view (dockovn.network=<switch>) shares it.
    status, reply = plugin.call("IpamDriver.RequestPool",
                                {"Pool": net, "Options": {"dockovn.network": nid}})
    assert reply.get("PoolID") == pid
    wider = net.rsplit(".", 2)[0] + ".0.0/16"
    status, reply = plugin.call("IpamDriver.RequestPool", {"Pool": wider})
    assert "overlaps dockovn pool" in reply["Error"]
    # Deleting the network takes the pool with it (Docker releases pools first).
    plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})
    assert plugin.call("NetworkDriver.DeleteNetwork", {"NetworkID": nid}) == (200, {})
    name = "dockovn_pool_" + net.replace(".", "_").replace("/", "_")
    wait.until(lambda: nb.pool(name) is None and nb.switch(nid) is None)


def test_pool_without_subnet_gets_a_free_one(plugin):
    status, reply = plugin.call("IpamDriver.RequestPool", {"AddressSpace": "dockovn"})
    assert status == 200 and reply["Pool"].startswith("10.20") and reply["Pool"].endswith("/24")
    status, second = plugin.call("IpamDriver.RequestPool", {"AddressSpace": "dockovn"})
    assert second["Pool"] != reply["Pool"]
    for r in (reply, second):
        plugin.call("IpamDriver.ReleasePool", {"PoolID": r["PoolID"]})


def test_unknown_pool(plugin):
    reply = address(plugin, "dockovn/10.251.9.0/24")
    assert "not found" in reply["Error"]
    status, reply = plugin.call("IpamDriver.RequestAddress", {"PoolID": "LocalDefault/x"})
    assert "is not a dockovn pool" in reply["Err"]


def test_parallel_pools_without_subnet_never_share_one(plugin):
    """Several `docker network create` without --subnet at once: each pool is its own
    (the race: both picked the first free /24 and the loser took it over)."""
    from concurrent.futures import ThreadPoolExecutor

    def request(_):
        return plugin.call("IpamDriver.RequestPool", {"AddressSpace": "dockovn"})[1]

    for _ in range(3):
        with ThreadPoolExecutor(6) as ex:
            replies = list(ex.map(request, range(6)))
        try:
            pools = [r.get("Pool") for r in replies]
            assert all(pools), replies
            assert len(set(pools)) == len(pools), pools
        finally:
            for r in replies:
                if "PoolID" in r:
                    plugin.call("IpamDriver.ReleasePool", {"PoolID": r["PoolID"]})


def test_a_pool_being_created_is_not_taken_over(plugin):
    """A pool with no network yet, made a moment ago, belongs to a create in progress:
    a second create of the same subnet is refused instead of sharing it."""
    net = subnet()
    pid = pool(plugin, net)
    try:
        status, reply = plugin.call("IpamDriver.RequestPool", {"Pool": net})
        assert "another request is creating right now" in reply["Error"]
    finally:
        plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})


def test_another_hosts_view_that_comes_before_the_network_waits_for_it(plugin, nb):
    """Another host's RequestPool (dockovn.network=<switch>) that arrives before this
    driver's copy of NB has the network's switch: it waits for the switch and shares the
    pool, instead of taking the young pool for another create in progress."""
    import threading

    net = subnet()
    pid = pool(plugin, net)
    nid = uuid.uuid4().hex * 2
    replies = {}
    joining = threading.Thread(target=lambda: replies.update(join=plugin.call(
        "IpamDriver.RequestPool", {"Pool": net, "Options": {"dockovn.network": nid}})[1]))
    try:
        joining.start()
        joining.join(0.5)
        assert joining.is_alive(), replies  # still waiting: the network is not there yet
        status, reply = plugin.call("NetworkDriver.CreateNetwork", {
            "NetworkID": nid, "Options": {"com.docker.network.generic": {}},
            "IPv4Data": [{"AddressSpace": "dockovn", "Pool": net, "Gateway": ""}]})
        assert status == 200 and reply == {}
        joining.join(10)
        assert replies["join"].get("PoolID") == pid, replies
    finally:
        joining.join(10)
        plugin.call("IpamDriver.ReleasePool", {"PoolID": pid})
        plugin.call("NetworkDriver.DeleteNetwork", {"NetworkID": nid})
