"""`dockovn trace`'s reading of ovn-trace / ofproto/trace output, and its verdict.

The ovn-trace outputs in trace_outputs/ are real: OVN 23.03's ovn-trace against a private
NB/SB with ovn-northd, the networks, ports and policies made by dockovn's own code
(Northbound.create_switch with its router attachment, add_port, Policies.create):
foo (10.1.0.0/24: web .2 app=web, db .3 app=db, other .4), bar (10.2.0.0/24, isolated),
red and blue (10.3/10.4, routed through router "shared"); policies db-in (db accepts
web on tcp/80) and blue-closed (isolates blue, --log). The policies' drop ACL there is
`outport == @dkpol_<name> && ip`, a match OVN compiles; uncompilable_policy.* shows
what OVN 23.03 says of `... && !nd && !nd_rs && !nd_ra`.

The ofproto/trace texts are written after OVS 3.1's format (no ovs-vswitchd was run).
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from dockovn.diagnose.trace import output as out
from dockovn.diagnose.trace import verdict as tv
from dockovn.diagnose.trace.endpoints import ISOLATED, ROUTED, SAME_NETWORK, Endpoint, Pair
from dockovn.ovn.sb import Binding

HERE = os.path.join(os.path.dirname(__file__), "trace_outputs")


def port(n: int) -> str:
    return f"e{n}" + "0" * 62


WEB, DB, OTHER, BARC, REDC, BLUEC = (port(n) for n in range(1, 7))


def load(name: str) -> out.LogicalTrace:
    with open(os.path.join(HERE, name + ".txt")) as f:
        text = f.read()
    err = os.path.join(HERE, name + ".err")
    stderr = open(err).read() if os.path.exists(err) else ""
    return out.parse_ovn_trace(text, stderr)


# -- parsing ovn-trace ----------------------------------------------------------------------

def test_a_delivered_packet_lists_its_steps_and_output_port():
    trace = load("same_allowed")
    assert trace.outputs == (DB,)
    assert trace.drop is None
    first, last = trace.steps[0], trace.steps[-1]
    assert (first.pipeline, first.stage, first.table, first.priority) == \
        ("ingress", "ls_in_check_port_sec", 0, 50)
    assert first.datapath == "a" * 64
    assert first.actions == ("reg0[15] = check_in_port_sec();", "next;")
    assert (last.pipeline, last.stage) == ("egress", "ls_out_apply_port_sec")
    # the policy's allow-related ACL was hit on the way
    assert any(s.stage == "ls_out_acl" and "@dkpol_db_in" in s.match and s.priority == 2001
               for s in trace.steps)


def test_a_routed_packet_crosses_switch_router_switch():
    trace = load("routed_allowed")
    assert trace.outputs[-1] == REDC
    assert [o[:4] for o in trace.outputs] == ["rtr-", "lrp-", "e500"]
    assert {s.datapath for s in trace.steps} == {"d" * 64, "dockovn-router-shared", "c" * 64}


@pytest.mark.parametrize("name,dst,kind,policy,stage", [
    ("same_allowed", DB, out.DELIVERED, None, None),
    ("same_icmp_unselected", OTHER, out.DELIVERED, None, None),
    ("same_udp_unselected", WEB, out.DELIVERED, None, None),
    ("routed_allowed", REDC, out.DELIVERED, None, None),
    ("same_denied_source", DB, out.POLICY, "db-in", "ls_out_acl"),
    ("same_denied_port", DB, out.POLICY, "db-in", "ls_out_acl"),
    ("routed_denied_logged", BLUEC, out.POLICY, "blue-closed", "ls_out_acl"),
    ("isolated", BARC, out.NO_ROUTE, None, "lr_in_ip_routing"),
    ("port_security", OTHER, out.PORT_SECURITY, None, "ls_in_apply_port_sec"),
    ("other_acl_drop", WEB, out.ACL, None, "ls_in_acl"),
])
def test_each_trace_is_classified(name, dst, kind, policy, stage):
    outcome = out.classify(load(name), dst)
    assert outcome.kind == kind
    assert outcome.policy == policy
    assert (outcome.step.stage if outcome.step else None) == stage
    assert outcome.delivered == (kind == out.DELIVERED)


def test_ovn_25_03_acl_verdict_in_a_later_stage_still_names_the_policy():
    # Real output of OVN 25.03's ovn-trace (Debian 13): the ACL sets reg8[17] in
    # ls_out_acl_eval and ls_out_acl_action drops, with no `drop;` line.
    trace = load("ovn2503_denied_policy")
    dst = "6046860b80f3829d4f4e7ea5456e0e5b9cc5421a86368c0d35c60348ea5e86d6"
    assert trace.steps[-1].stage == "ls_out_acl_action" and not trace.steps[-1].drops
    outcome = out.classify(trace, dst)
    assert (outcome.kind, outcome.policy) == (out.POLICY, "mh-trace")
    assert outcome.step.stage == "ls_out_acl_eval"


def test_a_logged_policy_drop_has_no_drop_action_but_a_log_verdict():
    trace = load("routed_denied_logged")
    assert trace.drop.actions == ('log(name="blue-closed", verdict=drop, severity=info, '
                                  'meter="dockovn_policy_log");',)
    assert trace.logged == (("blue-closed", "drop"),)


def test_policy_names_come_from_nb_when_given_else_from_the_group_name():
    outcome = out.classify(load("same_denied_port"), DB, {"dkpol_db_in": "db-in"})
    assert outcome.policy == "db-in"
    assert out.policy_of("dkpol_a_b_c") == "a-b-c"
    assert out.policy_of("dkpol_x", {"dkpol_x": "named"}) == "named"


def test_a_delivery_to_another_port_is_not_a_delivery_to_the_destination():
    outcome = out.classify(load("same_allowed"), OTHER)
    assert outcome.kind == out.ELSEWHERE and not outcome.delivered


def test_matches_ovn_cannot_compile_are_reported_once_without_the_ct_hint():
    trace = load("uncompilable_policy")
    assert out.classify(trace, BLUEC).delivered  # the drop ACL is simply not there
    assert len(trace.uncompilable) == 1
    item = trace.uncompilable[0]
    assert item.match == "outport == @dkpol_blue_closed && ip && !nd && !nd_rs && !nd_ra"
    assert item.policy_group == "dkpol_blue_closed"
    assert "Nominal predicate nd may only be tested positively" in item.why
    twice = out.parse_ovn_trace("", (
        "2026-12-02T10:07:37Z|00001|ovntrace|WARN|reg0[9] == 1 && (outport == @dkpol_x && ip "
        "&& !nd): parsing expression failed (Nominal predicate nd may only be tested "
        "positively.)\n"
        "2026-12-02T10:07:37Z|00003|ovntrace|WARN|reg0[10] == 1 && (outport == @dkpol_x && ip "
        "&& !nd): parsing expression failed (Nominal predicate nd may only be tested "
        "positively.)\n"))
    assert [u.match for u in twice.uncompilable] == ["outport == @dkpol_x && ip && !nd"]


def test_empty_output_is_no_delivery():
    trace = out.parse_ovn_trace("")
    assert trace.steps == () and out.classify(trace, DB).kind == out.ELSEWHERE


# -- parsing ofproto/trace ------------------------------------------------------------------

RESUME = """
===============================================================================
recirc(0x2) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)
===============================================================================

Flow: recirc_id=0x2,ct_state=new|trk,ct_zone=2,eth,tcp,reg11=0x2,reg12=0x3,reg13=0x2,\
metadata=0x1,in_port=3,vlan_tci=0x0000,dl_src=0a:58:0a:01:00:02,dl_dst=0a:58:0a:01:00:03,\
nw_src=10.1.0.2,nw_dst=10.1.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=52888,\
tp_dst=80,tcp_flags=0

bridge("br-int")
----------------
    thaw
        Resuming from table 15
37. reg15=0x2,metadata=0x1, priority 100, cookie 0x8e5b9c1d
    set_field:0x1/0xffffff->tun_id
    set_field:0x2->tun_metadata0
    move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA0[16..30]
     -> NXM_NX_TUN_METADATA0[16..30] is now 0x1
    output:4
     -> output to kernel tunnel

Final flow: unchanged
Megaflow: recirc_id=0x2,ct_state=+new-est-rel-rpl-inv+trk,eth,tcp,in_port=3,\
dl_dst=0a:58:0a:01:00:03,nw_frag=no
"""

HEAD = """Flow: tcp,in_port=3,vlan_tci=0x0000,dl_src=0a:58:0a:01:00:02,\
dl_dst=0a:58:0a:01:00:03,nw_src=10.1.0.2,nw_dst=10.1.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,\
nw_frag=no,tp_src=52888,tp_dst=80,tcp_flags=0

bridge("br-int")
----------------
 0. in_port=3, priority 100, cookie 0x3c1a6f0b
    set_field:0x2->reg13
    set_field:0x1->metadata
    set_field:0x1->reg14
    resubmit(,8)

Final flow: unchanged
Megaflow: recirc_id=0,eth,tcp,in_port=3,nw_frag=no
Datapath actions: ct(zone=2),recirc(0x2)
"""

NETDEV_TUNNEL = HEAD + RESUME + (
    "Datapath actions: tnl_push(tnl_port(genev_sys_6081),header(size=58,type=5,"
    "eth(dst=3a:11:22:33:44:55,src=1e:22:33:44:55:66,dl_type=0x0800),ipv4(src=172.31.255.11,"
    "dst=172.31.255.12,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=6081,csum=0x0),"
    "geneve(crit,vni=0x1,options({class=0x102,type=0x80,len=4,0x20003}))),out_port(br-phy)),"
    "ul0\n")
KERNEL_TUNNEL = HEAD + RESUME + (
    "Datapath actions: set(tunnel(tun_id=0x1,dst=172.31.255.13,ttl=64,tp_dst=6081,"
    "geneve({class=0x102,type=0x80,len=4,0x20003}),flags(df|csum|key))),2\n")


def test_the_last_datapath_actions_are_what_happens():
    flows = out.parse_ofproto_trace(NETDEV_TUNNEL)
    assert flows.datapath_actions.startswith("tnl_push(")
    assert flows.tunnel_to == ("172.31.255.12",)  # the outer header, not a MAC's dst=
    assert not flows.dropped and not flows.neighbour_missing
    assert out.parse_ofproto_trace(KERNEL_TUNNEL).tunnel_to == ("172.31.255.13",)


def test_drop_local_output_and_a_missing_tunnel_neighbour():
    assert out.parse_ofproto_trace(HEAD + RESUME + "Datapath actions: drop\n").dropped
    local = out.parse_ofproto_trace(HEAD + RESUME + "Datapath actions: 5\n")
    assert not local.dropped and local.tunnel_to == ()
    missing = out.parse_ofproto_trace(
        HEAD + RESUME.replace("     -> output to kernel tunnel",
                              "     -> neighbor cache miss for 172.31.255.12 on bridge br-phy, "
                              "sending ARP request") + "Datapath actions: drop\n")
    assert missing.neighbour_missing and missing.dropped
    assert out.parse_ofproto_trace("").dropped  # nothing said: nothing happens


# -- the verdict ----------------------------------------------------------------------------

def endpoint(name: str, lsp: str, host: str, network: str = "foo", ip: str = "10.1.0.2",
             switch: str = "a" * 64) -> Endpoint:
    return Endpoint(port=lsp, container=name, network=network, switch=switch, router="",
                    gateway_mac="0a:58:0a:01:00:01", host=host, hostname=host,
                    mac="0a:58:0a:01:00:02", ips=(ip,), up=True, ip=ip)


WEB_EP, DB_EP = endpoint("web", WEB, "h1"), endpoint("db", DB, "h2", ip="10.1.0.3")
SAME = Pair(WEB_EP, DB_EP, SAME_NETWORK)
H1 = tv.ChassisFacts("h1", True, "h1", ("172.31.255.11",), True)
H2 = tv.ChassisFacts("h2", True, "h2", ("172.31.255.12",), True)
BOUND = Binding("h1", True), Binding("h2", True)


def facts(pair=SAME, bindings=BOUND, chassis=(H1, H2), **kw) -> tv.Facts:
    return tv.Facts(pair, "tcp/80", bindings[0], bindings[1], {c.name: c for c in chassis},
                    answer_wait=5, **kw)


DELIVERED = out.LogicalOutcome(out.DELIVERED, None)


def logical(name: str, dst: str = DB) -> out.LogicalOutcome:
    return out.classify(load(name), dst)


def test_through_when_every_part_agrees():
    v = tv.decide(facts(), DELIVERED, flows=out.parse_ofproto_trace(NETDEV_TUNNEL))
    assert v.through and v.code == tv.THROUGH
    assert v.notes == ("leaves h1 unencrypted: Geneve to h2 (172.31.255.12) crosses the "
                       "underlay in the clear",)
    assert "web reaches db" in v.reason


def test_the_wire_is_named_encrypted_or_not():
    sealed = {c.name: dataclasses.replace(c, encrypted=True) for c in (H1, H2)}
    v = tv.decide(facts(chassis=sealed.values(), encryption_required=True), DELIVERED)
    assert v.notes == ("crosses from h1 to h2 inside WireGuard (encrypted)",)
    half = (sealed["h1"], H2)  # h2 joined without encryption in an encrypted cluster
    (note,) = tv.decide(facts(chassis=half, encryption_required=True), DELIVERED).notes
    assert note.startswith("leaves h1 unencrypted") and "h2 has none" in note
    assert "fails closed" in note


def test_a_policy_drop_names_the_policy_and_the_others_that_select_the_destination():
    v = tv.decide(facts(dst_policies=("db-in", "foo-closed")), logical("same_denied_port"))
    assert not v.through and v.code == tv.POLICY and v.policy == "db-in"
    assert v.reason.startswith("dropped by policy db-in")
    assert "does not allow tcp/80 from web (nor does foo-closed, which also selects it)" \
        in v.reason


def test_isolated_networks_whatever_stage_stops_the_packet():
    barc = endpoint("barc", BARC, "h2", network="bar", ip="10.2.0.2", switch="b" * 64)
    v = tv.decide(facts(Pair(WEB_EP, barc, ISOLATED)), logical("isolated", BARC))
    assert (v.through, v.code) == (False, tv.ISOLATED_NETWORKS)
    assert "networks isolated: foo and bar share no router" in v.reason


def test_no_route_on_a_shared_router_is_not_called_isolation():
    pair = Pair(WEB_EP, DB_EP, ROUTED, "shared")
    v = tv.decide(facts(pair), logical("isolated", BARC))
    assert v.code == tv.NO_ROUTE and "on router shared" in v.reason


def test_port_security_names_the_port_whose_security_drops():
    v = tv.decide(facts(), logical("port_security", OTHER))
    assert v.code == tv.PORT_SECURITY and v.reason.startswith("port security: web's port")


def test_an_acl_not_of_a_policy_is_told_apart():
    v = tv.decide(facts(), logical("other_acl_drop", WEB))
    assert v.code == tv.ACL and "not a dockovn policy" in v.reason and "udp.dst == 53" in v.reason


def test_destination_unbound_because_its_ovn_controller_does_not_answer():
    silent = tv.ChassisFacts("h2", True, "h2", ("172.31.255.12",), False)
    v = tv.decide(facts(bindings=(BOUND[0], Binding("", False)), chassis=(H1, silent)),
                  DELIVERED)
    assert (v.through, v.code) == (False, tv.CONTROLLER_DOWN)
    assert "ovn-controller on h2 does not answer" in v.reason


def test_destination_unbound_on_a_live_host_points_at_the_container():
    v = tv.decide(facts(bindings=(BOUND[0], Binding("", False))), DELIVERED)
    assert v.code == tv.PORT_NOT_BOUND and "runs but has not claimed" in v.reason


def test_destination_whose_host_has_no_chassis():
    v = tv.decide(facts(bindings=(BOUND[0], Binding("", None)), chassis=(H1,)), DELIVERED)
    assert v.code == tv.CHASSIS_MISSING
    assert v.reason.startswith("chassis missing: destination db's host h2")


def test_a_bound_port_on_a_silent_host_still_forwards_with_a_note():
    silent = tv.ChassisFacts("h2", True, "h2", ("172.31.255.12",), False)
    v = tv.decide(facts(chassis=(H1, silent)), DELIVERED)
    assert v.through
    assert any("ovn-controller on h2 did not answer within 5s" in n for n in v.notes)


def test_source_problems_come_first_and_the_rest_are_kept_as_notes():
    v = tv.decide(facts(bindings=(Binding("", None), BOUND[1])), logical("same_denied_port"))
    assert v.code == tv.PORT_NOT_BOUND and "source web" in v.reason
    assert any(n.startswith("also: dropped by policy db-in") for n in v.notes)


def test_a_port_bound_but_not_up():
    v = tv.decide(facts(bindings=(BOUND[0], Binding("h2", False))), DELIVERED)
    assert v.code == tv.PORT_DOWN and "bound to h2" in v.reason


def test_no_port_binding_at_all_points_at_northd():
    v = tv.decide(facts(bindings=(BOUND[0], None)), DELIVERED)
    assert v.code == tv.NO_BINDING and "ovn-northd" in v.reason


def test_this_hosts_openflow_tables_can_disagree_with_sb():
    drop = out.parse_ofproto_trace(HEAD + RESUME + "Datapath actions: drop\n")
    assert tv.decide(facts(), DELIVERED, flows=drop).code == tv.OPENFLOW_DROP
    wrong = tv.decide(facts(), DELIVERED, flows=out.parse_ofproto_trace(KERNEL_TUNNEL))
    assert wrong.code == tv.WRONG_TUNNEL and "172.31.255.13" in wrong.reason
    # the logical verdict stands when OVN itself drops: the OpenFlow trace is not judged
    assert tv.decide(facts(), logical("same_denied_port"), flows=drop).code == tv.POLICY


def test_uncompilable_acls_are_noted_only_for_the_destinations_policies():
    trace = load("uncompilable_policy")
    blue = endpoint("bluec", BLUEC, "h2", network="blue", ip="10.4.0.2", switch="d" * 64)
    pair = Pair(WEB_EP, blue, ROUTED, "shared")
    v = tv.decide(facts(pair, dst_policies=("blue-closed",)), DELIVERED, trace.uncompilable)
    assert v.through
    assert any(n.startswith("policy blue-closed: OVN cannot compile its ACL") for n in v.notes)
    assert not [n for n in tv.decide(facts(pair), DELIVERED, trace.uncompilable).notes
                if "cannot compile" in n]
