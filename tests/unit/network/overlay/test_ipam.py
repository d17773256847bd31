"""Pure IPAM logic: pool names and IDs, candidate order, exhaustion."""

from __future__ import annotations

import ipaddress
import re

import pytest

from dockovn.network.overlay import ipam
from dockovn.network.api import DriverError
from dockovn.ovn.nb import AllocationRefused


@pytest.mark.parametrize("subnet", ["10.0.0.0/24", "fd00:1::/64", "192.168.255.128/25"])
def test_pool_names_are_address_set_identifiers(subnet):
    name = ipam.pool_name(ipaddress.ip_network(subnet))
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)


def test_pool_id_round_trip():
    net = ipaddress.ip_network("10.1.2.0/24")
    assert ipam.parse_pool_id(ipam.pool_id(net)) == net
    with pytest.raises(DriverError):
        ipam.parse_pool_id("LocalDefault/10.1.2.0/24")


def test_candidates_skip_network_and_broadcast():
    net = ipaddress.ip_network("10.0.0.0/29")
    assert [str(ip) for ip in ipam.candidates(net, None)] == [f"10.0.0.{i}" for i in range(1, 7)]


def test_candidates_ipv6_keep_the_last_address():
    net = ipaddress.ip_network("fd00::/126")
    assert [str(ip) for ip in ipam.candidates(net, None)] == ["fd00::1", "fd00::2", "fd00::3"]


def test_lowest_free_and_exhaustion():
    net = ipaddress.ip_network("10.0.0.0/30")
    assert ipam.lowest_free(net, None, frozenset({"10.0.0.1"})) == "10.0.0.2"
    with pytest.raises(AllocationRefused, match="no free address"):
        ipam.lowest_free(net, None, frozenset({"10.0.0.1", "10.0.0.2"}))


def test_lowest_free_within_range():
    net = ipaddress.ip_network("10.0.0.0/24")
    assert ipam.lowest_free(net, "10.0.0.128/25", frozenset()) == "10.0.0.128"


def test_lowest_free_agrees_with_the_candidates_in_order():
    """Counted in integers, it still gives what walking ``candidates`` gives: IPv6 with
    small values, a range that starts at the subnet's own address, and entries in the
    pool that are not addresses of the family (or not addresses) are ignored."""
    cases = [
        (ipaddress.ip_network("fd00::/125"), None, {"fd00::1", "fd00::3", "10.0.0.2", "junk"}),
        (ipaddress.ip_network("10.0.0.0/28"), "10.0.0.0/29", {"10.0.0.1", "10.0.0.2"}),
        (ipaddress.ip_network("10.1.0.0/24"), None, {f"10.1.0.{i}" for i in range(1, 200)}),
        (ipaddress.ip_network("10.2.0.0/31"), None, set()),
    ]
    for net, address_range, taken in cases:
        expected = next(str(ip) for ip in ipam.candidates(net, address_range)
                        if str(ip) not in taken)
        assert ipam.lowest_free(net, address_range, frozenset(taken)) == expected


def test_a_claim_that_lost_picks_among_the_lowest_free():
    """After a lost claim (every host wanted the same lowest address) the next pick is one
    of the lowest few free addresses; before any loss it is the lowest."""
    net = ipaddress.ip_network("10.0.0.0/24")
    taken = frozenset({"10.0.0.1", "10.0.0.3"})
    assert ipam.lowest_free(net, None, taken, ipam.spread(0)) == "10.0.0.2"
    lowest_eight = {f"10.0.0.{i}" for i in (2, *range(4, 11))}
    picks = {ipam.lowest_free(net, None, taken, ipam.spread(1)) for _ in range(200)}
    assert picks <= lowest_eight and len(picks) > 1
    assert ipam.lowest_free(ipaddress.ip_network("10.0.0.0/30"), None,
                            frozenset({"10.0.0.1"}), 8) == "10.0.0.2"  # fewer free than 8
