"""Reading what `ovn-trace` and `ovs-appctl ofproto/trace` print (pure: text in, facts out).

ovn-trace's default (--detailed) output is a sequence of pipelines, each a header line
(``ingress(dp="SW", inport="P")``, ``egress(...)``, ``ct_next(...)``) and the logical
flows the packet hit, one per step:

     4. ls_out_acl (northd.c:6543): reg0[9] == 1 && (outport == @dkpol_db_in && ip), \
        priority 2000, uuid 3afa814c          [one line in ovn-trace's output]
        drop;

The step's actions follow it, indented; a packet leaving through a port is the comment
``/* output to "PORT", type "" */``; a logged ACL adds a ``LOG: ACL name=...`` line. It
never names the ACL that dropped a packet unless the ACL logs, so a dockovn policy is
recognised by its port group in the flow's match (``@dkpol_<name>``, see
network/policy/model.py). Matches OVN cannot compile are only warnings on stderr; they
matter, since ovn-controller skips those flows just as ovn-trace does.

ofproto/trace ends each (re)circulation with ``Datapath actions: ...``; the last one is
what the datapath does with the packet: ``drop``, a local port, or a tunnel
(``tnl_push(... ipv4(src=A,dst=B ...`` on the userspace datapath,
``set(tunnel(... dst=B ...`` on the kernel's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockovn.network.policy.model import GROUP_PREFIX

_PIPELINE = re.compile(r'^(ingress|egress)\(dp="([^"]*)"(?:, inport="([^"]*)")?'
                       r'(?:, outport="([^"]*)")?\)\s*$')
_STEP = re.compile(r"^\s*(\d+)\. (\S+?)(?: \(([^)]*)\))?: (.*), priority (\d+), "
                   r"uuid ([0-9a-f]+)\s*$")
_OUTPUT = re.compile(r'/\* output to "([^"]+)", type "([^"]*)" \*/')
_LOG = re.compile(r"^LOG: ACL name=([^,]*), direction=(\w+), verdict=(\w+)")
_UNCOMPILABLE = re.compile(r"\|ovntrace\|WARN\|(.*): parsing expression failed \((.*)\)\s*$")
_POLICY_GROUP = re.compile(r"@(" + re.escape(GROUP_PREFIX) + r"\w+)")
_LOG_DROP = re.compile(r"\blog\(.*verdict=(drop|reject)")


@dataclass(frozen=True)
class FlowStep:
    """One logical flow the packet hit, in the pipeline of ``datapath``."""
    pipeline: str        # "ingress" or "egress"
    datapath: str        # the logical switch or router
    table: int
    stage: str           # "ls_out_acl", "lr_in_ip_routing", ...
    match: str
    priority: int
    actions: tuple[str, ...]

    @property
    def drops(self) -> bool:
        return any(a == "drop;" or a.startswith("reject") or _LOG_DROP.search(a)
                   for a in self.actions)

    def describe(self) -> str:
        return f"{self.stage} (priority {self.priority}): {self.match}"


@dataclass(frozen=True)
class Uncompilable:
    """A flow match OVN cannot compile: ovn-controller skips the flow (and logs why)."""
    match: str
    why: str

    @property
    def policy_group(self) -> str | None:
        found = _POLICY_GROUP.search(self.match)
        return found.group(1) if found else None


@dataclass(frozen=True)
class LogicalTrace:
    steps: tuple[FlowStep, ...]
    outputs: tuple[str, ...]                   # ports the packet left through, in order
    logged: tuple[tuple[str, str], ...] = ()   # (ACL name, verdict) of logging ACLs hit
    uncompilable: tuple[Uncompilable, ...] = ()

    @property
    def drop(self) -> FlowStep | None:
        """The step that dropped the packet: the last step, when it drops; for an ACL
        verdict acted on in a later stage, the ACL's own step (see ``_acl_verdict``)."""
        if not self.steps:
            return None
        if self.steps[-1].drops:
            return self.steps[-1]
        return _acl_verdict(self.steps)


_VERDICT_BITS = re.compile(r"reg8\[(17|18)\] == 1")  # drop, reject


def _acl_verdict(steps: tuple[FlowStep, ...]) -> FlowStep | None:
    """OVN 23.06 and later evaluate ACLs in ``*_acl_eval``, which only sets a verdict bit
    (``reg8[17] = 1`` drop, ``reg8[18]`` reject), and act on it in ``*_acl_action``; the
    packet ends there with no ``drop;`` line (OVN 25.03's ovn-trace). The ACL that decided
    is the last eval step that set the bit the action matched on."""
    last = steps[-1]
    bits = _VERDICT_BITS.findall(last.match) if "_acl_action" in last.stage else []
    if not bits:
        return None
    for prev in reversed(steps[:-1]):
        if "_acl_eval" in prev.stage and any(f"reg8[{b}] = 1;" in a
                                             for a in prev.actions for b in bits):
            return prev
    return last


def parse_ovn_trace(stdout: str, stderr: str = "") -> LogicalTrace:
    """ovn-trace's --detailed output (and its warnings) as a LogicalTrace."""
    steps: list[FlowStep] = []
    outputs: list[str] = []
    logged: list[tuple[str, str]] = []
    pipeline, datapath = "", ""
    current: dict | None = None

    def close():
        nonlocal current
        if current is not None:
            steps.append(FlowStep(actions=tuple(current.pop("actions")), **current))
            current = None

    for raw in stdout.splitlines():
        line = raw.rstrip()
        header = _PIPELINE.match(line)
        if header:
            close()
            pipeline, datapath = header.group(1), header.group(2)
            continue
        step = _STEP.match(line)
        if step:
            close()
            current = {"pipeline": pipeline, "datapath": datapath,
                       "table": int(step.group(1)), "stage": step.group(2),
                       "match": step.group(4), "priority": int(step.group(5)),
                       "actions": []}
            continue
        out = _OUTPUT.search(line)
        if out:
            outputs.append(out.group(1))
        log = _LOG.match(line)
        if log:
            logged.append((log.group(1), log.group(3)))
        if not raw.startswith(" ") or not line.strip():
            close()  # a step's actions are indented; they end at a blank line or a section
            continue
        if current is not None:
            current["actions"].append(line.strip())
    close()
    uncompilable = []
    for line in stderr.splitlines():
        found = _UNCOMPILABLE.search(line)
        if found:
            # ACL flows come in several copies (per ct state hint): report each match once
            item = Uncompilable(_strip_hint(found.group(1)), found.group(2))
            if item not in uncompilable:
                uncompilable.append(item)
    return LogicalTrace(tuple(steps), tuple(outputs), tuple(logged), tuple(uncompilable))


def _strip_hint(match: str) -> str:
    """``reg0[9] == 1 && (M)`` -> ``M``: northd's conntrack hint around an ACL's match."""
    hinted = re.fullmatch(r"reg0\[\d+\] == 1 && \((.*)\)", match)
    return hinted.group(1) if hinted else match


def policy_of(group: str, names: dict[str, str] | None = None) -> str:
    """The policy a ``dkpol_...`` port group belongs to: as NB records it (``names``),
    else by the naming rule (policy names have "-" where group names have "_")."""
    if names and group in names:
        return names[group]
    return group[len(GROUP_PREFIX):].replace("_", "-")


# -- what the logical trace says about one destination -------------------------------------

DELIVERED, POLICY, ACL, PORT_SECURITY, NO_ROUTE, DROPPED, ELSEWHERE = (
    "delivered", "policy", "acl", "port-security", "no-route", "dropped", "elsewhere")


@dataclass(frozen=True)
class LogicalOutcome:
    kind: str                 # one of the names above
    step: FlowStep | None     # the dropping flow, if any
    policy: str | None = None
    acl_name: str | None = None  # another ACL's name, when it logs (else OVN does not say)

    @property
    def delivered(self) -> bool:
        return self.kind == DELIVERED


def classify(trace: LogicalTrace, dst_port: str,
             policy_names: dict[str, str] | None = None) -> LogicalOutcome:
    """Whether the trace reaches ``dst_port``, and if not, what stopped it."""
    if dst_port in trace.outputs:
        return LogicalOutcome(DELIVERED, None)
    step = trace.drop
    if step is None:
        return LogicalOutcome(ELSEWHERE, trace.steps[-1] if trace.steps else None)
    if "_acl" in step.stage:
        group = _POLICY_GROUP.search(step.match)
        if group:
            return LogicalOutcome(POLICY, step, policy_of(group.group(1), policy_names))
        named = [name for name, verdict in trace.logged if verdict in ("drop", "reject")]
        return LogicalOutcome(ACL, step, acl_name=named[-1] if named else None)
    if "port_sec" in step.stage:
        return LogicalOutcome(PORT_SECURITY, step)
    if "ip_routing" in step.stage:
        return LogicalOutcome(NO_ROUTE, step)
    return LogicalOutcome(DROPPED, step)


# -- ofproto/trace ----------------------------------------------------------------------------

_TNL_IP = re.compile(r"ipv[46]\(src=[^,]+,dst=([^,)]+)")
_KERNEL_TUNNEL = re.compile(r"tunnel\(tun_id=[^,]+,(?:src=[^,]+,)?(?:ipv6_)?dst=([^,)]+)")


@dataclass(frozen=True)
class OpenflowOutcome:
    datapath_actions: str          # the last "Datapath actions:" (what finally happens)
    tunnel_to: tuple[str, ...]     # remote tunnel endpoints the packet is sent to
    neighbour_missing: bool        # userspace tunnel: the next hop's MAC not known yet

    @property
    def dropped(self) -> bool:
        return self.datapath_actions in ("", "drop")


def parse_ofproto_trace(text: str) -> OpenflowOutcome:
    actions = ""
    for line in text.splitlines():
        if line.startswith("Datapath actions:"):
            actions = line.partition(":")[2].strip()
    tunnels: list[str] = []
    for start in (m.end() for m in re.finditer(r"tnl_push\(", actions)):
        found = _TNL_IP.search(actions, start)  # the outer header comes first
        if found and found.group(1) not in tunnels:
            tunnels.append(found.group(1))
    for found in _KERNEL_TUNNEL.finditer(actions):
        if found.group(1) not in tunnels:
            tunnels.append(found.group(1))
    return OpenflowOutcome(actions, tuple(tunnels),
                           "neighbor cache miss" in text.lower())
