"""Generated bad input for every protocol method (hypothesis), posted raw to the
driver's socket: malformed JSON, missing/extra/wrongly typed fields, huge bodies,
unknown IDs, repeated and out-of-order calls.

Every answer must be a clean {"Err": ...} (HTTP 200 or 400) or a correct result:
no traceback, no 500. Whatever succeeded is then deleted through the protocol,
and NB rows and dockovn interfaces are counted against the start: nothing left.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockovn.host import links
from dockovn.network import external_ids
from dockovn.network import identifiers

pytestmark = pytest.mark.integration

METHODS = [
    "Plugin.Activate", "NetworkDriver.GetCapabilities", "NetworkDriver.CreateNetwork",
    "NetworkDriver.DeleteNetwork", "NetworkDriver.AllocateNetwork", "NetworkDriver.FreeNetwork",
    "NetworkDriver.CreateEndpoint", "NetworkDriver.EndpointOperInfo",
    "NetworkDriver.DeleteEndpoint", "NetworkDriver.Join", "NetworkDriver.Leave",
    "NetworkDriver.DiscoverNew", "NetworkDriver.DiscoverDelete",
    "NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity",
    "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces",
    "IpamDriver.RequestPool", "IpamDriver.ReleasePool", "IpamDriver.RequestAddress",
    "IpamDriver.ReleaseAddress",
]
FIELDS = ["NetworkID", "EndpointID", "SandboxKey", "Options", "Interface", "IPv4Data",
          "IPv6Data", "PoolID", "Pool", "SubPool", "Address", "AddressSpace", "V6",
          "DiscoveryType", "DiscoveryData"]

# A few IDs reused across examples so calls hit existing objects, out of order.
SHARED_IDS = [uuid.UUID(int=i).hex * 2 for i in range(1, 4)]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=20), st.sampled_from(SHARED_IDS),
                      st.sampled_from(["10.77.0.0/24", "10.77.0.5/24", "dockovn/10.77.0.0/24",
                                       "fd00:77::/64", "02:00:00:00:00:01", "/var/run/x"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS + ["Pool", "Gateway"]),
                                                 inner, max_size=4)), max_leaves=8)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=6).map(
        lambda d: json.dumps(d).encode()),
    st.binary(max_size=64),                                     # not JSON at all
    st.sampled_from([b"", b"null", b"[]", b"{", b'{"NetworkID": "', b"\x00" * 10]),
    st.integers(min_value=1, max_value=3).map(                  # huge bodies
        lambda n: json.dumps({"NetworkID": "x" * (n * 300_000)}).encode()),
)


# Endpoints the fuzzing made (seen in NB before each clean-up): their veths must go.
seen_endpoints: set[str] = set(SHARED_IDS)


def dockovn_state(nb) -> tuple:
    switches = nb.switches_with(external_ids.NETWORK_ID, with_ports=True)
    ports = sum(len(s.port_names) for s in switches)
    pools = len([p for p in nb.pools() if p.name.startswith("dockovn_pool_")])
    # Only this test's interfaces: other tests (or containers) may come and go meanwhile.
    ours = {name for eid in seen_endpoints for name in identifiers.veth_names(eid)}
    veths = frozenset(n for n in links.names_with_prefix(identifiers.OUTER_PREFIX)
                      + links.names_with_prefix(identifiers.INNER_PREFIX) if n in ours)
    return len(switches), ports, pools, veths


def assert_nothing_left(before: tuple, after: tuple) -> None:
    assert after[:3] == before[:3], "rows or pools left behind"
    assert not after[3] - before[3], f"interfaces left behind: {sorted(after[3] - before[3])}"


def clean_up(plugin, nb) -> None:
    """Undo, through the protocol, whatever the fuzzing created legitimately."""
    for switch in nb.switches_with(external_ids.NETWORK_ID):
        for port in nb.ports(switch.name):
            if external_ids.ENDPOINT_ID in port.external_ids and len(port.name) >= 36:
                seen_endpoints.add(port.name)
            plugin.call("NetworkDriver.Leave", {"NetworkID": switch.name, "EndpointID": port.name})
            plugin.call("NetworkDriver.DeleteEndpoint",
                        {"NetworkID": switch.name, "EndpointID": port.name})
        plugin.call("NetworkDriver.DeleteNetwork", {"NetworkID": switch.name})
    for pool in nb.pools():
        subnet = pool.external_ids.get("dockovn:subnet")
        if subnet:
            for address in pool.addresses:
                plugin.call("IpamDriver.ReleaseAddress",
                            {"PoolID": f"dockovn/{subnet}", "Address": address})
            plugin.call("IpamDriver.ReleasePool", {"PoolID": f"dockovn/{subnet}"})


calls = {"n": 0}


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), body=bodies)
def fuzz_one(plugin, method, body):
    calls["n"] += 1
    status, reply, ctype = plugin.raw(method, body)
    assert status in (200, 400), (method, body[:200], status, reply)
    assert ctype.startswith("application/vnd.docker.plugins.v1+json")
    text = json.dumps(reply)
    assert "Traceback" not in text and "failed: " not in reply.get("Err", ""), (method, reply)
    if status == 400:
        assert reply["Err"].startswith(method)


def test_fuzz_every_method(plugin, nb):
    clean_up(plugin, nb)
    before = dockovn_state(nb)
    fuzz_one(plugin)
    assert calls["n"] >= 400
    clean_up(plugin, nb)
    assert_nothing_left(before, dockovn_state(nb))


def test_fuzz_valid_sequences_out_of_order(plugin, nb):
    """Well-formed calls in random order and repetition: each answers cleanly, and
    after the deletes nothing remains."""
    clean_up(plugin, nb)
    before = dockovn_state(nb)
    nid, eid = SHARED_IDS[0], SHARED_IDS[1]
    steps = {
        "net": ("NetworkDriver.CreateNetwork", {"NetworkID": nid, "IPv4Data": [
            {"AddressSpace": "dockovn", "Pool": "10.78.0.0/24", "Gateway": "10.78.0.1/24"}]}),
        "pool": ("IpamDriver.RequestPool", {"Pool": "10.78.0.0/24"}),
        "addr": ("IpamDriver.RequestAddress", {"PoolID": "dockovn/10.78.0.0/24"}),
        "ep": ("NetworkDriver.CreateEndpoint", {"NetworkID": nid, "EndpointID": eid,
                                                "Interface": {"Address": "10.78.0.2/24"}}),
        "join": ("NetworkDriver.Join", {"NetworkID": nid, "EndpointID": eid, "SandboxKey": "/x"}),
        "leave": ("NetworkDriver.Leave", {"NetworkID": nid, "EndpointID": eid}),
        "delep": ("NetworkDriver.DeleteEndpoint", {"NetworkID": nid, "EndpointID": eid}),
        "relpool": ("IpamDriver.ReleasePool", {"PoolID": "dockovn/10.78.0.0/24"}),
        "delnet": ("NetworkDriver.DeleteNetwork", {"NetworkID": nid}),
    }

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(sorted(steps)), min_size=1, max_size=12))
    def sequence(order):
        for name in order:
            status, reply = plugin.call(*steps[name])
            assert status == 200, (name, reply)
            assert "failed: " not in reply.get("Err", ""), (name, reply)
        clean_up(plugin, nb)

    sequence()
    assert_nothing_left(before, dockovn_state(nb))
