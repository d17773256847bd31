"""`dockovn trace SRC DST`: does a packet get from one container to another, and if not, why.

What it reads and runs, in order:

- NB: the two containers' ports (any host's), their networks and the policies that
  select the destination (trace_endpoints).
- Whether the chassis involved are alive: it bumps NB_Global.nb_cfg and waits up to
  ``wait`` seconds for their Chassis_Private.nb_cfg to follow (ovn/nb_cfg.py says why
  this is the only sound signal), then reads both ports' Port_Bindings.
- `ovn-trace` on the cluster's SB with ovnkube-trace's packet: OVN's logical verdict.
- `ovs-appctl ofproto/trace br-int` when the source is on this host: what this host's
  OpenFlow tables (what ovn-controller really installed) do with the packet.

trace_verdict turns that into one verdict. Nothing here is on the plugin's request path,
so forking the OVN tools is fine: they are the reference for what OVN does.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from dataclasses import dataclass

from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.diagnose.trace import endpoints as ends
from dockovn.diagnose.trace import output as out
from dockovn.diagnose.trace.verdict import ChassisFacts, Facts, Verdict, decide
from dockovn.network.policy.model import GROUP_PREFIX, POLICY, POLICY_SPEC
from dockovn.ovn import nb_cfg
from dockovn.ovn.host_trust import HostTrust
from dockovn.ovn.nb import Northbound, NorthboundError
from dockovn.ovn.port_groups import PortGroups
from dockovn.ovn.sb import Southbound
from dockovn.ovn.tunnel_keys import TunnelKeys
from dockovn.ovsdb import SslFiles

OVN_TRACE_TIMEOUT = 30.0
APPCTL_TIMEOUT = 15.0
# Each ct_next the packet meets takes the next --ct value (then ovn-trace assumes an
# established connection): a routed packet meets up to four, one per switch pipeline.
CT_NEW = 6
POLL = 0.1


class TraceError(RuntimeError):
    """A tool or a database could not answer; the message says which."""


@dataclass(frozen=True)
class LocalHost:
    """This host's Open vSwitch, for the OpenFlow trace."""
    system_id: str
    ports: dict[str, str]          # iface-id (logical port) -> OVS port on br-int
    appctl_target: str | None      # ovs-vswitchd's control socket; None: not found
    bridge: str = "br-int"


@dataclass(frozen=True)
class Report:
    verdict: Verdict
    facts: Facts
    logical: out.LogicalOutcome
    logical_text: str              # ovn-trace's own output
    microflow: str
    openflow: out.OpenflowOutcome | None
    openflow_text: str
    openflow_skipped: str          # why there is no OpenFlow trace ("" when there is)


def local_host(ovs_db: str, bridge: str = "br-int") -> tuple[LocalHost | None, str]:
    """This host's OVS, or None and why not."""
    try:
        switch = LocalSwitch(ovs_db, bridge=bridge, timeout=5)
    except OvsError as exc:
        return None, f"no local Open vSwitch ({exc})"
    try:
        system_id = switch.system_id() or ""
        ports = {p.external_ids["iface-id"]: p.name for p in switch.ports()
                 if p.external_ids.get("iface-id")}
    finally:
        switch.close()
    return LocalHost(system_id, ports, _vswitchd_target(ovs_db), bridge), ""


def _vswitchd_target(ovs_db: str) -> str | None:
    """ovs-vswitchd's unixctl socket, next to the DB socket: `dockovn up` names it
    ovs-vswitchd.ctl, Debian's ovs-ctl ovs-vswitchd.<pid>.ctl."""
    if not ovs_db.startswith("unix:"):
        return None
    rundir = os.path.dirname(ovs_db[len("unix:"):])
    named = os.path.join(rundir, "ovs-vswitchd.ctl")
    if os.path.exists(named):
        return named
    try:
        with open(os.path.join(rundir, "ovs-vswitchd.pid")) as f:
            pid = f.read().strip()
    except OSError:
        return None
    by_pid = os.path.join(rundir, f"ovs-vswitchd.{pid}.ctl")
    return by_pid if os.path.exists(by_pid) else None


def _run(cmd: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise TraceError(f"{cmd[0]} is not installed (Debian: ovn-common / "
                         "openvswitch-switch)") from None
    except subprocess.TimeoutExpired:
        raise TraceError(f"{what}: no answer within {timeout:g}s") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise TraceError(f"{what} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done


def ovn_trace(sb_remote: str, ssl: SslFiles | None, switch: str,
              microflow: str) -> tuple[str, str]:
    """ovn-trace's (stdout, stderr) for ``microflow`` entering ``switch``."""
    cmd = ["ovn-trace", f"--db={sb_remote}", "--no-leader-only"]
    if "ssl:" in sb_remote and ssl is not None:
        cmd += [f"--private-key={ssl.key}", f"--certificate={ssl.cert}", f"--ca-cert={ssl.ca}"]
    cmd += ["--ct=new"] * CT_NEW + [switch, microflow]
    done = _run(cmd, OVN_TRACE_TIMEOUT, f"ovn-trace on the Southbound DB {sb_remote}")
    return done.stdout, done.stderr


def ofproto_trace(local: LocalHost, flow: str) -> str:
    cmd = ["ovs-appctl", "-t", local.appctl_target or "ovs-vswitchd", "ofproto/trace",
           local.bridge, flow]
    return _run(cmd, APPCTL_TIMEOUT, "ofproto/trace on this host").stdout


def ask_chassis(nb: Northbound, sb: Southbound, names: set[str],
                wait: float) -> tuple[dict[str, bool | None], str]:
    """Which of the chassis ``names`` acknowledge a fresh nb_cfg within ``wait`` seconds,
    and a note when that cannot be told."""
    try:
        target = nb_cfg.bump(nb)
    except NorthboundError as exc:
        return {}, f"could not ask the chassis whether they are alive: {exc}"
    if target is None:
        return {}, "NB has no NB_Global row (ovn-northd never ran?): chassis not asked"
    deadline = time.monotonic() + wait
    while True:
        states = {n: sb.chassis_state(n) for n in names}
        present = {n for n, st in states.items() if st is not None}
        answered = {n for n in present if (states[n].nb_cfg or 0) >= target}
        passed_on = (sb.nb_cfg() or 0) >= target
        if (passed_on and answered == present) or time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    if not passed_on:
        # The request never reached SB: silence says nothing about the chassis.
        return ({n: True for n in answered},
                f"ovn-northd did not pass NB's changes on to SB within {wait:g}s (ovn-northd "
                "down or overloaded?): new containers and policy changes wait for it; "
                "chassis liveness unknown")
    return {n: n in answered for n in present}, ""


def _policies(nb: Northbound, dst_port: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(port group -> policy name, the policies selecting ``dst_port``)."""
    names, selecting = {}, []
    for group in PortGroups(nb).all(GROUP_PREFIX):
        policy = group.external_ids.get(POLICY)
        if policy:
            names[group.name] = policy
            # A policy's own group has its spec; its source group (_from) does not.
            if POLICY_SPEC in group.external_ids and dst_port in group.ports:
                selecting.append(policy)
    return names, tuple(sorted(selecting))


def trace(nb: Northbound, sb: Southbound, sb_remote: str, ssl: SslFiles | None,
          src: str, dst: str, protocol: str, port: int | None, wait: float,
          local: LocalHost | None, local_missing: str = "") -> Report:
    """Trace one packet; TraceError when a tool or DB cannot answer,
    ends.TraceInputError when SRC or DST names nothing traceable."""
    endpoints = ends.read_endpoints(nb)
    pair = ends.choose_pair(ends.resolve(src, endpoints, "source"),
                            ends.resolve(dst, endpoints, "destination"))
    policy_names, selecting = _policies(nb, pair.dst.port)
    names = {pair.src.host, pair.dst.host} - {""}
    for p in (pair.src.port, pair.dst.port):
        b = sb.binding(p)
        if b is not None and b.chassis:
            names.add(b.chassis)
    answers, liveness_note = ask_chassis(nb, sb, names, wait) if wait > 0 else ({}, "")
    # Read after asking: a chassis that answered has also written what it claimed.
    src_binding, dst_binding = sb.binding(pair.src.port), sb.binding(pair.dst.port)
    required = HostTrust(sb).encryption()
    keyed = {k.chassis for k in TunnelKeys(sb).published()
             if required and any(ipaddress.ip_address(ip) in ipaddress.ip_network(required[1])
                                 for ip in k.tunnel_ips)}
    chassis = {}
    for name in names | {b.chassis for b in (src_binding, dst_binding) if b and b.chassis}:
        st = sb.chassis_state(name)
        chassis[name] = ChassisFacts(name, st is not None, st.hostname if st else "",
                                     st.encap_ips if st else (), answers.get(name),
                                     encrypted=name in keyed)
    facts = Facts(pair, ends.describe_protocol(protocol, port), src_binding, dst_binding,
                  chassis, selecting, policy_names, wait, encryption_required=bool(required))

    microflow = ends.ovn_microflow(pair, protocol, port)
    text, warnings = ovn_trace(sb_remote, ssl, pair.src.switch, microflow)
    logical_trace = out.parse_ovn_trace(text, warnings)
    logical = out.classify(logical_trace, pair.dst.port, policy_names)

    flows, flows_text, skipped = None, "", _why_no_openflow(pair, src_binding, local,
                                                            local_missing)
    if not skipped:
        flow = ends.openflow_microflow(pair, protocol, port, local.ports[pair.src.port])
        try:
            flows_text = ofproto_trace(local, flow)
            flows = out.parse_ofproto_trace(flows_text)
        except TraceError as exc:
            skipped = str(exc)
    verdict = decide(facts, logical, logical_trace.uncompilable, flows)
    if liveness_note:
        verdict = Verdict(verdict.through, verdict.code, verdict.reason, verdict.policy,
                          verdict.notes + (liveness_note,))
    return Report(verdict, facts, logical, text, microflow, flows, flows_text, skipped)


def _why_no_openflow(pair: ends.Pair, src_binding, local: LocalHost | None,
                     local_missing: str) -> str:
    if local is None:
        return local_missing or "no local Open vSwitch"
    home = src_binding.chassis if src_binding and src_binding.chassis else pair.src.host
    if home != local.system_id:
        return f"the source is on {pair.src.hostname or home}, not on this host: run " \
               "`dockovn trace` there to see its OpenFlow tables"
    if pair.src.port not in local.ports:
        return f"no port with iface-id={pair.src.port[:12]}... on this host's {local.bridge}"
    if local.appctl_target is None:
        return "ovs-vswitchd's control socket not found next to the OVS DB socket"
    return ""
