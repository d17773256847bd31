"""The name index built from NB rows, and the DNS answers given from it."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename

from dockovn.network import external_ids
from dockovn.network.names import records, server
from dockovn.ovn.nb import LogicalPort, LogicalSwitch


def switch(name: str, network: str) -> LogicalSwitch:
    return LogicalSwitch("u-" + name, name, {external_ids.NETWORK_ID: name,
                                             external_ids.NETWORK_NAME: network}, {})


def port(name: str, container: str, addresses: str, aliases: str = "") -> LogicalPort:
    ids = {external_ids.ENDPOINT_ID: name, external_ids.CONTAINER_NAME: container}
    if aliases:
        ids[external_ids.ALIASES] = aliases
    return LogicalPort("u-" + name, name, "", (addresses,), ids)


PORTS = {
    "sw-foo": [port("p1", "Web1", "0a:58:0a:00:00:02 10.0.0.2 fd00::2", "web api"),
               port("p2", "web2", "0a:58:0a:00:00:03 10.0.0.3", "web"),
               port("p3", "", "0a:58:0a:00:00:04 10.0.0.4")],  # not named yet
    "sw-bar": [port("p4", "db", "0a:58:0a:01:00:02 10.1.0.2")],
}
INDEX = records.build([switch("sw-foo", "foo"), switch("sw-bar", "bar")], PORTS.get)


def test_names_aliases_and_network_qualified_names():
    assert INDEX.lookup("web1", {"sw-foo"}) == {"10.0.0.2", "fd00::2"}
    assert INDEX.lookup("WEB1.foo.", {"sw-foo"}) == {"10.0.0.2", "fd00::2"}
    assert INDEX.lookup("web", {"sw-foo"}) == {"10.0.0.2", "10.0.0.3", "fd00::2"}
    assert INDEX.lookup("api.foo", {"sw-foo"}) == {"10.0.0.2", "fd00::2"}


def test_a_network_answers_only_its_own_names():
    assert INDEX.lookup("db", {"sw-foo"}) is None
    assert INDEX.lookup("web1", {"sw-bar"}) is None
    assert INDEX.lookup("db", {"sw-foo", "sw-bar"}) == {"10.1.0.2"}
    assert INDEX.lookup("web1", set()) is None


def test_reverse_names_are_container_dot_network():
    assert INDEX.reverse("10.0.0.2", {"sw-foo"}) == "web1.foo"
    assert INDEX.reverse("10.0.0.4", {"sw-foo"}) is None
    assert INDEX.reverse("10.1.0.2", {"sw-foo"}) is None


def ask(name: str, rdtype, switches=frozenset({"sw-foo"})) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    wire = server.answer(query.to_wire(), "172.18.0.2", lambda src: (INDEX, set(switches)))
    return dns.message.from_wire(wire)


def addresses(reply) -> set[str]:
    return {r.to_text() for rrset in reply.answer for r in rrset}


def test_a_and_aaaa_answers_are_authoritative():
    a = ask("web1", dns.rdatatype.A)
    assert a.rcode() == dns.rcode.NOERROR and a.flags & dns.flags.AA
    assert addresses(a) == {"10.0.0.2"}
    assert addresses(ask("web1", dns.rdatatype.AAAA)) == {"fd00::2"}
    assert addresses(ask("web", dns.rdatatype.A)) == {"10.0.0.2", "10.0.0.3"}


def test_a_name_without_ipv6_has_an_empty_aaaa_answer_not_a_refusal():
    reply = ask("web2", dns.rdatatype.AAAA)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer == []


def test_names_not_ours_are_refused_so_docker_asks_the_next_server():
    for name in ("example.com", "db", "nosuchname"):
        assert ask(name, dns.rdatatype.A).rcode() == dns.rcode.REFUSED


def test_ptr():
    reply = ask(dns.reversename.from_address("10.0.0.3").to_text(), dns.rdatatype.PTR)
    assert addresses(reply) == {"web2.foo."}
    other = ask(dns.reversename.from_address("8.8.8.8").to_text(), dns.rdatatype.PTR)
    assert other.rcode() == dns.rcode.REFUSED


def test_garbage_gets_no_answer():
    assert server.answer(b"\x00\x01garbage", "172.18.0.2", lambda s: (INDEX, set())) is None
