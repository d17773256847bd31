"""Which ports `dockovn trace SRC DST` means, and the packet it traces (no OVN needed)."""

from __future__ import annotations

import pytest

from dockovn.diagnose.trace.endpoints import (ISOLATED, ROUTED, SAME_NETWORK, Endpoint,
                                                      TraceInputError, choose_pair,
                                                      openflow_microflow, ovn_microflow,
                                                      resolve)


def ep(container, lsp, switch, network, ips, mac, router="", gw="0a:58:0a:01:00:01"):
    return Endpoint(port=lsp, container=container, network=network, switch=switch,
                    router=router, gateway_mac=gw, host="h1", hostname="h1", mac=mac,
                    ips=tuple(ips), up=True)


WEB = ep("web", "e1" + "0" * 62, "a" * 64, "foo", ["10.1.0.2"], "0a:58:0a:01:00:02")
DB = ep("db", "e2" + "0" * 62, "a" * 64, "foo", ["10.1.0.3", "fd00::3"], "0a:58:0a:01:00:03")
# "multi" is on bar (isolated) and on red (routed to blue through "shared")
MULTI_BAR = ep("multi", "e7" + "0" * 62, "b" * 64, "bar", ["10.2.0.7"], "0a:58:0a:02:00:07",
               gw="0a:58:0a:02:00:01")
MULTI_RED = ep("multi", "e8" + "0" * 62, "c" * 64, "red", ["10.3.0.8"], "0a:58:0a:03:00:08",
               router="shared", gw="0a:58:0a:03:00:01")
BLUE = ep("bluec", "e6" + "0" * 62, "d" * 64, "blue", ["10.4.0.2"], "0a:58:0a:04:00:02",
          router="shared", gw="0a:58:0a:04:00:01")
ALL = [WEB, DB, MULTI_BAR, MULTI_RED, BLUE]


def test_names_ids_and_addresses_resolve():
    assert resolve("web", ALL, "source") == [WEB]
    assert resolve("/web", ALL, "source") == [WEB]          # as `docker inspect` prints it
    assert [e.port for e in resolve("multi", ALL, "source")] == [MULTI_BAR.port, MULTI_RED.port]
    assert resolve("e20000", ALL, "source") == [DB]         # endpoint ID prefix, 6+
    found = resolve("fd00::3", ALL, "destination")
    assert [(e.port, e.ip) for e in found] == [(DB.port, "fd00::3")]


@pytest.mark.parametrize("text,why", [
    ("nosuch", "no container of that name"), ("10.9.9.9", "no container on a dockovn network "
                                                          "has this address"),
    ("e2000", "no container of that name"),  # too short for an ID prefix
])
def test_unknown_names_say_so(text, why):
    with pytest.raises(TraceInputError, match=why):
        resolve(text, ALL, "destination")


def test_a_shared_network_is_preferred_then_a_shared_router_then_isolation():
    assert choose_pair([WEB], [DB]).path == SAME_NETWORK
    routed = choose_pair([MULTI_BAR, MULTI_RED], [BLUE])
    assert (routed.path, routed.router, routed.src.port) == (ROUTED, "shared", MULTI_RED.port)
    isolated = choose_pair([WEB], [MULTI_BAR, MULTI_RED])
    assert isolated.path == ISOLATED and isolated.dst.network == "bar"  # first by name


def test_ipv4_is_traced_unless_an_ipv6_address_is_asked_for():
    pair = choose_pair([WEB], [DB])
    assert (pair.src.ip, pair.dst.ip) == ("10.1.0.2", "10.1.0.3")
    with pytest.raises(TraceInputError, match="no address family in common"):
        choose_pair([WEB], resolve("fd00::3", ALL, "destination"))
    with pytest.raises(TraceInputError, match="same container port"):
        choose_pair([WEB], [WEB])


def test_the_packet_goes_to_the_peer_on_a_switch_and_to_the_gateway_across_networks():
    same = choose_pair([WEB], [DB])
    assert ovn_microflow(same, "tcp", 80) == (
        f'inport == "{WEB.port}" && eth.src == 0a:58:0a:01:00:02 && '
        "eth.dst == 0a:58:0a:01:00:03 && ip4.src == 10.1.0.2 && ip4.dst == 10.1.0.3 && "
        "ip.ttl == 64 && tcp.src == 52888 && tcp.dst == 80")
    routed = choose_pair([MULTI_RED], [BLUE])
    assert "eth.dst == 0a:58:0a:03:00:01" in ovn_microflow(routed, "icmp", None)
    assert ovn_microflow(routed, "icmp", None).endswith("icmp4.type == 8 && icmp4.code == 0")
    assert ovn_microflow(same, "udp", 53).endswith("udp.src == 52888 && udp.dst == 53")


def test_the_same_packet_for_ofproto_trace():
    same = choose_pair([WEB], [DB])
    assert openflow_microflow(same, "tcp", 80, "dove10000000000") == (
        "in_port=dove10000000000,tcp,dl_src=0a:58:0a:01:00:02,dl_dst=0a:58:0a:01:00:03,"
        "nw_src=10.1.0.2,nw_dst=10.1.0.3,nw_ttl=64,tp_src=52888,tp_dst=80")
    v6 = choose_pair([DB], [ep("x", "e9" + "0" * 62, "a" * 64, "foo", ["fd00::9"],
                               "0a:58:0a:01:00:09")])
    assert openflow_microflow(v6, "icmp", None, "p") == (
        "in_port=p,icmp6,dl_src=0a:58:0a:01:00:03,dl_dst=0a:58:0a:01:00:09,"
        "ipv6_src=fd00::3,ipv6_dst=fd00::9,nw_ttl=64,icmp_type=128,icmp_code=0")
    assert "icmp6.type == 128" in ovn_microflow(v6, "icmp", None)
