"""`dockovn trace`'s verdict (pure): does the packet get through, and if not, why, in
dockovn's words.

Three sources, read in the order a packet meets them:

1. The source's port: a packet from a port no chassis has bound never enters OVN.
2. OVN's logical pipeline (ovn-trace on SB): policies, port security, routing.
3. The destination's port: the logical trace delivers to a port whether or not any
   chassis has bound it; nothing does in reality if none has.
4. This host's OpenFlow tables (ofproto/trace), when the source is here: what
   ovn-controller really installed (it may lag SB), and which tunnel the packet takes.

The first problem found is the verdict; later ones are kept as notes.

Whether a chassis' ovn-controller is alive is not in SB (a stopped one leaves its
Chassis, bindings and ``up`` as they were): ``ChassisFacts.answers`` comes from asking
(see ovn/nb_cfg.py). A stopped ovn-controller leaves its flows in OVS (br-int's
fail-mode is secure), so the ports it had bound keep forwarding as before: that is a
note, not a failure; a port it never bound, or any change since, is not served.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockovn.diagnose.trace import output as out
from dockovn.diagnose.trace.endpoints import ISOLATED, Pair
from dockovn.ovn.sb import Binding

THROUGH = "through"
CHASSIS_MISSING = "chassis-missing"
CONTROLLER_DOWN = "controller-not-answering"
PORT_NOT_BOUND = "port-not-bound"
PORT_DOWN = "port-down"
NO_BINDING = "no-port-binding"
ISOLATED_NETWORKS = "isolated"
POLICY = "policy"
ACL = "acl"
PORT_SECURITY = "port-security"
NO_ROUTE = "no-route"
DROPPED = "dropped"
NOT_DELIVERED = "not-delivered"
OPENFLOW_DROP = "openflow-drop"
WRONG_TUNNEL = "wrong-tunnel"


@dataclass(frozen=True)
class ChassisFacts:
    name: str
    present: bool                # a Chassis row in SB
    hostname: str = ""
    encap_ips: tuple[str, ...] = ()
    answers: bool | None = None  # acknowledged a fresh nb_cfg in time; None: not known
    encrypted: bool = False      # its tunnels are inside WireGuard (a key, a tunnel address)

    @property
    def label(self) -> str:
        return self.hostname or self.name


@dataclass(frozen=True)
class Facts:
    pair: Pair
    protocol: str                          # "tcp/80", "icmp"
    src_binding: Binding | None
    dst_binding: Binding | None
    chassis: dict[str, ChassisFacts]       # by chassis name
    dst_policies: tuple[str, ...] = ()     # the policies that select the destination
    policy_names: dict[str, str] = field(default_factory=dict)  # port group -> policy
    answer_wait: float = 0                 # seconds chassis had to answer (0: not asked)
    encryption_required: bool = False      # the central requires encrypted tunnels


@dataclass(frozen=True)
class Verdict:
    through: bool
    code: str
    reason: str
    policy: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Problem:
    code: str
    reason: str
    policy: str | None = None


def _port_problem(role: str, facts: Facts, binding: Binding | None,
                  notes: list[str]) -> _Problem | None:
    ep = facts.pair.src if role == "source" else facts.pair.dst
    who = f"{role} {ep.container}"
    home = facts.chassis.get(ep.host)
    if binding is None:
        return _Problem(NO_BINDING, f"{who}: its port has no Port_Binding in the Southbound "
                                    "DB yet (ovn-northd down or behind?)")
    if not binding.chassis:
        if home is None or not home.present:
            return _Problem(CHASSIS_MISSING, f"chassis missing: {who}'s host "
                                             f"{ep.hostname or ep.host} has no chassis in the "
                                             "Southbound DB (ovn-controller never registered "
                                             "there, or the host was removed)")
        if home.answers is False:
            return _Problem(CONTROLLER_DOWN, f"port not bound: ovn-controller on {home.label} "
                                             f"does not answer (stopped, or cut off from the "
                                             f"Southbound DB), so nothing serves {who}")
        running = " runs but" if home.answers else ""
        return _Problem(PORT_NOT_BOUND, f"port not bound: ovn-controller on {home.label}"
                                        f"{running} has not claimed {who}'s port (no "
                                        f"interface with iface-id={ep.port[:12]}... on its "
                                        "br-int: container stopped, or its veth gone?)")
    bound = facts.chassis.get(binding.chassis)
    where = bound.label if bound else binding.chassis
    if binding.chassis != ep.host and ep.host:
        notes.append(f"{who}'s port is bound to chassis {where}, not to its own host "
                     f"{ep.hostname or ep.host} (two hosts with one system-id?)")
    if bound is not None and bound.answers is False:
        notes.append(f"ovn-controller on {where} did not answer within "
                     f"{facts.answer_wait:g}s: that host keeps forwarding with the flows it "
                     "last installed, but changes since (policies, new containers) do not "
                     "apply there")
    if binding.up is False or (binding.up is None and ep.up is False):
        return _Problem(PORT_DOWN, f"port down: {who}'s port is bound to {where}, but its "
                                   "ovn-controller has not reported its flows installed")
    return None


def _logical_problem(facts: Facts, logical: out.LogicalOutcome) -> _Problem | None:
    if logical.delivered:
        return None
    pair, step = facts.pair, logical.step
    at = f": {step.describe()}" if step else ""
    if pair.path == ISOLATED:  # whatever stage stops it, that is why in dockovn's terms
        return _Problem(ISOLATED_NETWORKS,
                        f"networks isolated: {pair.src.network} and {pair.dst.network} share "
                        "no router (networks created with the same -o dockovn.router=NAME "
                        "reach each other)")
    if logical.kind == out.POLICY:
        # A selected container accepts what any of its policies allows: all of them said no.
        others = [p for p in facts.dst_policies if p != logical.policy]
        also = f" (nor does {', '.join(others)}, which also selects it)" if others else ""
        return _Problem(POLICY, f"dropped by policy {logical.policy}: it selects "
                                f"{pair.dst.container} and does not allow {facts.protocol} "
                                f"from {pair.src.container}{also}", logical.policy)
    if logical.kind == out.ACL:
        named = f" {logical.acl_name!r}" if logical.acl_name else ""
        return _Problem(ACL, f"dropped by an ACL{named} that is not a dockovn policy{at}")
    if logical.kind == out.PORT_SECURITY:
        ep = pair.src if step and step.pipeline == "ingress" else pair.dst
        return _Problem(PORT_SECURITY, f"port security: {ep.container}'s port does not allow "
                                       f"{ep.mac} {ep.ip} (its port_security differs from "
                                       "its addresses)")
    if logical.kind == out.NO_ROUTE:
        return _Problem(NO_ROUTE, f"no route to {pair.dst.ip} on router {pair.router}")
    if logical.kind == out.DROPPED:
        return _Problem(DROPPED, f"dropped by OVN at {step.stage}")
    return _Problem(NOT_DELIVERED, f"never reaches {pair.dst.container}: the logical trace "
                                   f"ends elsewhere{at}")


def _openflow_problem(facts: Facts, flows: out.OpenflowOutcome,
                      notes: list[str]) -> _Problem | None:
    if flows.neighbour_missing:
        notes.append("this host does not know the tunnel's next hop yet (neighbour cache "
                     "miss): the first packets are lost while it asks")
    if flows.dropped:
        return _Problem(OPENFLOW_DROP, "this host's OpenFlow tables drop it (datapath "
                                       "actions: drop) although OVN's logical flows pass it: "
                                       "ovn-controller here has not installed them (yet)")
    dst = facts.dst_binding.chassis if facts.dst_binding else ""
    src = facts.src_binding.chassis if facts.src_binding else ""
    bound = facts.chassis.get(dst)
    if dst and dst != src and bound is not None and bound.encap_ips and flows.tunnel_to \
            and not set(flows.tunnel_to) & set(bound.encap_ips):
        return _Problem(WRONG_TUNNEL, f"this host tunnels it to {', '.join(flows.tunnel_to)}, "
                                      f"but {facts.pair.dst.container} is on {bound.label} "
                                      f"({', '.join(bound.encap_ips)}): this host's flows are "
                                      "out of date")
    return None


def _wire_note(facts: Facts) -> str | None:
    """How the packet crosses from its source's host to its destination's, if it does."""
    src = facts.chassis.get(facts.src_binding.chassis) if facts.src_binding else None
    dst = facts.chassis.get(facts.dst_binding.chassis) if facts.dst_binding else None
    if src is None or dst is None or src.name == dst.name:
        return None
    if src.encrypted and dst.encrypted:
        return f"crosses from {src.label} to {dst.label} inside WireGuard (encrypted)"
    note = (f"leaves {src.label} unencrypted: Geneve to {dst.label} "
            f"({', '.join(dst.encap_ips) or '?'}) crosses the underlay in the clear")
    if facts.encryption_required:
        unkeyed = dst.label if not dst.encrypted else src.label
        note += (f"; the central requires encrypted tunnels and {unkeyed} has none, so "
                 "nothing passes (fails closed: dockovn doctor there)")
    return note


def decide(facts: Facts, logical: out.LogicalOutcome, uncompilable=(),
           flows: out.OpenflowOutcome | None = None) -> Verdict:
    notes: list[str] = []
    wire = _wire_note(facts)
    if wire:
        notes.append(wire)
    problems = [_port_problem("source", facts, facts.src_binding, notes),
                _logical_problem(facts, logical),
                _port_problem("destination", facts, facts.dst_binding, notes)]
    if flows is not None and logical.delivered:
        problems.append(_openflow_problem(facts, flows, notes))
    for item in uncompilable:
        # ovn-trace warns about every such flow in SB: only the destination's policies
        # bear on this packet.
        policy = out.policy_of(item.policy_group, facts.policy_names) \
            if item.policy_group else None
        if policy in facts.dst_policies:
            notes.append(f"policy {policy}: OVN cannot compile its ACL `{item.match}` "
                         f"({item.why}); ovn-controller skips it, so it is not enforced")
    found = [p for p in problems if p is not None]
    if not found:
        return Verdict(True, THROUGH, f"gets through: {facts.protocol} from "
                                      f"{facts.pair.src.container} reaches "
                                      f"{facts.pair.dst.container}", notes=tuple(notes))
    first = found[0]
    notes = [f"also: {p.reason}" for p in found[1:]] + notes
    return Verdict(False, first.code, first.reason, first.policy, tuple(notes))
