"""Docker's port map read as published ports, and what is refused with a reason."""

from ipaddress import ip_address

import pytest

from dockovn.network.api import DriverError
from dockovn.network.gateway.published import PORTMAP_OPTION, published_ports

IP4, IP6 = ip_address("10.5.0.3"), ip_address("fd00::3")


def binding(**kw):
    return {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080,
            "HostPortEnd": 8080, **kw}


def ports(*bindings, ip6=None):
    return published_ports({PORTMAP_OPTION: list(bindings)}, IP4, ip6, "ep1")


def test_a_binding_publishes_on_each_family_the_container_has():
    [p] = ports(binding())
    assert (p.protocol, p.host_port, p.host_port_end, p.container_ip, p.port, p.host_ip) == \
        ("tcp", 8080, 8080, IP4, 80, None)
    assert [q.container_ip for q in ports(binding(), ip6=IP6)] == [IP4, IP6]
    # a host address picks its family
    [only6] = ports(binding(HostIP="fd00::1"), ip6=IP6)
    assert only6.container_ip == IP6


def test_udp_and_ranges():
    [p] = ports(binding(Proto=17, Port=6000, HostPort=5000, HostPortEnd=5002))
    assert (p.protocol, p.host_port, p.host_port_end, p.port) == ("udp", 5000, 5002, 6000)


def test_nothing_published_is_nothing():
    assert published_ports({PORTMAP_OPTION: []}, IP4, None, "ep") == []
    assert published_ports(None, IP4, None, "ep") == []


@pytest.mark.parametrize("bad,says", [
    (binding(HostPort=0, HostPortEnd=0), "needs a host port (-p HOST_PORT:80"),
    (binding(Proto=1), "protocol 1 is not tcp, udp or sctp"),
    (binding(Port=70000), "Port 70000 is not a port number"),
    (binding(HostPort=9000, HostPortEnd=8000), "range 9000-8000 is backwards"),
    (binding(HostIP="nope"), "host address 'nope' is not an IP address"),
    (binding(Port=65535, HostPort=100, HostPortEnd=101), "runs past 65535"),
])
def test_bad_bindings_are_refused_saying_why(bad, says):
    with pytest.raises(DriverError, match=says.replace("(", r"\(")):
        ports(bad)
