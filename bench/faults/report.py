"""The fault figures: per fault kind, summed over rounds, as a markdown table and a plot."""

from __future__ import annotations

import math

from bench.reporting.stats import median
from tests.support.faults.ping import parse as parse_ping

# Goals for a leader kill (reported, never asserted): seconds from the fault to the first
# success of each kind of Docker command.
GOAL_MEDIAN_S, GOAL_MAX_S = 2.0, 5.0


# dockovn's own commands (policy, service) run as a new process each time, which opens
# its own NB session: they are reported apart from Docker's commands.
CLI_KINDS = ("policy-", "service-")


def is_cli(kind: str) -> bool:
    return kind.startswith(CLI_KINDS)


def windows(ops: list[dict]) -> list[float]:
    """Per host and kind of command, how long the fault kept it from working: for a kind
    that failed after the fault, seconds from the fault (time 0) to the end of its first
    success that started after its last failure; for one that never failed, the time its
    first attempt in flight at or after the fault took to succeed (the commands rotate,
    so a kind is not tried at every moment: its next try says nothing of the fault).
    A kind that never worked again counts as inf."""
    out = []
    for host, kind in sorted({(op["host"], op["kind"]) for op in ops}):
        mine = sorted((op for op in ops if op["host"] == host and op["kind"] == kind
                       and op["end"] >= 0), key=lambda op: op["start"])
        if not mine:
            continue
        failures = [op["end"] for op in mine if op.get("error")]
        if failures:
            ok = [op["end"] for op in mine if not op.get("error") and op["start"] >= max(failures)]
            out.append(min(ok) if ok else math.inf)
        else:
            first = mine[0]
            out.append(first["end"] - max(first["start"], 0.0))
    return out


def summarize(records: list[dict]) -> dict[str, dict]:
    by_fault: dict[str, dict] = {}
    for record in records:
        row = by_fault.setdefault(record["fault"], {
            "rounds": 0, "ops": 0, "failed": 0, "violations": 0, "windows": [], "cli": [],
            "sent": 0, "received": 0, "longest_gap": 0, "examples": []})
        ops = record.get("ops", [])
        failed = [op for op in ops if op.get("error")]
        row["rounds"] += 1
        row["ops"] += len(ops)
        row["failed"] += len(failed)
        row["violations"] += len(record.get("violations", []))
        row["windows"] += windows([op for op in ops if not is_cli(op["kind"])])
        row["cli"] += windows([op for op in ops if is_cli(op["kind"])])
        ping = record.get("ping") or {}
        if isinstance(ping, str):  # the ping's own output, as the fault suite keeps it
            seen = parse_ping(ping)
            ping = {"sent": seen.sent, "received": seen.received,
                    "longest_gap": seen.longest_gap}
        row["sent"] += ping.get("sent", 0)
        row["received"] += ping.get("received", 0)
        row["longest_gap"] = max(row["longest_gap"], ping.get("longest_gap", 0))
        row["examples"] += [v for v in record.get("violations", [])][:3]
    for row in by_fault.values():
        w = row["windows"]
        row["window_median"] = median(w) if w else 0.0
        row["window_max"] = max(w) if w else 0.0
        row["cli_median"] = median(row["cli"]) if row["cli"] else 0.0
        row["cli_max"] = max(row["cli"]) if row["cli"] else 0.0
        row["loss_pct"] = 100.0 * (row["sent"] - row["received"]) / row["sent"] \
            if row["sent"] else math.nan
    return by_fault


def _s(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


def markdown(results: dict) -> str:
    lines = ["# Faults under churn", "",
             f"- machine: {results['machine']}; load before the report: {results['load']}",
             "- command: `.venv/bin/python -m bench.faults.run` (the fault suite, "
             "tests/multihost/test_faults.py, per round)",
             *[f"- {o}" for o in results["rounds"]], "",
             "Window, per host and kind of command: if it failed after the fault, from the fault "
             "to the end of its first success after its last failure; if not, how long its "
             "first try at or after the fault took (median / max over kinds and hosts). "
             "Goal after "
             f"a leader kill: median <= {GOAL_MEDIAN_S:g} s, max <= {GOAL_MAX_S:g} s.", "",
             "| fault | rounds | operations | failed | violations | Docker commands: window "
             "median / max (s) | dockovn policy/service: median / max (s) | ping lost "
             "| longest gap (x 0.2 s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in sorted(results["faults"].items()):
        lines.append(f"| {name} | {row['rounds']} | {row['ops']} | {row['failed']} | "
                     f"{row['violations']} | {_s(row['window_median'])} / "
                     f"{_s(row['window_max'])} | {_s(row['cli_median'])} / "
                     f"{_s(row['cli_max'])} | {row['loss_pct']:.1f}% "
                     f"({row['sent'] - row['received']}/{row['sent']}) | "
                     f"{row['longest_gap']} |")
    shown = [(n, v) for n, row in sorted(results["faults"].items()) for v in row["examples"]]
    if shown:
        lines += ["", "Violations (first few per fault):", ""]
        lines += [f"- {n}: {v[:300]}" for n, v in shown]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(results["faults"])
    rows = [results["faults"][n] for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(names))
    cap = lambda v: 0 if math.isinf(v) else v  # noqa: E731
    left.bar([i - 0.2 for i in x], [cap(r["window_median"]) for r in rows], 0.4, label="median")
    left.bar([i + 0.2 for i in x], [cap(r["window_max"]) for r in rows], 0.4, label="max")
    left.axhline(GOAL_MAX_S, color="red", linestyle="--", label="goal (max, leader kill)")
    left.set(ylabel="s from the fault to the first success", title="Failover window")
    right.bar(list(x), [0 if math.isnan(r["loss_pct"]) else r["loss_pct"] for r in rows])
    right.set(ylabel="% of pings lost", title="Ping between two long-lived containers")
    for ax in (left, right):
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
