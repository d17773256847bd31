"""Names across hosts, measured on the two-host harness (tests/support/multihost.py):

1. Freshness: a container on host 1 asks for a name in a loop; the container of
   that name is started on host 2; the time from `docker run -d` returning on host 2
   to the name first answering on host 1 (negative: it answered before run returned).
2. Query latency, from inside a container (busybox nslookup through Docker's
   embedded DNS, A and AAAA): a name on another host (dockovn's name server), a name
   on the same host (Docker's own answer) and an external name (the harness's
   upstream), side by side.

Times inside containers come from /proc/uptime (the host's boot clock, 10 ms
steps; busybox's date has no sub-second format). Targets are reported, never
asserted. `python -m bench.names.run [--trials N] [--queries N] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid

import docker as sdk

from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median, p95
from tests.support import multihost

IMAGE = "dockovn/busybox"
SUBNET = "10.216.0.0/24"
FRESHNESS_TARGET = 1.0  # p95, seconds: the goal for a name to resolve on another host


def boot_clock() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def in_container(c, script: str) -> str:
    code, out = c.exec_run(["sh", "-c", script])
    text = out.decode(errors="replace").strip()
    if code != 0:
        raise RuntimeError(f"{script!r} failed ({code}): {text}")
    return text


def freshness(h2, client, net: str, trials: int) -> list[float]:
    samples = []
    for i in range(trials):
        name = f"fresh-{i}-{uuid.uuid4().hex[:6]}"
        seen: dict[str, str] = {}
        waiter = threading.Thread(target=lambda: seen.update(at=in_container(
            client, f"until nslookup {name} >/dev/null 2>&1; do :; done; cut -d' ' -f1 "
                    "/proc/uptime")))
        waiter.start()
        time.sleep(0.3)  # the loop is asking before the container exists
        c = h2.containers.run(IMAGE, "sleep 600", detach=True, network=net, name=name)
        returned = boot_clock()
        waiter.join(30)
        try:
            samples.append(float(seen["at"]) - returned)
        finally:
            c.remove(force=True)
    return samples


def per_query(client, name: str, queries: int) -> float:
    """Seconds per `nslookup NAME` (A + AAAA), averaged over ``queries`` in a row."""
    out = in_container(client, f"s=$(cut -d' ' -f1 /proc/uptime); n=0; "
                               f"while [ $n -lt {queries} ]; do nslookup {name} >/dev/null "
                               f"2>&1; n=$((n+1)); done; e=$(cut -d' ' -f1 /proc/uptime); "
                               f"echo $s $e")
    start, end = (float(v) for v in out.split())
    return (end - start) / queries


def run(trials: int, queries: int) -> dict:
    cluster = multihost.start(2)
    try:
        h1 = cluster.host("h1").docker()
        h2 = cluster.host("h2").docker()
        ipam = sdk.types.IPAMConfig(driver="dockovn",
                                    pool_configs=[sdk.types.IPAMPool(subnet=SUBNET)])
        net = h1.networks.create(f"bench-names-{uuid.uuid4().hex[:6]}", driver="dockovn",
                                 ipam=ipam).name
        deadline = time.monotonic() + 20
        while not h2.networks.list(names=[net]) and time.monotonic() < deadline:
            time.sleep(0.1)
        client = h1.containers.run(IMAGE, "sleep 3600", detach=True, network=net,
                                   name="bench-client")
        local = h1.containers.run(IMAGE, "sleep 3600", detach=True, network=net,
                                  name="bench-local")
        remote = h2.containers.run(IMAGE, "sleep 3600", detach=True, network=net,
                                   name="bench-remote")
        in_container(client, "until nslookup bench-remote >/dev/null 2>&1; do :; done")
        fresh = freshness(h2, client, net, trials)
        latency = {label: [per_query(client, name, queries) for _ in range(3)]
                   for label, name in (("other host (dockovn)", remote.name),
                                       ("same host (Docker)", local.name),
                                       ("external (upstream)", "outside.example.test"))}
        return {"freshness_s": fresh, "query_s": latency, "trials": trials, "queries": queries}
    finally:
        multihost.teardown()


def report(results: dict) -> str:
    fresh = results["freshness_s"]
    lines = ["## Names across hosts (two-host harness)", "",
             f"`docker run -d` on host 2 -> the name answering on host 1 "
             f"({len(fresh)} containers): median {median(fresh) * 1000:.0f} ms, "
             f"p95 {p95(fresh) * 1000:.0f} ms, max {max(fresh) * 1000:.0f} ms "
             f"(target p95 <= {FRESHNESS_TARGET * 1000:.0f} ms: "
             f"{'met' if p95(fresh) <= FRESHNESS_TARGET else 'NOT met'})", "",
             "| busybox `nslookup NAME` (A + AAAA) from a container | per query (median of 3 x "
             f"{results['queries']}) |", "|---|---|"]
    for label, samples in results["query_s"].items():
        lines.append(f"| {label} | {median(samples) * 1000:.1f} ms |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    fresh = sorted(v * 1000 for v in results["freshness_s"])
    left.plot(fresh, [(i + 1) / len(fresh) for i in range(len(fresh))], marker=".")
    left.axvline(FRESHNESS_TARGET * 1000, color="red", linestyle="--", label="target (p95)")
    left.set(xlabel="ms from `docker run -d` (host 2) to the name answering (host 1)",
             ylabel="fraction of containers", title="Freshness")
    left.legend()
    labels = list(results["query_s"])
    right.bar(range(len(labels)), [median(results["query_s"][k]) * 1000 for k in labels])
    right.set_xticks(range(len(labels)), [k.replace(" (", "\n(") for k in labels])
    right.set(ylabel="ms per nslookup (A + AAAA)", title="Query latency from a container")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.names.run", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    results = run(args.trials, args.queries)
    save(args.out, "names", report(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
