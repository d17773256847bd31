"""One line per fault test: what churn ran, what failed and for how long, the ping."""

from __future__ import annotations

from collections import Counter

from tests.support.faults.churn import Op
from tests.support.faults.ping import PingResult


def recovery(ops: list[Op], injected: float) -> dict[str, float]:
    """Per host and kind of request that failed there: seconds from the injection to the
    start of its first success after its last failure (inf: it never worked again)."""
    out = {}
    for host, kind in sorted({(op.host, op.kind) for op in ops if op.error}):
        mine = [op for op in ops if op.kind == kind and op.host == host]
        last_failure = max(op.end for op in mine if op.error)
        ok = [op.start for op in mine if op.error is None and op.start >= last_failure]
        out[f"{host} {kind}"] = (min(ok) - injected) if ok else float("inf")
    return out


def line(name: str, ops: list[Op], injected: float, healed: float, pinged: PingResult,
         converged: float, violations: int) -> str:
    failed = [op for op in ops if op.error]
    per_host = Counter(op.host for op in ops)
    last = max((op.end - injected for op in failed), default=0.0)
    back = ", ".join(f"{k} +{v:.1f}s" for k, v in recovery(ops, injected).items()) or "-"
    return (f"{name}: {len(ops)} ops ({', '.join(f'{h} {n}' for h, n in sorted(per_host.items()))})"
            f", {len(failed)} failed, last failure ended {last:+.1f}s after injection "
            f"(healed {healed - injected:+.1f}s); first success after failing: {back}; "
            f"{pinged.summary()}; state settled in {converged:.0f}s; "
            f"{violations} violation(s)")


def errors(ops: list[Op], injected: float) -> list[str]:
    """The distinct error texts, each with its count and when it was seen."""
    seen: dict[tuple[str, str, str], list[float]] = {}
    for op in ops:
        if op.error:
            seen.setdefault((op.host, op.kind, op.error), []).append(op.end - injected)
    return [f"  {host} {kind} x{len(ts)} at {min(ts):+.1f}..{max(ts):+.1f}s: {error[:600]}"
            for (host, kind, error), ts in sorted(seen.items(), key=lambda kv: min(kv[1]))]
