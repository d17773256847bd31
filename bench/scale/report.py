"""The scale benchmark's report (markdown, growth ratios) and plot, from its results."""

from __future__ import annotations

import math

from bench.scale.why import why
from bench.reporting.stats import median, p95

TARGETS = {"reach_p95_s": 1.0, "startup_s": 5.0, "rss_mb": 200.0}
LINEAR_SLACK = 1.3    # a ratio up to 1.3x what linear growth gives counts as linear
MARGINAL_SLACK = 1.5  # per-port cost in the last stage up to 1.5x the second's: linear
CENTRAL = ("NB ovsdb-server", "SB ovsdb-server", "ovn-northd")


def mib(kib: float) -> float:
    return kib / 1024


def _fmt(v: float | None, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


def per_host(point: dict, daemon: str, key: str) -> list[float]:
    return [s[key] for s in point["hosts"][daemon].values() if key in s]


def fill_points(size: dict) -> list[dict]:
    """The checkpoints of the fill (the first is the probers alone; the sample's is last)."""
    return size["checkpoints"][:-1]


def final(size: dict) -> dict:
    return size["checkpoints"][-1]


def reach(size: dict) -> list[float]:
    return [r["s"] for r in size["reachability"] if r["s"] is not None]


def idle_cpu_percent(size: dict, daemon: str) -> list[float]:
    idle = size["idle"]
    return [(idle["hosts_after"][daemon][h]["cpu_s"] - s["cpu_s"]) / idle["seconds"] * 100
            for h, s in idle["hosts_before"][daemon].items()
            if "cpu_s" in s and "cpu_s" in idle["hosts_after"][daemon].get(h, {})]


def central_idle_percent(size: dict, label: str) -> float:
    idle = size["idle"]
    return (idle["central_after"][label]["cpu_s"] - idle["central_before"][label]["cpu_s"]) \
        / idle["seconds"] * 100


def fill_cpu(size: dict, label: str) -> float:
    """A central daemon's CPU seconds over the whole fill."""
    pts = fill_points(size)
    return pts[-1]["central"][label]["cpu_s"] - pts[0]["central"][label]["cpu_s"]


def host_fill_cpu(size: dict, daemon: str) -> float:
    """The median host's CPU seconds of ``daemon`` over the whole fill."""
    pts = fill_points(size)
    first, last = pts[0]["hosts"][daemon], pts[-1]["hosts"][daemon]
    return median([last[h]["cpu_s"] - first[h]["cpu_s"] for h in last
                   if "cpu_s" in last[h] and "cpu_s" in first.get(h, {})])


def startups(size_or_nb: dict, key: str) -> list[float]:
    return [s[key] for s in size_or_nb["startup"].values()]


# -- metrics the growth tables look at ------------------------------------------------------

def point_metrics(p: dict) -> dict[str, float]:
    """Level metrics of one checkpoint."""
    return {
        "driver RSS (MiB, median host)": mib(median(per_host(p, "driver", "rss_kib"))),
        "ovn-controller RSS (MiB, median host)": mib(median(per_host(p, "ovn-controller",
                                                                     "rss_kib"))),
        "ovs-vswitchd RSS (MiB, median host)": mib(median(per_host(p, "ovs-vswitchd", "rss_kib"))),
        "OpenFlow flows per host (median)": median(list(p["openflow"].values())),
        "SB logical flows": p["logical_flows"],
        **{f"{label} RSS (MiB)": mib(p["central"][label].get("rss_kib", math.nan))
           for label in CENTRAL},
    }


def stage_costs(a: dict, b: dict) -> dict[str, float]:
    """Per added container port between checkpoints a and b: CPU ms and level increments."""
    added = b["ports"] - a["ports"]
    if added <= 0:
        return {}
    out = {f"{label} CPU ms/port": (b["central"][label]["cpu_s"] - a["central"][label]["cpu_s"])
           * 1000 / added for label in CENTRAL}
    for daemon in ("driver", "ovn-controller", "ovs-vswitchd"):
        deltas = [b["hosts"][daemon][h]["cpu_s"] - a["hosts"][daemon][h]["cpu_s"]
                  for h in b["hosts"][daemon] if "cpu_s" in b["hosts"][daemon][h]
                  and "cpu_s" in a["hosts"][daemon].get(h, {})]
        out[f"{daemon} CPU ms/port (median host)"] = median(deltas) * 1000 / added
    la, lb = point_metrics(a), point_metrics(b)
    for key in ("driver RSS (MiB, median host)", "OpenFlow flows per host (median)",
                "SB logical flows", "NB ovsdb-server RSS (MiB)", "SB ovsdb-server RSS (MiB)"):
        unit = "KiB" if "MiB" in key else ""
        scale = 1024 if unit else 1
        out[key.split(" (")[0] + f" +{unit or 'n'}/port"] = (lb[key] - la[key]) * scale / added
    for call in ("RequestAddress", "CreateEndpoint", "Join"):
        out[f"{call} ms (median)"] = b["calls_ms"][call]
    return out


def verdict(ratio: float, linear: float, slack: float) -> str:
    if math.isnan(ratio):
        return "-"
    return "**worse than linear**" if ratio > linear * slack else "linear or better"


Row = tuple[str, float, float, float, float]


def hosts_growth(sizes: list[dict]) -> tuple[list[str], list[Row]]:
    """Rows (metric, at fewest hosts, at most hosts, ratio, ratio linear growth gives)."""
    a, b = sizes[0], sizes[-1]
    hr = b["hosts"] / a["hosts"]
    rows = []
    per_host_metrics = {
        "reachability p95 (ms)": lambda s: p95(reach(s)) * 1000,
        "driver start-up, synced (s, median host)": lambda s: median(startups(s, "synced_s")),
        "driver idle CPU (%, median host)": lambda s: median(idle_cpu_percent(s, "driver")),
        "driver CPU over the fill (s, median host)": lambda s: host_fill_cpu(s, "driver"),
        "ovn-controller CPU over the fill (s, median host)":
            lambda s: host_fill_cpu(s, "ovn-controller"),
        **{k: (lambda s, k=k: point_metrics(fill_points(s)[-1])[k])
           for k in ("driver RSS (MiB, median host)", "ovn-controller RSS (MiB, median host)",
                     "OpenFlow flows per host (median)")},
    }
    for name, fn in per_host_metrics.items():
        va, vb = fn(a), fn(b)
        rows.append((name, va, vb, vb / va if va else math.nan, 1.0))
    cluster_metrics = {
        **{f"{label} CPU over the fill (s)": (lambda s, l=label: fill_cpu(s, l))
           for label in CENTRAL},
        **{f"{label} RSS (MiB)": (lambda s, l=label: point_metrics(fill_points(s)[-1])
                                  [f"{l} RSS (MiB)"]) for label in CENTRAL},
        "SB logical flows": lambda s: fill_points(s)[-1]["logical_flows"],
    }
    for name, fn in cluster_metrics.items():
        va, vb = fn(a), fn(b)
        rows.append((name, va, vb, vb / va if va else math.nan, hr))
    return [f"{a['hosts']} hosts", f"{b['hosts']} hosts"], rows


def ports_growth(size: dict) -> list[tuple[str, float, float, float]]:
    """(metric, per-port cost in the second fill stage, in the last, ratio)."""
    pts = fill_points(size)
    stages = [stage_costs(pts[i], pts[i + 1]) for i in range(len(pts) - 1)]
    stages = [s for s in stages if s]
    if len(stages) < 2:
        return []
    early, late = stages[1] if len(stages) > 2 else stages[0], stages[-1]
    return [(k, early[k], late[k], late[k] / early[k] if early[k] else math.nan) for k in late]


# -- the report -----------------------------------------------------------------------------

NOTES = [
    "Each size is its own harness (tests/support/multihost.py, `dockerd=False`): a central "
    "(NB and SB ovsdb-server, ovn-northd, SSL as documented) and the hosts in network "
    "namespaces, each host with its own ovsdb-server, ovs-vswitchd (userspace datapath), "
    "ovn-controller and dockovn driver, Geneve between them.",
    "No dockerd: its plugin calls are replayed on each driver's socket as it sends them. "
    "One network with dockovn's IPAM (RequestPool, gateway RequestAddress, CreateNetwork on "
    "h1; the same with `dockovn.network=<h1's id>` on the others, as replication does); a "
    "container is RequestAddress, CreateEndpoint, Join, then the Join reply's interface is "
    "moved into a namespace of its own, renamed eth0, addressed and set up with `ip`, as "
    "dockerd would after Join.",
    "Containers go round-robin over the hosts, each host's one after another and the hosts in "
    "parallel (one dockerd each would do the same); a checkpoint after each stage waits for "
    "every port to be up in NB, then reads CPU seconds (utime+stime) and VmRSS from /proc, "
    "`ovs-ofctl dump-aggregate` per host and the SB Logical_Flow count.",
    "Reachability: a container made on host i while a prober in a container on host i+1 "
    "sends ICMP echo every 5 ms (the target's MAC preset in the prober's neighbour table, so "
    "neither the kernel's 1 s ARP retry nor OVN's ARP responder is measured); from the Join "
    "reply to the first echo reply, both on CLOCK_MONOTONIC; the sandbox set-up after Join "
    "(three `ip` commands, as dockerd's netlink work) is included.",
    "Driver start-up: its process stopped and started again as the harness starts it "
    "(`ip netns exec ... python -m dockovn driver`); from that to the socket answering "
    "Plugin.Activate, and to EndpointOperInfo answering for the newest port made by another "
    "host (answered from the driver's NB cache, so the initial sync is in). Python's own "
    "start-up and imports are included. RSS 3 s later.",
    "Without dockerd the drivers' Docker-facing threads (names from events, network "
    "replication, gc) find no Docker and retry; gc removes nothing when Docker cannot be "
    "asked. Their NB-side threads (names index, policy memberships, service backends) run "
    "as usual.",
    "p95 is interpolated between closest ranks (numpy's default).",
]


def report(results: dict) -> str:
    sizes = results["sizes"]
    n = sizes[0]["ports"]
    out = [f"# Scale: {', '.join(str(s['hosts']) for s in sizes)} hosts, {n:,} container "
           "ports each", "", "## Machine and versions", ""]
    out += [f"- {k}: {v}" for k, v in results["env"].items()]
    out += [f"- whole run: {results['runtime_s'] / 60:.1f} min", "", "## How it was run", ""]
    out += [f"- {line}" for line in NOTES]
    out += ["", f"## At {n:,} container ports", "",
            "| hosts | reachability median / p95 (ms) | unreachable | sandbox after Join (ms) | "
            "driver start-up: socket / synced, median (max) (s) | driver RSS median (max) "
            "(MiB) | driver idle CPU median (max) | ovn-controller RSS (MiB) | OpenFlow flows "
            "per host median (max) | harness start (s) | load at start / end |",
            "|---:|---|---:|---:|---|---|---|---:|---|---:|---|"]
    for s in sizes:
        f, r = final(s), reach(s)
        rss = [mib(v) for v in per_host(f, "driver", "rss_kib")]
        idle = idle_cpu_percent(s, "driver")
        flows = list(f["openflow"].values())
        out.append(
            f"| {s['hosts']} | {_fmt(median(r) * 1000)} / {_fmt(p95(r) * 1000)} | "
            f"{len(s['reachability']) - len(r)} of {len(s['reachability'])} | "
            f"{_fmt(median([x['sandbox_s'] for x in s['reachability']]) * 1000, 1)} | "
            f"{median(startups(s, 'socket_s')):.2f} / {median(startups(s, 'synced_s')):.2f} "
            f"({max(startups(s, 'synced_s')):.2f}) | {median(rss):.1f} ({max(rss):.1f}) | "
            f"{median(idle):.1f}% ({max(idle):.1f}%) | "
            f"{mib(median(per_host(f, 'ovn-controller', 'rss_kib'))):.1f} | "
            f"{_fmt(median(flows))} ({_fmt(max(flows))}) | {s['harness_start_s']:.0f} | "
            f"{s['load_at_start']} / {s.get('load_at_end', '?')} |")
    out += ["", "| hosts | " + " | ".join(f"{c} CPU over the fill (s) / RSS (MiB) / idle CPU"
                                         for c in CENTRAL) + " | SB logical flows |",
            "|---:|---|---|---|---:|"]
    for s in sizes:
        f = fill_points(s)[-1]
        cells = [f"{fill_cpu(s, c):.1f} / {mib(f['central'][c]['rss_kib']):.1f} / "
                 f"{central_idle_percent(s, c):.1f}%" for c in CENTRAL]
        out.append(f"| {s['hosts']} | " + " | ".join(cells) + f" | {f['logical_flows']:,} |")
    out += targets(results)
    out += growth(results)
    out += checkpoints(results)
    out += nb_section(results)
    out += explanations(results)
    return "\n".join(out) + "\n"


def targets(results: dict) -> list[str]:
    big = results["sizes"][-1]
    r = reach(big)
    nb = results.get("nb_scale")
    rows = ["", "## Targets (reported, not asserted)", "", "| target | measured | |",
            "|---|---|---|"]
    ok = lambda good: "met" if good else "**not met**"  # noqa: E731
    rp95 = p95(r) if r else math.nan
    rows.append(f"| reachability p95 <= {TARGETS['reach_p95_s'] * 1000:.0f} ms at "
                f"{big['hosts']} hosts | {rp95 * 1000:.0f} ms "
                f"({len(big['reachability']) - len(r)} unreachable) | "
                f"{ok(rp95 <= TARGETS['reach_p95_s'] and len(r) == len(big['reachability']))} |")
    if nb:
        worst = max(startups(nb, "synced_s"))
        rss = max([mib(s["rss_kib"]) for s in nb["startup"].values()] +
                  [mib(s["rss_kib"]) for s in nb["running"]["driver"].values() if s])
        rows.append(f"| driver start-up <= {TARGETS['startup_s']:.0f} s with "
                    f"{nb['nb_ports']:,} ports in NB | {median(startups(nb, 'synced_s')):.2f} s "
                    f"median, {worst:.2f} s worst host | {ok(worst <= TARGETS['startup_s'])} |")
        rows.append(f"| driver RSS <= {TARGETS['rss_mb']:.0f} MB with {nb['nb_ports']:,} "
                    f"ports in NB | {rss * 1.048576:.0f} MB ({rss:.0f} MiB) worst host, restarted "
                    "or running | "
                    f"{ok(rss * 1.048576 <= TARGETS['rss_mb'])} |")
    return rows


def growth(results: dict) -> list[str]:
    sizes = results["sizes"]
    out = []
    if len(sizes) > 1:
        names, rows = hosts_growth(sizes)
        hr = sizes[-1]["hosts"] / sizes[0]["hosts"]
        out += ["", f"## Growth with hosts ({names[1]} / {names[0]}, {sizes[0]['ports']:,} "
                    f"ports each: {hr:.1f}x the hosts)", "",
                "Per-host quantities are linear when they stay flat (the cluster's total then "
                f"grows {hr:.1f}x); cluster-wide ones when they grow at most {hr:.1f}x "
                f"(ratios up to {LINEAR_SLACK}x that count as linear).", "",
                f"| metric | {names[0]} | {names[1]} | ratio | linear | |",
                "|---|---:|---:|---:|---:|---|"]
        for name, va, vb, ratio, linear in rows:
            digits = 2 if max(abs(va), abs(vb)) < 10 else 0
            out.append(f"| {name} | {_fmt(va, digits)} | {_fmt(vb, digits)} | {ratio:.2f}x | "
                       f"{linear:.1f}x | {verdict(ratio, linear, LINEAR_SLACK)} |")
    out += ["", "## Growth with ports (per added container port: the last fill stage / the "
                "second)", "",
            "Linear growth costs the same per added port at any size; ratios up to "
            f"{MARGINAL_SLACK}x count as linear.", ""]
    for s in sizes:
        rows = ports_growth(s)
        if not rows:
            continue
        pts = fill_points(s)
        out += [f"{s['hosts']} hosts (stages ending at "
                f"{', '.join(str(p['ports']) for p in pts[1:])} ports):", "",
                "| per added port | second stage | last stage | ratio | |",
                "|---|---:|---:|---:|---|"]
        for name, early, late, ratio in rows:
            digits = 2 if max(abs(early), abs(late)) < 10 else 1
            out.append(f"| {name} | {_fmt(early, digits)} | {_fmt(late, digits)} | "
                       f"{_fmt(ratio, 2)}x | {verdict(ratio, 1.0, MARGINAL_SLACK)} |")
        out.append("")
    return out


def northd_recomputes(p: dict) -> int | None:
    """How often ovn-northd's main engine node has run in full so far."""
    return p.get("engine", {}).get("ovn-northd", {}).get("northd", {}).get("recompute")


def checkpoints(results: dict) -> list[str]:
    out = ["## Checkpoints", "",
           "| hosts | container ports | fill (s) | all up after (s) | RequestAddress / "
           "CreateEndpoint / Join median (ms) | driver RSS median (MiB) | OpenFlow flows per "
           "host median | widest flow on h1 (resubmits + outputs) | SB logical flows | northd full "
           "recomputes | NB / SB / northd CPU so far (s) |",
           "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for s in results["sizes"]:
        for i, p in enumerate(s["checkpoints"]):
            calls = " / ".join(_fmt(p["calls_ms"][k], 1) for k in
                               ("RequestAddress", "CreateEndpoint", "Join"))
            label = "probers" if i == 0 else ("+ sample" if i == len(s["checkpoints"]) - 1
                                              else "")
            out.append(f"| {s['hosts']} | {p['ports']} {label} | {p['fill_s']:.1f} | "
                       f"{p['settle_s']:.1f} | {calls} | "
                       f"{mib(median(per_host(p, 'driver', 'rss_kib'))):.1f} | "
                       f"{_fmt(median(list(p['openflow'].values())))} | "
                       f"{_fmt(sum(p.get('widest_flow_outputs', {}).values()))} | "
                       f"{p['logical_flows']:,} | "
                       f"{_fmt(northd_recomputes(p))} | "
                       + " / ".join(f"{p['central'][c]['cpu_s']:.1f}" for c in CENTRAL) + " |")
    return out


def nb_section(results: dict) -> list[str]:
    nb = results.get("nb_scale")
    if not nb:
        return []
    rss = [mib(s["rss_kib"]) for s in nb["startup"].values()]
    running = [mib(s["rss_kib"]) for s in nb["running"]["driver"].values() if s]
    c = nb["central"]
    return [
        "", f"## NB at {nb['nb_ports']:,} logical switch ports ({nb['hosts']} hosts)", "",
        f"{nb['synthetic']:,} synthetic ports (dockovn-shaped: an endpoint of a host that is not "
        f"there, \"MAC IP\" addresses and port security, 1,000 per tagged switch, one transaction "
        f"each) were added next to the {nb['nb_ports_before']:,} real ones in "
        f"{nb['insert_s']:.1f} s; ovn-northd had them in SB {nb['northd_sync_s']:.1f} s later. "
        f"They were removed afterwards ({nb['remove_s']:.1f} s).", "",
        "| | median | max |", "|---|---:|---:|",
        f"| driver start-up to the socket answering (s) | {median(startups(nb, 'socket_s')):.2f} "
        f"| {max(startups(nb, 'socket_s')):.2f} |",
        f"| driver start-up to its NB cache holding the newest port (s) | "
        f"{median(startups(nb, 'synced_s')):.2f} | {max(startups(nb, 'synced_s')):.2f} |",
        f"| driver RSS after a restart (MiB) | {median(rss):.1f} | {max(rss):.1f} |",
        f"| driver RSS, running drivers that took the rows in as they came (MiB) | "
        f"{median(running):.1f} | {max(running):.1f} |",
        "", "NB ovsdb-server " + f"{mib(c['NB ovsdb-server']['rss_kib']):.0f} MiB, SB "
        f"ovsdb-server {mib(c['SB ovsdb-server']['rss_kib']):.0f} MiB, ovn-northd "
        f"{mib(c['ovn-northd']['rss_kib']):.0f} MiB; SB logical flows {nb['logical_flows']:,}; "
        f"OpenFlow flows per host {_fmt(median(list(nb['openflow'].values())))} (median; "
        f"{_fmt(median(list(final(results['sizes'][-1])['openflow'].values())))} before the "
        "synthetic ports: their switches have no port on any host).",
    ] + idl_section(nb)


IDL_VARIANTS = {"all": "every table and column (what the driver monitors today)",
                "networks": "... but switch ports only of the networks h1 uses",
                "host": "... but switch ports only of h1's own containers"}


def idl_section(nb: dict) -> list[str]:
    """The NB cache alone (bench/scale/idl.py), before and after the synthetic ports."""
    if "idl" not in nb:
        return []
    out = ["", "The NB cache alone: a python-ovs IDL (the library under the driver's ovsdbapp) "
               "syncing NB in a process of its own, with and without conditional monitoring "
               "of Logical_Switch_Port (the driver's start-up above adds Python's imports, "
               "the OVS connection and its threads):", "",
           f"| NB cache | {nb['nb_ports_before']:,} NB ports: ports cached / sync (s) / cache "
           f"(MiB) | {nb['nb_ports']:,} NB ports: ports cached / sync (s) / cache (MiB) |",
           "|---|---|---|"]
    for variant, label in IDL_VARIANTS.items():
        cells = []
        for run in (nb.get("idl_before", {}), nb["idl"]):
            r = run.get(variant, {})
            cells.append("-" if "sync_s" not in r else
                         f"{r['ports']:,} / {r['sync_s']:.2f} / "
                         f"{mib(r['rss_kib'] - r['rss_before_kib']):.1f}")
        out.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return out


def explanations(results: dict) -> list[str]:
    flagged = []
    sizes = results["sizes"]
    if len(sizes) > 1:
        _, rows = hosts_growth(sizes)
        flagged += [f"{name} ({ratio:.2f}x for {linear:.1f}x linear, with hosts)"
                    for name, _, _, ratio, linear in rows if ratio > linear * LINEAR_SLACK]
    for s in sizes:
        flagged += [f"{name} at {s['hosts']} hosts ({ratio:.2f}x per port, with ports)"
                    for name, _, _, ratio in ports_growth(s) if ratio > MARGINAL_SLACK]
    out = ["", "## What grows worse than linearly", ""]
    out += [f"- {f}" for f in flagged] or ["- nothing flagged by the tables above"]
    out += [""] + why(results)
    return out
