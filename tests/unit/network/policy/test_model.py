"""Policy semantics without OVN: parsing, who is selected, the ACLs written."""

from __future__ import annotations

import pytest

from dockovn.network import external_ids
from dockovn.network.policy.membership import changes_for, endpoint_labels, groups_for
from dockovn.network.policy.model import Policy, PolicyError, Ports, parse_selector, port_labels
from dockovn.ovn.nb import LogicalPort
from dockovn.ovn.port_groups import PortGroup


@pytest.mark.parametrize("text,match", [
    ("tcp/80", "tcp.dst == 80"),
    ("udp/53", "udp.dst == 53"),
    ("tcp/8000-8080", "(tcp.dst >= 8000 && tcp.dst <= 8080)"),
    ("tcp", "tcp"),
    ("ICMP", "(icmp4 || icmp6)"),
])
def test_ports_become_ovn_matches(text, match):
    assert Ports.parse(text).match() == match


@pytest.mark.parametrize("text,why", [
    ("sctp/1", "protocol must be one of"), ("tcp/0", "1-65535"), ("tcp/90-80", "low to high"),
    ("tcp/http", "is not a port"), ("icmp/8", "ICMP has no ports"), ("udp/70000", "1-65535"),
])
def test_bad_ports_say_why(text, why):
    with pytest.raises(PolicyError, match=why):
        Ports.parse(text)


def test_selectors_and_matching():
    sel = parse_selector(("app=web,tier",), "--select")
    assert sel == (("app", "web"), ("tier", None))
    from dockovn.network.policy.model import matches
    assert matches(sel, {"app": "web", "tier": "x"})
    assert not matches(sel, {"app": "web"})
    assert not matches(sel, {"app": "db", "tier": "x"})
    assert matches((), {})
    for bad in ("=x", "a b=c", "app="):
        with pytest.raises(PolicyError):
            parse_selector((bad,), "--select")


@pytest.mark.parametrize("name", ["", "Web", "9a", "a_b", "x" * 41])
def test_bad_names(name):
    with pytest.raises(PolicyError, match="policy name"):
        Policy(name=name)


def test_bad_cidr():
    with pytest.raises(PolicyError, match="--from-cidr"):
        Policy(name="p", from_cidrs=("10.0.0.1/8",))


def test_a_policy_without_allows_drops_all_but_replies_to_its_own_connections():
    drop, nd, own = Policy(name="iso-late").acls()
    assert (drop.direction, drop.priority, drop.action, drop.name) == \
        ("to-lport", 1000, "drop", "iso-late")
    assert drop.match == "outport == @dkpol_iso_late && ip"
    assert (nd.priority, nd.action, nd.match) == (
        1001, "allow", "outport == @dkpol_iso_late && (nd || nd_rs || nd_ra)")
    # What the selected containers start is tracked, so its replies pass the drop.
    assert (own.direction, own.priority, own.action, own.match) == (
        "from-lport", 900, "allow-related", "inport == @dkpol_iso_late && ip")


def test_allow_acl_combines_sources_and_ports_in_one_acl():
    p = Policy(name="db", selector=(("app", "db"),), from_selectors=((("app", "web"),),),
               from_cidrs=("10.9.0.0/16", "fd00::/64"),
               ports=(Ports.parse("tcp/5432"), Ports.parse("udp/53")))
    drop, _, own, allow = p.acls()
    assert own.match == "inport == @dkpol_db && ip"
    assert allow.action == "allow-related" and allow.priority == 1001 and allow.name == "db"
    assert allow.match == (
        "outport == @dkpol_db && ip && (ip4.src == $dkpol_db_from_ip4 || "
        "ip6.src == $dkpol_db_from_ip6 || ip4.src == {10.9.0.0/16} || ip6.src == {fd00::/64})"
        " && (tcp.dst == 5432 || udp.dst == 53)")
    assert not drop.log
    logged = Policy(name="db", log=True).acls()[0]
    assert logged.log and logged.meter == "dockovn_policy_log" and logged.severity == "info"


def test_json_round_trip():
    p = Policy(name="db", network="n1", selector=(("app", "db"),),
               from_selectors=((("app", "web"), ("env", None)),), from_networks=("n2",),
               from_cidrs=("10.0.0.0/8",), ports=(Ports.parse("tcp/1-9"),), log=True,
               network_names={"n1": "front"})
    assert Policy.from_json(p.to_json()) == p


def test_labels_endpoint_options_win_over_container_labels():
    ids = {external_ids.LABEL_PREFIX + "app": "web", external_ids.LABEL_PREFIX + "x": "1",
           external_ids.ENDPOINT_LABEL_PREFIX + "app": "db", "other": "y"}
    assert port_labels(ids) == {"app": "db", "x": "1"}
    assert endpoint_labels({"dockovn.label.app": "db", "com.docker.x": "1"}) == \
        {external_ids.ENDPOINT_LABEL_PREFIX + "app": "db"}
    with pytest.raises(PolicyError, match="driver option"):
        endpoint_labels({"dockovn.label.a b": "x"})


def _port(name, switch, **labels):
    ids = {external_ids.ENDPOINT_ID: name}
    ids.update({external_ids.LABEL_PREFIX + k: v for k, v in labels.items()})
    return LogicalPort(uuid=name, name=name, switch_name=switch, addresses=(), external_ids=ids)


def test_memberships_by_network_and_labels():
    db = Policy(name="db", network="n1", selector=(("app", "db"),),
                from_selectors=((("app", "web"),),), from_networks=("n2",))
    iso = Policy(name="iso", network="n2")
    assert groups_for([db, iso], "n1", {"app": "db"}) == ("dkpol_db",)
    assert groups_for([db, iso], "n1", {"app": "web"}) == ("dkpol_db_from",)
    assert groups_for([db, iso], "n2", {}) == ("dkpol_db_from", "dkpol_iso")
    assert groups_for([db, iso], "n3", {"app": "db"}) == ()


def test_changes_touch_only_the_given_ports():
    db = Policy(name="db", selector=(("app", "db"),))
    groups = [PortGroup("u", "dkpol_db", frozenset({"gone-label", "other-host"}), (), {})]
    ports = [_port("new", "n1", app="db"), _port("gone-label", "n1", app="web")]
    changes = changes_for([db], groups, ports)
    assert changes.add == {"dkpol_db": ["new"]}
    assert changes.remove == {"dkpol_db": ["gone-label"]}


def test_destinations_restrict_what_goes_out_and_always_let_names_answer():
    p = Policy(name="out", selector=(("app", "web"),), to_cidrs=("203.0.113.0/24",),
               to_selectors=(parse_selector(("app=db",), "--to"),),
               to_ports=(Ports.parse("tcp/443"),))
    assert p.destination_group == "dkpol_out_to" and p.groups == ("dkpol_out", "dkpol_out_to")
    assert not p.restricts_ingress and p.restricts_egress
    by = {(a.direction, a.priority, a.action, a.match) for a in p.acls()}
    assert ("from-lport", 1000, "drop", "inport == @dkpol_out && ip") in by
    assert ("from-lport", 1001, "allow-related",
            "inport == @dkpol_out && ip && (ip4.dst == $dkpol_out_to_ip4 || "
            "ip6.dst == $dkpol_out_to_ip6 || ip4.dst == {203.0.113.0/24}) && (tcp.dst == 443)") in by
    assert any(a.direction == "from-lport" and "ip4.dst == 169.254.53.53" in a.match
               and a.action == "allow-related" for a in p.acls())
    # ingress untouched: no to-lport drop; what comes in is tracked, so its replies pass
    assert not any(a.direction == "to-lport" and a.action == "drop" for a in p.acls())
    assert ("to-lport", 900, "allow-related", "outport == @dkpol_out && ip") in by
    # a destination by label joins the _to group
    assert p.groups_of("sw", {"app": "db"}) == ["dkpol_out_to"]
    assert p.groups_of("sw", {"app": "web"}) == ["dkpol_out"]
    assert Policy.from_json(p.to_json()) == p


def test_sources_and_destinations_in_one_policy_restrict_both_ways():
    p = Policy(name="both", from_cidrs=("10.0.0.0/8",), to_networks=("sw2",))
    dirs = {(a.direction, a.action) for a in p.acls() if a.priority == 1000}
    assert dirs == {("to-lport", "drop"), ("from-lport", "drop")}
    assert p.groups_of("sw2", {}) == ["dkpol_both", "dkpol_both_to"]


def test_a_policy_stored_before_destinations_existed_reads_the_same():
    old = Policy(name="old", from_cidrs=("10.0.0.0/8",))
    raw = old.to_json().replace(', "to_cidrs": []', "").replace('"to_networks": [], ', "")
    assert Policy.from_json(raw) == old and not old.restricts_egress
    assert len(old.acls()) == 4 and old.describe_destinations() == "anywhere"


def test_bad_destination_cidr_names_the_option():
    with pytest.raises(PolicyError, match="--to '10.0.0.1/8'"):
        Policy(name="p", to_cidrs=("10.0.0.1/8",))
