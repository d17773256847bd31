"""The results of `make bench` on Debian 12 and on Debian 13, side by side.

`make bench-releases` runs `make bench` on the machine itself (Debian 12) into
bench/results/releases/debian12/ and then in a Debian 13 root on the same machine
(scripts/debian13/run.sh) into bench/results/releases/debian13/: the same cores and
memory, one release after the other, the same arguments. This reads the two folders' raw
samples (results.json, names.json, failover.json) and writes
bench/results/releases/releases.{md,json,png}: the request path against its floor, the
per-container cost at the smallest and the largest network, `docker run -d` against
Docker's bridge, names freshness and the failover window. Nothing is measured here.
`python -m bench.releases.compare [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median, p95, ratio
from bench.request_path.floor import SETUP_STEPS, STEPS, totals
from bench.request_path.latency import CONTAINER, START

# Folder (under the results folder) and label of each release, in the table's order.
RELEASES = (("debian12", "Debian 12"), ("debian13", "Debian 13"))
RELEASES_OUT = os.path.join(RESULTS, "releases")
PARTS = ("results", "names", "failover")


def load(folder: str) -> dict[str, dict]:
    """The raw samples of each part that ran there ({} for a part that did not)."""
    found = {}
    for part in PARTS:
        path = os.path.join(folder, f"{part}.json")
        if os.path.exists(path):
            with open(path) as f:
                found[part] = json.load(f)
    return found


def _floor(results: dict, size: str, steps) -> float:
    floor = results.get("host_floor_s", {}).get(size)
    return median(totals(floor, steps)) if floor else math.nan


def figures(raw: dict[str, dict]) -> dict[str, float | str]:
    """The figures the table compares, in seconds (or a ratio), from one release's samples."""
    out: dict[str, float | str] = {}
    res = raw.get("results")
    if res:
        out["versions"] = res["env"].get("versions", "?").split(", dockovn")[0]
        out["Python"] = res["env"].get("Python", "?").split(" for ")[0]
        sizes = sorted(res["latency"]["dockovn"]["samples_s"], key=int)
        for size in (sizes[0], sizes[-1]):
            for driver, series in res["latency"].items():
                samples = series["samples_s"][size]
                out[f"{driver} {START} at {size}"] = median(samples[START])
                out[f"{driver} {CONTAINER} at {size}"] = median(samples[CONTAINER])
            out[f"floor {START} at {size}"] = _floor(res, size, SETUP_STEPS)
            out[f"floor {CONTAINER} at {size}"] = _floor(res, size, STEPS)
        out["sizes"] = f"{sizes[0]},{sizes[-1]}"
        docker = res.get("docker") or {}
        for key in ("run_dockovn", "run_bridge"):
            if docker.get(key):
                out[f"docker {key}"] = median(docker[key])
    names = raw.get("names")
    if names:
        out["names freshness median"] = median(names["freshness_s"])
        out["names freshness p95"] = p95(names["freshness_s"])
    failover = raw.get("failover")
    if failover:
        windows = [w for host in failover["window_s"].values() for w in host]
        out["failover median"] = median(windows)
        out["failover max"] = max(windows) if windows else math.nan
    return out


def _ms(seconds) -> str:
    if not isinstance(seconds, float) or math.isnan(seconds):
        return "n/a"
    value = seconds * 1000
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _s(seconds) -> str:
    return "n/a" if not isinstance(seconds, float) or math.isnan(seconds) else f"{seconds:.2f}"


def _x(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def rows(figs: list[dict]) -> list[tuple[str, list[str]]]:
    """(label, one cell per release) for the table."""
    def cell(f, key, fmt):
        return fmt(f.get(key, math.nan))

    def over(f, a, b):
        return _x(ratio(f.get(a, math.nan), f.get(b, math.nan)))

    out = [("Docker, OVS, OVN", [str(f.get("versions", "not run")) for f in figs]),
           ("Python (dockovn)", [str(f.get("Python", "?")) for f in figs])]
    sizes = [str(f.get("sizes", "")).split(",") for f in figs]
    small, large = (sizes[0] + ["?", "?"])[:2]
    for size in (small, large):
        out += [
            (f"dockovn CreateEndpoint+Join at {size} ports (ms, median)",
             [cell(f, f"dockovn {START} at {size}", _ms) for f in figs]),
            (f"its floor at {size} ports (ms)", [cell(f, f"floor {START} at {size}", _ms) for f in figs]),
            (f"dockovn / floor, CreateEndpoint+Join at {size} ports",
             [over(f, f"dockovn {START} at {size}", f"floor {START} at {size}") for f in figs]),
            (f"dockovn per container (all 4 calls) at {size} ports (ms)",
             [cell(f, f"dockovn {CONTAINER} at {size}", _ms) for f in figs]),
            (f"upstream driver per container at {size} ports (ms)",
             [cell(f, f"upstream {CONTAINER} at {size}", _ms) for f in figs]),
            (f"floor of a container at {size} ports (ms)",
             [cell(f, f"floor {CONTAINER} at {size}", _ms) for f in figs]),
        ]
    out += [
        (f"dockovn per container, {large} ports / {small}",
         [over(f, f"dockovn {CONTAINER} at {large}", f"dockovn {CONTAINER} at {small}") for f in figs]),
        (f"upstream per container, {large} ports / {small}",
         [over(f, f"upstream {CONTAINER} at {large}", f"upstream {CONTAINER} at {small}") for f in figs]),
        ("`docker run -d` on dockovn (ms, median)", [cell(f, "docker run_dockovn", _ms) for f in figs]),
        ("`docker run -d` on Docker's bridge (ms, median)", [cell(f, "docker run_bridge", _ms) for f in figs]),
        ("dockovn / bridge, `docker run -d`",
         [over(f, "docker run_dockovn", "docker run_bridge") for f in figs]),
        ("name on another host answers after `docker run` (ms, median; < 0: before it returned)",
         [cell(f, "names freshness median", _ms) for f in figs]),
        ("same, p95 (ms)", [cell(f, "names freshness p95", _ms) for f in figs]),
        ("NB leader kill -9 -> first `docker run` (s, median)",
         [cell(f, "failover median", _s) for f in figs]),
        ("same, max (s)", [cell(f, "failover max", _s) for f in figs]),
    ]
    return out


def report(results: dict) -> str:
    labels = [r["label"] for r in results["releases"]]
    figs = [r["figures"] for r in results["releases"]]
    lines = ["# `make bench` on each release, side by side", "",
             "Same machine (2 cores), one release after the other: Debian 12 natively, Debian 13 "
             "in a root of its own (scripts/debian13/run.sh). Full reports: "
             "[Debian 12](debian12/results.md), [Debian 13](debian13/results.md) (and names.md, "
             "failover.md, policy.md beside each).", "",
             "| | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows(figs)]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = [r["figures"] for r in results["releases"]]
    labels = [r["label"] for r in results["releases"]]
    size = str(figs[0].get("sizes", "?,?")).split(",")[-1]
    series = [(f"CreateEndpoint+Join\n({size} ports)", f"dockovn {START} at {size}"),
              (f"its floor\n({size} ports)", f"floor {START} at {size}"),
              ("docker run -d\ndockovn", "docker run_dockovn"),
              ("docker run -d\nbridge", "docker run_bridge"),
              ("names\nfreshness", "names freshness median"),
              ("failover\nwindow", "failover median")]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(figs)
    for i, (label, f) in enumerate(zip(labels, figs)):
        values = [f.get(key, math.nan) * 1000 for _, key in series]  # ms
        ax.bar([j + i * width for j in range(len(series))], values, width, label=label)
    ax.set_xticks([j + width * (len(figs) - 1) / 2 for j in range(len(series))])
    ax.set_xticklabels([name for name, _ in series], fontsize=8)
    ax.set_yscale("log")
    ax.set(ylabel="ms (median, log scale)", title="make bench: Debian 12 and Debian 13")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.releases.compare",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", default=RELEASES_OUT,
                   help="the folder holding debian12/ and debian13/ (default: bench/results/releases)")
    args = p.parse_args(argv)
    releases = []
    for sub, label in RELEASES:
        raw = load(os.path.join(args.out, sub))
        if not raw:
            print(f"no results for {label} in {os.path.join(args.out, sub)}: run "
                  "make bench-releases", file=sys.stderr)
            return 1
        releases.append({"label": label, "figures": figures(raw)})
    save(args.out, "releases", report({"releases": releases}), {"releases": releases}, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
