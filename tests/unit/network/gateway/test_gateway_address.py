"""Each network's link-local gateway address (network/gateway)."""

import ipaddress

from dockovn.network.gateway import gateway_address


def test_an_address_of_its_own_in_the_range_and_stable():
    a = gateway_address("net-a", set())
    assert a == gateway_address("net-a", set())
    ip = ipaddress.IPv4Address(a)
    assert ip in ipaddress.ip_network("169.254.0.0/16") and 100 <= ip.packed[2] <= 163
    assert ip.packed[3] not in (0, 255)


def test_a_taken_address_is_stepped_past_never_the_name_server_or_metadata():
    first = gateway_address("net-b", set())
    second = gateway_address("net-b", {first})
    assert second != first
    many = set()
    for i in range(3000):
        many.add(gateway_address(f"n{i}", many))
    assert len(many) == 3000
    assert not {"169.254.53.53", "169.254.169.254"} & many
