"""A trace's report as JSON: what `dockovn trace --json` prints and `dockovn ui` shows."""

from __future__ import annotations

import dataclasses

from dockovn.diagnose.trace.run import Report


def _endpoint(ep, binding, chassis) -> dict:
    bound = chassis.get(binding.chassis) if binding and binding.chassis else None
    return {"container": ep.container, "address": ep.ip, "mac": ep.mac,
            "network": ep.network, "host": ep.hostname or ep.host, "port": ep.port,
            "bound_to": (bound.label if bound else binding.chassis or None) if binding else None,
            "up": binding.up if binding else None}


def as_dict(report: Report, with_traces: bool = False) -> dict:
    f, v = report.facts, report.verdict
    step = report.logical.step
    d = {
        "through": v.through, "verdict": v.code, "reason": v.reason, "policy": v.policy,
        "notes": list(v.notes), "protocol": f.protocol,
        "path": f.pair.path, "router": f.pair.router or None,
        "source": _endpoint(f.pair.src, f.src_binding, f.chassis),
        "destination": _endpoint(f.pair.dst, f.dst_binding, f.chassis),
        "destination_policies": list(f.dst_policies),
        "chassis": {c.label: {"name": c.name, "registered": c.present, "answers": c.answers,
                              "encaps": list(c.encap_ips)} for c in f.chassis.values()},
        "logical": {"delivered": report.logical.delivered, "outcome": report.logical.kind,
                    "step": dataclasses.asdict(step) if step else None,
                    "microflow": report.microflow},
        "openflow": None if report.openflow is None else {
            "datapath_actions": report.openflow.datapath_actions,
            "dropped": report.openflow.dropped, "tunnel_to": list(report.openflow.tunnel_to)},
        "openflow_skipped": report.openflow_skipped or None,
    }
    if with_traces:
        d["ovn_trace"], d["ofproto_trace"] = report.logical_text, report.openflow_text
    return d
