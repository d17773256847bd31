"""Pure logic: names, MACs, request validation. No daemons."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dockovn.deploy.chassis import connection_string
from dockovn.network import identifiers
from dockovn.network import spec
from dockovn.network.api import CreateEndpointRequest, CreateNetworkRequest, DriverError
from dockovn.plugin.server import describe_validation_error

EID = "0123456789abcdef" * 4


def test_veth_names_fit_ifnamsiz_and_differ():
    outer, inner = identifiers.veth_names(EID)
    assert len(outer) <= 15 and len(inner) <= 15
    assert outer != inner and EID[:12] in outer


def test_veth_names_slide_along_the_id_on_collision():
    first = identifiers.veth_names(EID, 0)
    second = identifiers.veth_names(EID, 1)
    assert first != second and EID[12:24] in second[0]
    with pytest.raises(ValueError):
        identifiers.veth_names(EID, 6)


def test_mac_from_ipv4_is_local_unicast():
    mac = identifiers.mac_for_ipv4("192.168.1.2")
    assert mac == "0a:58:c0:a8:01:02"
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01


@pytest.mark.parametrize("raw, want", [("02:AA:bb:00:00:01", "02:aa:bb:00:00:01"),
                                       ("02-00-00-00-00-0a", "02:00:00:00:00:0a")])
def test_normalize_mac(raw, want):
    assert identifiers.normalize_mac(raw) == want


@pytest.mark.parametrize("raw", ["01:00:5e:00:00:01", "zz:00:00:00:00:00", "02:00", ""])
def test_normalize_mac_rejects(raw):
    with pytest.raises(ValueError):
        identifiers.normalize_mac(raw)


def net_req(**kw):
    body = {"NetworkID": "n1", "IPv4Data": [{"Pool": "10.0.0.0/24", "Gateway": "10.0.0.1/24"}]}
    body.update(kw)
    return CreateNetworkRequest.model_validate(body)


def test_network_spec_defaults_and_mtu_option():
    s = spec.network_spec(net_req(), 1442)
    assert (str(s.subnet), str(s.gateway), s.mtu) == ("10.0.0.0/24", "10.0.0.1", 1442)
    s = spec.network_spec(net_req(Options={"com.docker.network.generic": {
        "com.docker.network.driver.mtu": "9000"}}), 1442)
    assert s.mtu == 9000


def test_network_spec_egress_nat_routed_or_none():
    assert spec.network_spec(net_req(), 1442).egress == "nat"
    routed = net_req(Options={"com.docker.network.generic": {"dockovn.nat": "false"}})
    assert spec.network_spec(routed, 1442).egress == "routed"
    internal = net_req(Options={"com.docker.network.internal": True,
                                "com.docker.network.enable_ipv6": False})
    assert spec.network_spec(internal, 1442).egress == "none"


@pytest.mark.parametrize("body, message", [
    ({"Options": {"com.docker.network.generic": {"dockovn.nat": "maybe"}}},
     "dockovn.nat='maybe': use true or false"),
    ({"Options": {"com.docker.network.internal": True,
                  "com.docker.network.generic": {"dockovn.nat": "false"}}},
     "means nothing on an --internal network"),
    ({"IPv4Data": []}, "IPv4 subnet is required"),
    ({"IPv4Data": [{"Pool": "10.0.0.0/24"}, {"Pool": "10.1.0.0/24"}]}, "one IPv4 subnet"),
    ({"IPv4Data": [{"Pool": "10.0.0.0/24", "Gateway": "10.9.9.1/24"}]}, "outside subnet"),
    ({"IPv4Data": [{"Pool": "fd00::/64"}]}, "not an IPv4 subnet"),
    ({"Options": {"com.docker.network.generic": "mtu=1"}}, "must be an object"),
])
def test_network_spec_rejects(body, message):
    with pytest.raises(DriverError, match=message):
        spec.network_spec(net_req(**body), 1442)


def test_network_spec_ipv6():
    s = spec.network_spec(net_req(IPv6Data=[{"Pool": "fd00:1::/64", "Gateway": "fd00:1::1/64"}]),
                          1442)
    assert str(s.subnet6) == "fd00:1::/64" and str(s.gateway6) == "fd00:1::1"


def ep_req(**iface):
    return CreateEndpointRequest.model_validate(
        {"NetworkID": "n", "EndpointID": "e", "Interface": iface})


def test_endpoint_spec_builds_ovn_address():
    e = spec.endpoint_spec(ep_req(Address="10.0.0.5/24", AddressIPv6="fd00:1::5/64"),
                           "10.0.0.0/24", "fd00:1::/64")
    assert e.lsp_address == "0a:58:0a:00:00:05 10.0.0.5 fd00:1::5" and e.mac_chosen_by_driver


def test_endpoint_spec_ipv6_outside_subnet():
    with pytest.raises(DriverError, match="outside"):
        spec.endpoint_spec(ep_req(Address="10.0.0.5/24", AddressIPv6="fd00:2::5/64"),
                           "10.0.0.0/24", "fd00:1::/64")


def test_validation_message_names_fields():
    with pytest.raises(ValidationError) as info:
        CreateEndpointRequest.model_validate({"NetworkID": 7})
    msg = describe_validation_error("NetworkDriver.CreateEndpoint", info.value)
    assert msg.startswith("NetworkDriver.CreateEndpoint: invalid request:")
    assert "EndpointID: missing" in msg and "NetworkID:" in msg


def test_nulls_from_go_are_accepted():
    req = CreateNetworkRequest.model_validate(
        {"NetworkID": "n", "Options": None, "IPv4Data": None, "IPv6Data": None})
    assert req.ipv4_data is None


@pytest.mark.parametrize("central, port, want", [
    ("10.0.0.1", 6641, "tcp:10.0.0.1:6641"),
    ("a,b,c", 6642, "tcp:a:6642,tcp:b:6642,tcp:c:6642"),
    ("tcp:10.0.0.1:7000,ssl:10.0.0.2:6641", 6641, "tcp:10.0.0.1:7000,ssl:10.0.0.2:6641"),
    ("fd00::1", 6641, "tcp:[fd00::1]:6641"),
])
def test_connection_string(central, port, want):
    assert connection_string(central, port) == want


def test_link_local_for_mac_is_the_kernels_eui64():
    # what `ip -6 addr` shows on an interface with this MAC
    assert identifiers.link_local_for_mac("0a:58:a9:fe:64:01") == "fe80::858:a9ff:fefe:6401"
