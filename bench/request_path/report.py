"""The results as a markdown report (printed and saved) and a PNG plot."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.request_path.docker_runs import DockerResults
from bench.request_path.floor import SETUP_STEPS, STEPS, totals
from bench.request_path.latency import CALLS, CONTAINER, NOOP, SERIES, START, Replay
from bench.request_path.nbrows import most_common
from bench.reporting.stats import median, p95, ratio

# The targets: reported, never asserted.
TARGET_START_MS = 5.0           # dockovn CreateEndpoint+Join median
TARGET_SPEEDUP = 10.0           # upstream / dockovn, CreateEndpoint+Join
TARGET_SCALING = 1.5            # per-container cost, largest network / smallest
TARGET_RUN_RATIO = 1.10         # docker run on dockovn / on the bridge
TARGET_RM_RATIO = 1.0           # docker rm -f on dockovn / on the bridge
TARGET_CONNECT_P95_S = 1.0
TARGET_RSS_MB = 150.0
TARGET_FLOOR_RATIO = 1.3        # dockovn CreateEndpoint+Join / its floor: the goal


def ms(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def x(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


@dataclass
class Target:
    what: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run

    def row(self) -> str:
        verdict = "n/a" if self.met is None else ("met" if self.met else "**missed**")
        return f"| {self.what} | {self.goal} | {self.measured} | {verdict} |"


def _by_name(replays: list[Replay]) -> dict[str, Replay]:
    return {r.name: r for r in replays}


def latency_table(replays: list[Replay], sizes: list[int]) -> list[str]:
    up, dk = _by_name(replays).get("upstream"), _by_name(replays)["dockovn"]
    lines = ["| ports on network | call | upstream median | upstream p95 | dockovn median "
             "| dockovn p95 | upstream / dockovn (median) |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for size in sizes:
        for series in SERIES:
            d = dk.samples[size][series]
            u = up.samples[size][series] if up else []
            label = {START: "**CreateEndpoint+Join**", CONTAINER: "**per container (all 4)**",
                     NOOP: f"{NOOP} (does nothing)"}.get(
                series, series)
            lines.append(f"| {size} | {label} | {ms(median(u)) if u else 'n/a'} | "
                         f"{ms(p95(u)) if u else 'n/a'} | {ms(median(d))} | {ms(p95(d))} | "
                         f"{x(ratio(median(u), median(d))) if u else 'n/a'} |")
    return lines


def scaling(replay: Replay, sizes: list[int]) -> float:
    first, last = sizes[0], sizes[-1]
    return ratio(median(replay.samples[last][CONTAINER]), median(replay.samples[first][CONTAINER]))


def rows_line(name: str, diffs) -> str:
    if not diffs:
        return f"| {name} | n/a | n/a |"
    d, n = most_common(diffs)
    return f"| {name} | {d.total} ({d.describe()}) | {n} of {len(diffs)} samples |"


# The floor's samples: size -> step -> seconds per veth pair (bench/request_path/floor.py).
FloorSamples = dict[int, dict[str, list[float]]]


def floor_sizes(floor: FloorSamples | None, sizes: list[int]) -> list[int]:
    """The sizes at which the floor was timed (all, unless the run stopped early)."""
    return [s for s in sizes if floor and floor.get(s) and all(floor[s].values())]


def floor_median(floor: FloorSamples, size: int, steps=SETUP_STEPS) -> float:
    return median(totals(floor[size], steps))


def floor_ratios(replays: list[Replay], sizes: list[int],
                 floor: FloorSamples) -> dict[int, float]:
    """dockovn's CreateEndpoint+Join median over the floor's at the same size."""
    dk = _by_name(replays)["dockovn"]
    return {s: ratio(median(dk.samples[s][START]), floor_median(floor, s))
            for s in floor_sizes(floor, sizes)}


def targets(replays: list[Replay], sizes: list[int], dres: DockerResults | None,
            floor: FloorSamples | None = None) -> list[Target]:
    by = _by_name(replays)
    dk, up = by["dockovn"], by.get("upstream")
    last = sizes[-1]
    start_ms = [median(dk.samples[s][START]) for s in sizes]
    worst = max(start_ms)
    out = [Target("dockovn CreateEndpoint+Join median", f"<= {TARGET_START_MS:g} ms",
                  ", ".join(f"{ms(v)} ms @{s}" for v, s in zip(start_ms, sizes)),
                  worst * 1000 <= TARGET_START_MS)]
    if up:
        speedups = [ratio(median(up.samples[s][START]), median(dk.samples[s][START])) for s in sizes]
        out.append(Target("CreateEndpoint+Join, upstream / dockovn", f">= {TARGET_SPEEDUP:g}x",
                          ", ".join(f"{x(v)} @{s}" for v, s in zip(speedups, sizes)),
                          min(speedups) >= TARGET_SPEEDUP))
    ratios = floor_ratios(replays, sizes, floor or {})
    if ratios:
        out.append(Target("dockovn CreateEndpoint+Join / its floor (median)",
                          f"<= {TARGET_FLOOR_RATIO:g}x",
                          ", ".join(f"{x(v)} @{s}" for s, v in ratios.items()),
                          max(ratios.values()) <= TARGET_FLOOR_RATIO))
    sc = scaling(dk, sizes)
    out.append(Target(f"dockovn per-container cost, {last} / {sizes[0]} ports",
                      f"<= {TARGET_SCALING:g}x", x(sc), sc <= TARGET_SCALING))
    if dres is not None and dres.pair_ratios:
        r = median(dres.pair_ratios)
        out.append(Target("`docker run -d`, dockovn / bridge (median of pairs)",
                          f"<= {TARGET_RUN_RATIO:g}x", x(r), r <= TARGET_RUN_RATIO))
    else:
        out.append(Target("`docker run -d`, dockovn / bridge", f"<= {TARGET_RUN_RATIO:g}x",
                          "not measured", None))
    if dres is not None and dres.rm_ratios:
        r = median(dres.rm_ratios)
        out.append(Target("`docker rm -f`, dockovn / bridge (median of pairs)",
                          f"<= {TARGET_RM_RATIO:g}x", x(r), r <= TARGET_RM_RATIO))
    if dres is not None and dres.connect_dockovn:
        c = p95(dres.connect_dockovn)
        out.append(Target("time to connectivity p95 (dockovn)", f"<= {TARGET_CONNECT_P95_S:g} s",
                          f"{ms(c)} ms", c <= TARGET_CONNECT_P95_S))
    else:
        out.append(Target("time to connectivity p95", f"<= {TARGET_CONNECT_P95_S:g} s",
                          "not measured", None))
    rss = dk.rss_kib[last][0] / 1024
    out.append(Target(f"dockovn driver RSS at {last} ports", f"<= {TARGET_RSS_MB:g} MB",
                      f"{rss:.1f} MiB", rss <= TARGET_RSS_MB))
    return out


def floor_section(replays: list[Replay], sizes: list[int], floor: FloorSamples) -> list[str]:
    """The host's share (bench/request_path/floor.py) at each size, each driver next to it, and
    what is left above it, with the protocol's own share of that."""
    timed = floor_sizes(floor, sizes)
    if not timed:
        return []
    n = len(floor[timed[0]][STEPS[0]])
    out = ["", "## The request path next to its floor", "",
           f"The host's share of a container, timed without any driver in turn with the "
           f"drivers' containers at every size ({n} veth pairs per size: made, plugged into "
           "br-int with a logical port in NB on a switch of their own, then all undone; "
           "pyroute2 and ovsdbapp with dockovn's transaction options). Median ms:", "",
           "| step | " + " | ".join(f"{s} ports" for s in timed) + " |",
           "|---|" + "---:|" * len(timed)]
    out += [f"| {step} | " + " | ".join(ms(median(floor[s][step])) for s in timed) + " |"
            for step in STEPS]
    for steps, label in ((SETUP_STEPS, "floor of CreateEndpoint+Join"),
                         (STEPS, "floor of a container (all six)")):
        out.append(f"| **{label}** (p95) | " + " | ".join(
            f"**{ms(floor_median(floor, s, steps))}** ({ms(p95(totals(floor[s], steps)))})"
            for s in timed) + " |")
    out += ["", "| ports | call | " + " | ".join(f"{r.name} (median)" for r in replays) +
            " | floor | " + " | ".join(f"{r.name} / floor" for r in replays) + " |",
            "|---:|---|" + "---:|" * (2 * len(replays) + 1)]
    for size in timed:
        for series, steps in ((START, SETUP_STEPS), (CONTAINER, STEPS)):
            base = floor_median(floor, size, steps)
            meds = [median(r.samples[size][series]) for r in replays]
            label = "CreateEndpoint+Join" if series == START else "per container (all 4)"
            out.append(f"| {size} | {label} | " + " | ".join(ms(m) for m in meds) +
                       f" | {ms(base)} | " + " | ".join(x(ratio(m, base)) for m in meds) + " |")
    out += ["", f"Above the floor: each driver's CreateEndpoint+Join minus the floor's, next "
                f"to two calls of {NOOP} (a call both drivers accept and do nothing for: "
                "HTTP, decoding and dispatch, what every call costs before any work). Median ms:",
            "", "| ports | driver | CreateEndpoint+Join - floor | 2 x " + NOOP + " | the rest |",
            "|---:|---|---:|---:|---:|"]
    for size in timed:
        for r in replays:
            above = median(r.samples[size][START]) - floor_median(floor, size)
            protocol = 2 * median(r.samples[size][NOOP])
            out.append(f"| {size} | {r.name} | {ms(above)} | {ms(protocol)} | "
                       f"{ms(above - protocol)} |")
    return out


def markdown(replays: list[Replay], sizes: list[int], reps: int, dres: DockerResults | None,
             env: dict[str, str], notes: list[str], leftovers: list[str],
             floor: FloorSamples | None = None) -> str:
    out = ["# dockovn benchmark", ""]
    out += ["## Machine and versions", ""]
    out += [f"- {k}: {v}" for k, v in env.items()]
    out += ["", "## How it was run", ""]
    out += [f"- {n}" for n in notes]

    out += ["", f"## Driver latency (ms; {reps} containers per driver and size, replayed over "
                "HTTP: CreateEndpoint, Join, Leave, DeleteEndpoint)", ""]
    out += latency_table(replays, sizes)
    out += ["", "Per-container cost as the network grows (median, all four calls):", "",
            f"| driver | {sizes[0]} ports | {sizes[-1]} ports | {sizes[-1]} / {sizes[0]} |",
            "|---|---:|---:|---:|"]
    for r in replays:
        out.append(f"| {r.name} | {ms(median(r.samples[sizes[0]][CONTAINER]))} | "
                   f"{ms(median(r.samples[sizes[-1]][CONTAINER]))} | {x(scaling(r, sizes))} |")
    out += floor_section(replays, sizes, floor or {})
    n = sizes[-1]
    out += ["", f"Making and removing the {n} background ports with the drivers' own calls "
                "(sequential, not part of the table above): " + "; ".join(
                    f"{r.name}: CreateEndpoint x{n} {r.fill_seconds:.1f} s "
                    f"({ms(r.fill_seconds / n)} ms each), DeleteEndpoint x{n} "
                    f"{r.empty_seconds:.1f} s ({ms(r.empty_seconds / n)} ms each)"
                    for r in replays)]

    out += ["", "## docker run -d (wall time of Debian's docker client, real dockerd)", ""]
    if dres is None:
        out.append("Not measured in this run (--no-docker).")
    else:
        out += ["| network | runs | median (ms) | p95 (ms) |", "|---|---:|---:|---:|",
                f"| dockovn (`{dres.network}`) | {len(dres.run_dockovn)} | "
                f"{ms(median(dres.run_dockovn))} | {ms(p95(dres.run_dockovn))} |",
                f"| Docker's default bridge | {len(dres.run_bridge)} | "
                f"{ms(median(dres.run_bridge))} | {ms(p95(dres.run_bridge))} |",
                "", f"Paired ratio dockovn / bridge: median {x(median(dres.pair_ratios))}, "
                    f"p95 {x(p95(dres.pair_ratios))}."]
        if dres.rm_ratios:
            out += ["", "## docker rm -f (the same pairs' containers)", "",
                    "| network | removals | median (ms) | p95 (ms) |", "|---|---:|---:|---:|",
                    f"| dockovn | {len(dres.rm_dockovn)} | {ms(median(dres.rm_dockovn))} | "
                    f"{ms(p95(dres.rm_dockovn))} |",
                    f"| Docker's default bridge | {len(dres.rm_bridge)} | "
                    f"{ms(median(dres.rm_bridge))} | {ms(p95(dres.rm_bridge))} |",
                    "", f"Paired ratio dockovn / bridge: median {x(median(dres.rm_ratios))}, "
                        f"p95 {x(p95(dres.rm_ratios))}."]
        out += ["", "## Time to connectivity (`docker run -d` returning -> first ping answered "
                    "by a peer container on the same network)", "",
                "| network | containers | median (ms) | p95 (ms) | max (ms) |",
                "|---|---:|---:|---:|---:|"]
        for kind, vals in (("dockovn", dres.connect_dockovn), ("bridge (reference)",
                                                               dres.connect_bridge)):
            out.append(f"| {kind} | {len(vals)} | {ms(median(vals))} | {ms(p95(vals))} | "
                       f"{ms(max(vals)) if vals else 'n/a'} |")
        if dres.egress_dockovn or dres.egress_bridge:
            out += ["", "## Time to the first egress answer (`docker run -d` returning -> "
                        "first ping answered by a namespace outside this host, through its NAT)",
                    "", "| network | containers | median (ms) | p95 (ms) | max (ms) |",
                    "|---|---:|---:|---:|---:|"]
            for kind, vals in (("dockovn", dres.egress_dockovn),
                               ("bridge (reference)", dres.egress_bridge)):
                out.append(f"| {kind} | {len(vals)} | {ms(median(vals))} | {ms(p95(vals))} | "
                           f"{ms(max(vals)) if vals else 'n/a'} |")
        if dres.failures:
            out += ["", "Failures: " + "; ".join(dres.failures)]

    out += ["", "## Footprint", "", "Driver memory (MiB) after each size (VmRSS / VmHWM from "
            "/proc/<pid>/status; the upstream's is its Flask process, without the "
            "ovn-nbctl/ovs-vsctl/ip children it forks per call):", "",
            "| driver | " + " | ".join(f"{s} ports" for s in sizes) + " |",
            "|---|" + "---:|" * len(sizes)]
    for r in replays:
        out.append(f"| {r.name} | " + " | ".join(
            f"{mib(r.rss_kib[s][0])} / {mib(r.rss_kib[s][1])}" for s in sizes) + " |")
    out += ["", "NB row writes per container, one per row per transaction, counted on rows "
                "that name the container's endpoint or network (most common over the samples; "
                "+ insert, ~ update, - delete; ovn-northd's `up` updates left out):", "",
            "| what | rows | seen in |", "|---|---|---|"]
    for r in replays:
        out.append(rows_line(f"{r.name}: CreateEndpoint+Join", r.rows_create))
        out.append(rows_line(f"{r.name}: Leave+DeleteEndpoint", r.rows_remove))
    if dres is not None:
        out.append(rows_line("dockovn via dockerd: `docker run -d` (incl. the name written "
                             "from Docker's events)", dres.rows_docker_run))

    out += ["", "## Targets (reported, not asserted)", "", "| target | goal | measured | |",
            "|---|---|---|---|"]
    out += [t.row() for t in targets(replays, sizes, dres, floor)]
    out += ["", "## Clean-up", "",
            ("Nothing was left behind: every network, port, veth and NB row the run made was "
             "removed by the drivers' own Delete calls." if not leftovers else
             "Removed by the final sweep (the normal path had not): " + "; ".join(leftovers))]
    return "\n".join(out) + "\n"


def plot(replays: list[Replay], sizes: list[int], env: dict[str, str], path: str,
         floor: FloorSamples | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    colors = {"upstream": "tab:red", "dockovn": "tab:blue"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    for r in replays:
        c = colors.get(r.name, "black")
        for series, style in ((CONTAINER, "-"), (START, "--")):
            med = [median(r.samples[s][series]) * 1000 for s in sizes]
            hi = [p95(r.samples[s][series]) * 1000 for s in sizes]
            label = f"{r.name}: {'per container' if series == CONTAINER else 'CreateEndpoint+Join'}"
            left.plot(sizes, med, style, marker="o", color=c, label=label + " (median)")
            left.fill_between(sizes, med, hi, color=c, alpha=0.12)
        for series, marker in zip(CALLS, "s^vD"):
            right.plot(sizes, [median(r.samples[s][series]) * 1000 for s in sizes], "-",
                       marker=marker, color=c, label=f"{r.name}: {series}")
    timed = floor_sizes(floor, sizes)
    if timed:
        # What any driver must spend on this host (bench/request_path/floor.py), timed in this run.
        for steps, what, style in ((STEPS, "per container", "-."),
                                   (SETUP_STEPS, "CreateEndpoint+Join", ":")):
            left.plot(timed, [floor_median(floor, s, steps) * 1000 for s in timed], style,
                      marker="x", color="dimgray", label=f"floor {what}, no driver (median)")
    left.axhline(TARGET_START_MS, color="gray", linestyle=":", linewidth=1)
    left.annotate(f"target: CreateEndpoint+Join <= {TARGET_START_MS:g} ms", (sizes[0], TARGET_START_MS),
                  textcoords="offset points", xytext=(4, 4), fontsize=8, color="gray")
    for ax, title in ((left, "Per container (median; shaded up to p95)"),
                      (right, "Per call (median)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Plain numbers (2, 5, 10, 20, ...) rather than powers of ten: easier to read off.
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("ports already on the network")
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5, loc="best")
    fig.suptitle("Driver latency vs network size: upstream ovn-docker-overlay-driver vs dockovn "
                 "(same machine, same OVN central)", fontsize=11)
    fig.text(0.01, 0.01, env.get("machine", "") + " | " + env.get("versions", ""), fontsize=7,
             color="dimgray")
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path, dpi=120)
    plt.close(fig)
