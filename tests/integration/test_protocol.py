"""The libnetwork remote protocol, posted as raw JSON to the driver's socket the way
dockerd does, against a real ovsdb-server (OVN NB schema) and a real OVS bridge.
Each test checks what a user would: the reply, the NB rows, the interfaces."""

from __future__ import annotations

import os
import uuid

import pytest
from pyroute2 import IPRoute

from dockovn.host import links
from dockovn.network import external_ids
from dockovn.network import identifiers

from tests.support import wait

pytestmark = pytest.mark.integration


def new_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like Docker's IDs


def create_network(plugin, subnet="10.20.0.0/24", gateway="10.20.0.1/24", options=None):
    nid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateNetwork", {
        "NetworkID": nid,
        "Options": {"com.docker.network.enable_ipv6": False,
                    "com.docker.network.generic": options or {}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": subnet, "Gateway": gateway,
                      "AuxAddresses": None}],
        "IPv6Data": [],
    })
    assert (status, reply) == (200, {}), reply
    return nid


def create_endpoint(plugin, nid, address="10.20.0.2/24", mac=""):
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": nid, "EndpointID": eid, "Options": {},
        "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": mac}})
    assert status == 200 and "Err" not in reply, reply
    return eid, reply


def veths_of(eid: str) -> list[str]:
    outer, inner = identifiers.veth_names(eid)
    return [n for n in (outer, inner) if links.exists(n)]


def dockovn_rows(nb) -> tuple[int, int]:
    switches = nb.switches_with(external_ids.NETWORK_ID, with_ports=True)
    return len(switches), sum(len(s.port_names) for s in switches)


# -- the happy path --------------------------------------------------------------------------


def test_activate_and_capabilities(plugin):
    assert plugin.call("Plugin.Activate") == (200, {"Implements": ["NetworkDriver", "IpamDriver"]})
    status, reply = plugin.call("NetworkDriver.GetCapabilities")
    assert (status, reply) == (200, {"Scope": "local", "ConnectivityScope": "global"})


def test_replies_use_dockers_content_type(plugin):
    _, _, ctype = plugin.raw("Plugin.Activate", b"")
    assert ctype.startswith("application/vnd.docker.plugins.v1+json")


def test_create_network_makes_a_logical_switch(plugin, nb):
    nid = create_network(plugin, "10.21.0.0/24", "10.21.0.1/24", {"mtu": "1400"})
    sw = wait.until(lambda: nb.switch(nid), what="logical switch")
    assert sw.external_ids[external_ids.NETWORK_ID] == nid
    assert sw.external_ids[external_ids.SUBNET] == "10.21.0.0/24"
    assert sw.external_ids[external_ids.GATEWAY] == "10.21.0.1"
    assert sw.external_ids[external_ids.MTU] == "1400"


def test_endpoint_lifecycle_rows_and_interfaces(plugin, nb, ovs):
    nid = create_network(plugin)
    eid, reply = create_endpoint(plugin, nid, "10.20.0.7/24")
    # Docker gave no MAC: the driver picks one and says so (and only that).
    assert reply == {"Interface": {"MacAddress": "0a:58:0a:14:00:07"}}
    port = wait.until(lambda: nb.port(eid), what="logical switch port")
    assert eid in [p.name for p in nb.ports(nid)]
    assert port.addresses == ("0a:58:0a:14:00:07 10.20.0.7",)

    status, join = plugin.call("NetworkDriver.Join", {
        "NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/x",
        "Options": {}})
    assert status == 200, join
    outer, inner = identifiers.veth_names(eid)
    assert join["InterfaceName"] == {"SrcName": inner, "DstPrefix": "eth"}
    assert veths_of(eid) == [outer, inner]
    bport = wait.until(lambda: ovs.port(outer), what="OVS port")
    assert bport.external_ids["iface-id"] == eid
    assert bport.external_ids["attached-mac"] == "0a:58:0a:14:00:07"
    with IPRoute() as ipr:
        (link,) = ipr.get_links(ifname=inner)
        assert link.get_attr("IFLA_ADDRESS") == "0a:58:0a:14:00:07"
        assert link.get_attr("IFLA_MTU") == 1442  # 1500 minus Geneve's 58

    status, info = plugin.call("NetworkDriver.EndpointOperInfo",
                               {"NetworkID": nid, "EndpointID": eid})
    assert status == 200 and info["Value"]["veth"] == outer

    assert plugin.call("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid}) == (200, {})
    # The veth goes right after Leave's answer, off the request's clock
    wait.until(lambda: veths_of(eid) == [], 5, what="the veth deleted after Leave")
    assert ovs.port(outer) is None or wait.until(lambda: ovs.port(outer) is None)

    assert plugin.call("NetworkDriver.DeleteEndpoint",
                       {"NetworkID": nid, "EndpointID": eid}) == (200, {})
    wait.until(lambda: nb.port(eid) is None, what="port deleted")
    assert plugin.call("NetworkDriver.DeleteNetwork", {"NetworkID": nid}) == (200, {})
    wait.until(lambda: nb.switch(nid) is None, what="switch deleted")


def test_docker_chosen_mac_and_ip_are_kept(plugin, nb):
    nid = create_network(plugin)
    eid, reply = create_endpoint(plugin, nid, "10.20.0.50/24", "02:00:00:AA:BB:CC")
    assert reply == {}  # nothing to add: Docker refuses a reply that restates its fields
    port = wait.until(lambda: nb.port(eid))
    assert port.addresses == ("02:00:00:aa:bb:cc 10.20.0.50",)


def test_deletes_are_idempotent(plugin):
    nid, eid = new_id(), new_id()
    for method, body in [
        ("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid}),
        ("NetworkDriver.DeleteEndpoint", {"NetworkID": nid, "EndpointID": eid}),
        ("NetworkDriver.DeleteNetwork", {"NetworkID": nid}),
        ("NetworkDriver.DeleteNetwork", {"NetworkID": nid}),
    ]:
        assert plugin.call(method, body) == (200, {}), method


def test_optional_calls_answer_empty(plugin):
    nid, eid = new_id(), new_id()
    assert plugin.call("NetworkDriver.DiscoverNew",
                       {"DiscoveryType": 1, "DiscoveryData": {"Address": "1.2.3.4"}}) == (200, {})
    assert plugin.call("NetworkDriver.ProgramExternalConnectivity",
                       {"NetworkID": nid, "EndpointID": eid, "Options": {}}) == (200, {})
    assert plugin.call("NetworkDriver.RevokeExternalConnectivity",
                       {"NetworkID": nid, "EndpointID": eid}) == (200, {})


# -- bad input: a clear Err, nothing left behind ----------------------------------------------------


def test_unknown_method_is_404(plugin):
    status, reply = plugin.call("NetworkDriver.Frobnicate", {})
    assert status == 404
    assert "NetworkDriver.Frobnicate" in reply["Err"]


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"NetworkID"'])
def test_malformed_json_is_rejected(plugin, nb, body):
    before = dockovn_rows(nb)
    status, reply, _ = plugin.raw("NetworkDriver.CreateNetwork", body)
    assert status == 400
    assert "NetworkDriver.CreateNetwork" in reply["Err"]
    assert dockovn_rows(nb) == before


def test_missing_field_is_named(plugin):
    status, reply = plugin.call("NetworkDriver.CreateEndpoint",
                                {"NetworkID": new_id(), "Interface": {"Address": "10.0.0.2/24"}})
    assert status == 400
    assert "EndpointID: missing" in reply["Err"]


def test_wrongly_typed_field_is_named(plugin):
    status, reply = plugin.call("NetworkDriver.Join",
                                {"NetworkID": new_id(), "EndpointID": 42, "SandboxKey": "/x"})
    assert status == 400
    assert "EndpointID" in reply["Err"] and "string" in reply["Err"]


def test_empty_id_is_rejected(plugin):
    status, reply = plugin.call("NetworkDriver.DeleteNetwork", {"NetworkID": ""})
    assert status == 400 and "NetworkID" in reply["Err"]


def test_endpoint_on_unknown_network(plugin, nb):
    before = dockovn_rows(nb)
    nid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": nid, "EndpointID": new_id(), "Interface": {"Address": "10.9.0.2/24"}})
    assert status == 200
    assert nid[:12] in reply["Err"] and "not a dockovn network" in reply["Err"]
    assert dockovn_rows(nb) == before


def test_join_unknown_endpoint_leaves_no_veth(plugin):
    # The upstream driver forgot a `return` here and left a veth pair behind.
    nid = create_network(plugin)
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.Join", {
        "NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/y"})
    assert status == 200 and eid[:12] in reply["Err"] and "not found" in reply["Err"]
    assert veths_of(eid) == []


def test_oper_info_unknown_endpoint(plugin):
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.EndpointOperInfo",
                                {"NetworkID": new_id(), "EndpointID": eid})
    assert status == 200 and "not found" in reply["Err"]


@pytest.mark.parametrize("address, complaint", [
    ("10.99.0.2/24", "outside the network's subnet"),
    ("not-an-ip", "invalid IPv4 address"),
    ("", "no IPv4 address"),
])
def test_bad_endpoint_address_creates_no_port(plugin, nb, address, complaint):
    nid = create_network(plugin)
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": nid, "EndpointID": eid, "Interface": {"Address": address}})
    assert status == 200 and complaint in reply["Err"]
    assert nb.port(eid) is None


def test_bad_mac_creates_no_port(plugin, nb):
    nid = create_network(plugin)
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": nid, "EndpointID": eid,
        "Interface": {"Address": "10.20.0.9/24", "MacAddress": "01:00:5e:00:00:01"}})
    assert status == 200 and "multicast" in reply["Err"]
    assert nb.port(eid) is None


def test_address_in_use_names_the_holder(plugin, nb):
    nid = create_network(plugin)
    holder, _ = create_endpoint(plugin, nid, "10.20.0.3/24")
    wait.until(lambda: nb.port(holder))
    eid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": nid, "EndpointID": eid, "Interface": {"Address": "10.20.0.3/24"}})
    assert status == 200 and "10.20.0.3" in reply["Err"] and holder[:12] in reply["Err"]
    assert nb.port(eid) is None


@pytest.mark.parametrize("options, complaint", [
    ({"colour": "blue"}, "unknown option(s) colour"),
    ({"mtu": "big"}, "is not a number"),
    ({"mtu": "500"}, "out of range"),
])
def test_bad_network_options_create_no_switch(plugin, nb, options, complaint):
    nid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateNetwork", {
        "NetworkID": nid, "Options": {"com.docker.network.generic": options},
        "IPv4Data": [{"Pool": "10.30.0.0/24", "Gateway": "10.30.0.1/24"}]})
    assert status == 200 and complaint in reply["Err"]
    assert nb.switch(nid) is None


def test_network_without_ipv4_is_refused(plugin, nb):
    nid = new_id()
    status, reply = plugin.call("NetworkDriver.CreateNetwork",
                                {"NetworkID": nid, "IPv4Data": None, "IPv6Data": None})
    assert status == 200 and "IPv4 subnet is required" in reply["Err"]
    assert nb.switch(nid) is None


def test_replayed_create_network_is_accepted(plugin, nb):
    nid = new_id()
    body = {"NetworkID": nid, "IPv4Data": [{"Pool": "10.31.0.0/24", "Gateway": "10.31.0.1/24"}]}
    assert plugin.call("NetworkDriver.CreateNetwork", body) == (200, {})
    assert plugin.call("NetworkDriver.CreateNetwork", body) == (200, {})
    body["IPv4Data"][0]["Pool"] = "10.32.0.0/24"
    body["IPv4Data"][0]["Gateway"] = "10.32.0.1/24"
    status, reply = plugin.call("NetworkDriver.CreateNetwork", body)
    assert "already exists with other settings" in reply["Err"]
    assert nb.switch(nid).external_ids[external_ids.SUBNET] == "10.31.0.0/24"


def test_join_that_fails_halfway_leaves_nothing(workdir, nb_db, nb):
    """A Join that cannot plug (bridge missing) removes the veth it made."""
    from tests.support.daemons import DriverProcess
    from tests.support.plugin_client import PluginClient

    proc = DriverProcess(
        plugin_dir=os.path.join(workdir, "plugins-nobridge"),
        log_path=os.path.join(workdir, "driver-nobridge.log"),
        args=("--nb", nb_db.remote, "--bridge", "dkt-missing",
              "--docker-host", f"unix://{workdir}/no-docker.sock"),
    ).start()
    try:
        client = PluginClient(proc.socket)
        nid = create_network(client)
        eid, _ = create_endpoint(client, nid, "10.20.0.4/24")
        status, reply = client.call("NetworkDriver.Join", {
            "NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/z"})
        assert status == 200 and "dkt-missing does not exist" in reply["Err"]
        assert veths_of(eid) == []
    finally:
        proc.stop()


def sync_driver_ovs(plugin, nid: str, address: str) -> None:
    """Make sure the driver's OVS cache holds what this test wrote to OVS: a Join is an
    OVS transaction, and OVSDB sends a client every earlier change before its reply."""
    eid, _ = create_endpoint(plugin, nid, address)
    ids = {"NetworkID": nid, "EndpointID": eid}
    assert plugin.call("NetworkDriver.Join", {**ids, "SandboxKey": "/x"})[0] == 200
    assert plugin.call("NetworkDriver.Leave", ids) == (200, {})
    assert plugin.call("NetworkDriver.DeleteEndpoint", ids) == (200, {})


def test_a_retried_join_replaces_its_own_port(plugin, nb, ovs):
    """dockerd may send Join again for an endpoint already joined (a reply it did not
    get): the second Join answers with a fresh veth, and exactly one OVS port carries
    the endpoint afterwards, also when its names are not the first choice."""
    nid = create_network(plugin)
    eid, _ = create_endpoint(plugin, nid, "10.20.0.12/24")
    taken, _ = identifiers.veth_names(eid)  # another endpoint's port holds the first name
    links.create_veth(taken, "dkt-peer-r", "0a:58:00:00:00:0c", 1442)
    ovs.plug(taken, {"iface-id": "someone-else"})
    sync_driver_ovs(plugin, nid, "10.20.0.13/24")
    join = {"NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/r"}
    try:
        outer, inner = identifiers.veth_names(eid, 1)
        first = plugin.call("NetworkDriver.Join", join)
        assert first[0] == 200 and first[1]["InterfaceName"]["SrcName"] == inner, first
        with IPRoute() as ipr:
            before = ipr.link_lookup(ifname=inner)
        again = plugin.call("NetworkDriver.Join", join)
        assert again == first
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=inner) not in ([], before)  # made anew
        mine = [p for p in ovs.ports() if p.external_ids.get("iface-id") == eid]
        assert [p.name for p in mine] == [outer]
        assert ovs.port(taken).external_ids["iface-id"] == "someone-else"
        assert plugin.call("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid}) == \
            (200, {})
        # (the veth goes right after Leave's answer, off the request's clock)
        wait.until(lambda: not links.exists(outer) and ovs.port(outer) is None, 5,
                   what="the veth and its OVS port gone after Leave")
    finally:
        ovs.unplug(taken)
        links.delete(taken)
        plugin.call("NetworkDriver.DeleteEndpoint", {"NetworkID": nid, "EndpointID": eid})


def test_join_replaces_a_stray_veth_and_steps_past_a_taken_name(plugin, nb, ovs):
    """A veth a dead driver made but never plugged has the endpoint's first-choice name:
    Join takes the name back. A name that is another OVS port's is never touched."""
    nid = create_network(plugin)
    eid, _ = create_endpoint(plugin, nid, "10.20.0.9/24")
    outer, inner = identifiers.veth_names(eid)
    links.create_veth(outer, inner, "0a:58:00:00:00:09", 1442)  # the stray
    status, join = plugin.call("NetworkDriver.Join", {
        "NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/s"})
    assert status == 200 and join["InterfaceName"]["SrcName"] == inner, join
    assert wait.until(lambda: ovs.port(outer), what="OVS port").external_ids["iface-id"] == eid
    with IPRoute() as ipr:
        (link,) = ipr.get_links(ifname=inner)
        assert link.get_attr("IFLA_ADDRESS") == "0a:58:0a:14:00:09"  # made anew, not the stray
    assert plugin.call("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid}) == (200, {})

    # Another endpoint's OVS port holds the first-choice name: the next name is used.
    eid2, _ = create_endpoint(plugin, nid, "10.20.0.10/24")
    taken, _ = identifiers.veth_names(eid2)
    links.create_veth(taken, "dkt-peer-x", "0a:58:00:00:00:0a", 1442)
    ovs.plug(taken, {"iface-id": "someone-else"})
    try:
        sync_driver_ovs(plugin, nid, "10.20.0.11/24")
        status, join = plugin.call("NetworkDriver.Join", {
            "NetworkID": nid, "EndpointID": eid2, "SandboxKey": "/var/run/docker/netns/t"})
        assert status == 200, join
        assert join["InterfaceName"]["SrcName"] == identifiers.veth_names(eid2, 1)[1]
        assert ovs.port(taken).external_ids["iface-id"] == "someone-else"
        assert plugin.call("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid2}) == \
            (200, {})
    finally:
        ovs.unplug(taken)
        links.delete(taken)
    for e in (eid, eid2):
        plugin.call("NetworkDriver.DeleteEndpoint", {"NetworkID": nid, "EndpointID": e})
