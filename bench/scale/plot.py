"""The scale benchmark's plot: reachability, start-up and CPU against hosts; driver RSS,
OpenFlow flows and central CPU against ports."""

from __future__ import annotations

from bench.scale.report import (CENTRAL, TARGETS, fill_cpu, host_fill_cpu, mib, point_metrics,
                                reach, startups)
from bench.reporting.stats import median, p95


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    hosts = [s["hosts"] for s in sizes]
    nb = results.get("nb_scale")
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = axes[0][0]
    ax.plot(hosts, [median(reach(s)) * 1000 for s in sizes], marker="o", label="median")
    ax.plot(hosts, [p95(reach(s)) * 1000 for s in sizes], marker="o", label="p95")
    ax.axhline(TARGETS["reach_p95_s"] * 1000, color="red", linestyle="--", label="target (p95)")
    ax.set(xlabel="hosts", ylabel="ms", title="Join -> first echo reply from another host",
           yscale="log")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    ax.plot(hosts, [median(startups(s, "synced_s")) for s in sizes], marker="o",
            label="median host")
    ax.plot(hosts, [max(startups(s, "synced_s")) for s in sizes], marker="o", label="worst host")
    if nb:
        ax.scatter([nb["hosts"]], [max(startups(nb, "synced_s"))], marker="*", s=150,
                   color="purple", zorder=3, label=f"worst, {nb['nb_ports']:,} NB ports")
    ax.axhline(TARGETS["startup_s"], color="red", linestyle="--", label="target")
    ax.set(xlabel="hosts", ylabel="s", title="Driver start-up (exec -> NB cache synced)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[0][2]
    for label in CENTRAL:
        ax.plot(hosts, [fill_cpu(s, label) for s in sizes], marker="o", label=label)
    ax.plot(hosts, [host_fill_cpu(s, "ovn-controller") for s in sizes], marker="o",
            linestyle=":", label="ovn-controller (median host)")
    ax.plot(hosts, [host_fill_cpu(s, "driver") for s in sizes], marker="o", linestyle=":",
            label="driver (median host)")
    ax.set(xlabel="hosts", ylabel="CPU s", title=f"CPU over the fill ({sizes[0]['ports']:,} ports)")
    ax.legend(fontsize=7)

    for ax, key, title in (
            (axes[1][0], "driver RSS (MiB, median host)", "Driver RSS (MiB, median host)"),
            (axes[1][1], "OpenFlow flows per host (median)", "OpenFlow flows per host (median)")):
        for s in sizes:
            pts = s["checkpoints"]
            ax.plot([p["ports"] for p in pts], [point_metrics(p)[key] for p in pts], marker="o",
                    label=f"{s['hosts']} hosts")
        ax.set(xlabel="container ports in NB", title=title)
        ax.legend(fontsize=8)
    if nb:
        rss = max([mib(s["rss_kib"]) for s in nb["startup"].values()] +
                  [mib(s["rss_kib"]) for s in nb["running"]["driver"].values() if s])
        axes[1][0].scatter([nb["nb_ports"]], [rss], marker="*", s=150, color="purple",
                           zorder=3, label=f"worst host, {nb['nb_ports']:,} NB ports")
        axes[1][0].axhline(TARGETS["rss_mb"] / 1.048576, color="red", linestyle="--",
                           label="target")
        axes[1][0].set_xscale("log")
        axes[1][0].legend(fontsize=8)

    ax = axes[1][2]
    for color, s in zip(("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"), sizes):
        pts = s["checkpoints"]
        for label, style in zip(CENTRAL, ("-", "--", ":")):
            ax.plot([p["ports"] for p in pts], [p["central"][label]["cpu_s"] for p in pts],
                    linestyle=style, marker=".", color=color,
                    label=f"{label.split()[0]}, {s['hosts']} hosts")
    ax.set(xlabel="container ports in NB", ylabel="CPU s since start",
           title="Central CPU as ports grow")
    ax.legend(fontsize=6, ncol=2)
    env = results["env"]
    fig.suptitle(f"dockovn scale: {', '.join(map(str, hosts))} simulated hosts", fontsize=11)
    fig.text(0.01, 0.005, env.get("machine", "") + " | " + env.get("versions", ""), fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    fig.savefig(path, dpi=100)
