"""Does watching the cluster slow `docker run` down? One driver, one run, three phases
taking turns, block by block (the order rotates each round):

- quiet: nobody reads the metrics, `dockovn ui` is stopped (SIGSTOP);
- scraped: the metrics are scraped every ``--scrape-interval`` seconds (Prometheus
  scrapes every 15 s by default; this is harsher), the page still stopped;
- watched: scraped as well, and `dockovn ui` runs (its defaults) with a page
  connected to its live updates (it reads the cluster every second, the members' roles
  every 5 s, doctor every 30 s).

Each block replays ``--block`` containers' four driver calls (CreateEndpoint, Join, Leave,
DeleteEndpoint) as dockerd sends them (bench/request_path). The counters' own cost on
the request path, the same in both phases, is timed apart: a request's increment and
observation, repeated. `python -m bench.observability.run [--blocks N] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
import timeit
import urllib.request

from bench import stack
from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median, p95, ratio
from bench.request_path.drivers import DockovnDriver, new_workdir
from bench.request_path.latency import CALLS, CONTAINER, START, Replay
from bench.request_path.leftovers import Ledger, sweep_dead_runs
from dockovn import metrics

SUBNET = ipaddress.ip_network("10.219.0.0/16")
METRICS_PORT, UI_PORT = 19476, 18090  # not the defaults: the machine's own may use those
PHASES = ("quiet", "scraped", "watched")
SETTLE = 2.0  # seconds between a phase's start and its first timed call


class Watchers:
    """The scraper and `dockovn ui` with a page connected; on or off by phase."""

    def __init__(self, workdir: str, scrape_interval: float):
        self.scrape_interval = scrape_interval
        self.on = threading.Event()
        self.stopping = threading.Event()
        self.scrapes: list[float] = []
        self.events = 0
        log = open(os.path.join(workdir, "ui.log"), "ab")
        self.ui = subprocess.Popen([sys.executable, "-m", "dockovn", "ui", "--address",
                                    f"127.0.0.1:{UI_PORT}"],
                                   stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{UI_PORT}/state"):
            if time.monotonic() > deadline or self.ui.poll() is not None:
                raise RuntimeError(f"dockovn ui did not start (see {workdir}/ui.log)")
            time.sleep(0.2)
        threading.Thread(target=self._scrape, daemon=True).start()
        threading.Thread(target=self._page, daemon=True).start()

    def phase(self, name: str) -> None:
        self.ui.send_signal(signal.SIGCONT if name == "watched" else signal.SIGSTOP)
        if name == "quiet":
            self.on.clear()
        else:
            self.on.set()
        # Let the change take hold before the block's first call: a page woken from
        # SIGSTOP first catches up with the database updates it slept through (a burst
        # a page that stays open never has).
        time.sleep(SETTLE)

    def _scrape(self) -> None:
        while not self.stopping.is_set():
            self.on.wait(1)
            if self.on.is_set():
                start = time.perf_counter()
                if _answers(f"http://127.0.0.1:{METRICS_PORT}/metrics"):
                    self.scrapes.append(time.perf_counter() - start)
                self.stopping.wait(self.scrape_interval)

    def _page(self) -> None:
        """A browser's EventSource, reading every update."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{UI_PORT}/events") as stream:
                for line in stream:
                    if self.stopping.is_set():
                        return
                    if line.startswith(b"data:"):
                        self.events += 1
        except OSError:
            pass

    def stop(self) -> None:
        self.stopping.set()
        self.ui.send_signal(signal.SIGCONT)
        self.ui.terminate()
        try:
            self.ui.wait(10)
        except subprocess.TimeoutExpired:
            self.ui.kill()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
            return r.status == 200
    except OSError:
        return False


def counter_cost(repeats: int = 200_000) -> float:
    """Seconds a plugin request spends in the metrics (a count and a histogram)."""
    count = metrics.PLUGIN_REQUESTS.labels("Join", "ok")
    histogram = metrics.PLUGIN_SECONDS.labels("Join")

    def one():
        count.inc()
        histogram.observe(0.004)
    return timeit.timeit(one, number=repeats) / repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability.run",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10, help="blocks per phase")
    parser.add_argument("--block", type=int, default=10, help="containers per block")
    parser.add_argument("--scrape-interval", type=float, default=1.0)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--stop-started", action="store_true",
                        help="stop the daemons this run had to start")
    args = parser.parse_args(argv)
    progress = lambda m: print(f"[bench-observability] {m}", file=sys.stderr, flush=True)  # noqa: E731
    sweep_dead_runs()
    started = stack.ensure_up(progress)
    env = stack.describe()
    ledger, workdir = Ledger(), new_workdir()
    ledger.add_dir(workdir)
    driver = DockovnDriver(workdir, ("--metrics-address", f"127.0.0.1:{METRICS_PORT}"))
    samples = {phase: {s: [] for s in (*CALLS, START, CONTAINER)} for phase in PHASES}
    watchers = None
    try:
        driver.start()
        ledger.add_proc(driver.pid, workdir)
        replay = Replay(driver, ledger, SUBNET)
        replay.create_network()
        # One port that stays: a running driver's gc takes an empty network Docker does
        # not know (this one is replayed) for a leftover once it is a minute old.
        replay.fill_to(1)
        watchers = Watchers(workdir, args.scrape_interval)
        for _ in range(args.block):  # warm-up, untimed
            replay.container()
        order = [PHASES[(r + k) % len(PHASES)] for r in range(args.blocks)
                 for k in range(len(PHASES))]  # each phase first, middle and last in turn
        for i, phase in enumerate(order):
            progress(f"block {i + 1}/{len(order)}: {phase}")
            watchers.phase(phase)
            for _ in range(args.block):
                for name, seconds in replay.container().items():
                    if name in samples[phase]:
                        samples[phase][name].append(seconds)
        watchers.phase("watched")
        replay.delete_network()
        cost = counter_cost()
    finally:
        if watchers is not None:
            watchers.stop()
        driver.stop()
        leftovers = ledger.sweep()
        if args.stop_started:
            stack.stop(started)
    results = {"env": env, "args": vars(args), "samples_s": samples,
               "scrape_s": watchers.scrapes, "page_updates": watchers.events,
               "counter_cost_s": cost, "leftovers": leftovers}
    save(args.out, "observability", report(results), results, plot)
    return 0


def report(r: dict) -> str:
    s, a = r["samples_s"], r["args"]
    lines = [
        "# What watching the cluster costs the request path", "",
        f"- {r['env'].get('machine', '')}; {r['env'].get('versions', '')}",
        f"- one dockovn driver, {a['blocks']} blocks of {a['block']} containers per phase, "
        "the order rotating each round; each container: CreateEndpoint, Join, Leave, DeleteEndpoint "
        "replayed as dockerd sends them",
        f"- scraped: metrics scraped every {a['scrape_interval']:g} s ({len(r['scrape_s'])} "
        f"scrapes, median {median(r['scrape_s']) * 1000:.1f} ms each); watched: that and "
        f"`dockovn ui` (its defaults) with a page connected ({r['page_updates']} updates "
        "pushed); quiet: neither",
        f"- the counters' own cost per request (both phases): "
        f"{r['counter_cost_s'] * 1e6:.2f} µs", "",
        "| call | quiet median (ms) | p95 | scraped median | p95 | watched median | p95 | "
        "scraped / quiet | watched / quiet |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in (*CALLS, START, CONTAINER):
        q, sc, w = s["quiet"][name], s["scraped"][name], s["watched"][name]
        lines.append(f"| {name} | {median(q) * 1000:.2f} | {p95(q) * 1000:.2f} | "
                     f"{median(sc) * 1000:.2f} | {p95(sc) * 1000:.2f} | "
                     f"{median(w) * 1000:.2f} | {p95(w) * 1000:.2f} | "
                     f"{ratio(median(sc), median(q)):.2f}x | {ratio(median(w), median(q)):.2f}x |")
    if r["leftovers"]:
        lines += ["", f"Left behind and removed by the sweep: {r['leftovers']}"]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for phase in PHASES:
        values = sorted(v * 1000 for v in r["samples_s"][phase][CONTAINER])
        ax.plot(values, [i / len(values) for i in range(1, len(values) + 1)], label=phase)
    ax.set_xlabel("one container's four driver calls (ms)")
    ax.set_ylabel("fraction of containers")
    ax.set_title("Request path: quiet, metrics scraped, and scraped with the ui live")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
