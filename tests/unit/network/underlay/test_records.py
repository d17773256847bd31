"""The underlay driver's records: VLAN tag and pool choice rules, record encoding."""

from __future__ import annotations

import pytest

from dockovn.host.vm_bridge import ClaimRefused
from dockovn.network.underlay import records as r


def test_vlan_lowest_free_tag_and_replay_keeps_the_tag():
    records = {r.vlan_key(1): "ep-a", r.vlan_key(3): "ep-c"}
    assert r.choose_vlan("ep-b")(records) == (r.vlan_key(2), "ep-b")
    assert r.choose_vlan("ep-c")(records) == (r.vlan_key(3), "ep-c")  # a replay
    assert r.vlan_of(records, "ep-c") == 3
    assert r.vlan_of(records, "ep-z") is None


def test_vlan_refused_when_every_tag_is_taken():
    records = {r.vlan_key(t): f"ep-{t}" for t in r.VLAN_RANGE}
    with pytest.raises(ClaimRefused, match="all 4094 VLAN tags"):
        r.choose_vlan("ep-new")(records)


def test_pool_refuses_a_subnet_already_used_on_this_vm():
    records = {r.pool_key("10.1.0.0/24"): ""}
    with pytest.raises(ClaimRefused, match="10.1.0.0/24 is already used"):
        r.choose_pool("10.1.0.0/24", "", set())(records)
    assert r.choose_pool("10.2.0.0/24", "", set())(records) == (r.pool_key("10.2.0.0/24"), "")


def test_pool_without_subnet_skips_what_this_vm_and_neutron_have():
    records = {r.pool_key("10.200.0.0/24"): ""}
    neutron = {"10.200.1.0/24", "10.200.2.0/23", "fd00::/64"}
    key, _ = r.choose_pool(None, "", neutron)(records)
    assert key == r.pool_key("10.200.4.0/24")


def test_pool_value_and_network_record_round_trip():
    assert r.parse_pool_value(r.pool_value("sub", "net")) == ("sub", "net")
    assert r.parse_pool_value("") is None
    rec = r.NetworkRecord(network="n", subnet="s", cidr="10.0.0.0/24", gateway=None, mtu=1442,
                          created=True)
    assert r.network_record({r.net_key("docker-id"): rec.to_json()}, "docker-id") == rec
    assert r.network_record({}, "docker-id") is None
