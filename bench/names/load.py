"""Names under load, measured on the two-host harness (tests/support/multihost.py).

--rate queries/s in total (default 1000) for --seconds (default 30), sent straight to
each host's name server (169.254.53.53:53, UDP; an answer flagged TC is asked again
over TCP, as a resolver does, and counts as one query with its whole time): "one", a
container's name on the other host; "many", an alias of MANY_MEMBERS containers on h2
(too big for UDP: see MANY_TYPE); "unknown", from a source the server does not know,
which must get REFUSED quickly.

Phases. "floor" first (--floor-seconds, default half of --seconds): the steady phase's
generators, sources, rates and queries, sent to a trivial responder on each host
(bench/names/floor.py: 169.254.53.53:5353, answering every query with the reply dockovn's
server gave that source for it, read just before, TC and REFUSED included), so its
figures are what the machine and the harness can do at best, measured in the same run.
"steady" (the first half of --seconds): known sources are containers on both hosts, the
unknown one a container on h1's default bridge. Then h1's dockerd is restarted; its
containers stop with it (no live-restore), and a stopped container's namespace has no
interface left to send from. So from then on the known sources are h2's containers (h2's
server keeps answering h1's names from NB) and the unknown one is h1's host namespace,
bound to its underlay address: "restart" until dockerd and its restart-policy container
are back, "after" the rest (up to half of --seconds from the stop, AFTER_MIN at least).

Each generator is a paced Python process in the source's network namespace (`nsenter
-n`, as tests/support/probes.py; the host's Python: busybox has none), open loop (one
query every 1/rate s whether or not earlier ones were answered, so a stall shows as
latency and lost queries, not as a lower rate), writing one record per query for this
runner to sum up. Goals are reported, never asserted.
`python -m bench.names.load [--rate 1000] [--seconds 30] [--floor-seconds S] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter

import docker as sdk

from bench.names import floor
from bench.reporting.output import RESULTS, save
from bench.reporting.stats import percentile
from bench.stack import load_average, machine
from dockovn.deploy import procs
from tests.support import multihost, wait
from tests.support.probes import pid_of

IMAGE = "dockovn/busybox"
SUBNET, SUBNET6 = "10.217.0.0/24", "fd00:217::/64"
SERVER, PORT = "169.254.53.53", 53  # each host's name server (dockovn.network.names.service)
TIMEOUT = 2.0          # seconds: a query unanswered by then has no answer
MANY_MEMBERS = 25      # as many containers as two cores carry next to the load
# 25 A records (16 bytes each) fit in the 512 bytes of a UDP answer to a query without
# EDNS; 25 AAAA records (28 bytes each, about 720 bytes) do not, so every UDP answer is
# cut with TC and the generator asks again over TCP, as for an alias of 100 containers.
MANY_TYPE = "AAAA"
SHARES = {"one": 0.4, "many": 0.4, "unknown": 0.2}  # of --rate, the same in every phase
KINDS = {"one": "1-member name (other host)",
         "many": f"'many' ({MANY_MEMBERS} members, {MANY_TYPE})",
         "unknown": "unknown source"}
PHASES = ("steady", "restart", "after")  # dockovn's; the floor's rows go before them
AFTER_MIN = 2.0        # seconds of load at least once h1's dockerd is back
PERCENTILES = (50, 90, 99, 99.9, 100)

# One paced generator: argv out server port rate cap source name rdtype. It says "ready"
# once imported (Python's start-up takes a second on a busy machine: not load time),
# stops when its stdin closes (or after cap seconds, should the runner be gone) and
# writes [[sent, latency or null, rcode or why none came, over TCP], ...] to out.
GENERATOR = r"""
import asyncio, json, sys, threading, time
import dns.asyncquery, dns.exception, dns.message, dns.rcode
out, server, port, rate, cap, source, name, rdtype = sys.argv[1:9]
port, rate, cap, source = int(port), float(rate), float(cap), None if source == "-" else source
TIMEOUT = 2.0
stopped = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
records = []
print("ready", flush=True)

async def ask(sent):
    query = dns.message.make_query(name, rdtype)  # no EDNS: 512-byte UDP answers
    try:
        reply, tcp = await asyncio.wait_for(dns.asyncquery.udp_with_fallback(
            query, server, TIMEOUT, port, source), TIMEOUT)  # UDP and TCP together
        records.append([sent, time.monotonic() - sent, dns.rcode.to_text(reply.rcode()), tcp])
    except (asyncio.TimeoutError, dns.exception.Timeout):
        records.append([sent, None, "timeout", False])
    except Exception as exc:  # refused, reset, closed at the server's TCP limit...
        records.append([sent, None, type(exc).__name__, False])

async def main():
    start, pending, i = time.monotonic(), set(), 0
    while not stopped.is_set() and i / rate < cap:
        # the schedule, not the answers, sets the pace; late, it sends at once
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        task = asyncio.create_task(ask(time.monotonic()))
        pending.add(task)
        task.add_done_callback(pending.discard)
        i += 1
    if pending:
        await asyncio.wait(pending)

asyncio.run(main())
with open(out, "w") as f:
    json.dump(records, f)
"""

# One query, for the readiness checks: prints "RCODE COUNT".
ASK = r"""
import sys, dns.message, dns.query, dns.rcode
server, port, name, rdtype, source = sys.argv[1:6]
try:
    reply, _ = dns.query.udp_with_fallback(dns.message.make_query(name, rdtype), server,
                                           timeout=2, port=int(port),
                                           source=None if source == "-" else source)
    print(dns.rcode.to_text(reply.rcode()), sum(len(r) for r in reply.answer))
except Exception as exc:
    print(type(exc).__name__, 0)
"""


def in_container(pid: int) -> list[str]:
    return ["nsenter", "-t", str(pid), "-n"]


def in_host(host: multihost.Host) -> list[str]:
    return ["ip", "netns", "exec", host.ns]


def asks(prefix: list[str], name: str, rdtype: str, source: str = "-") -> tuple[str, int]:
    done = subprocess.run([*prefix, sys.executable, "-c", ASK, SERVER, str(PORT), name, rdtype,
                           source], capture_output=True, text=True, timeout=30)
    rcode, _, count = done.stdout.strip().partition(" ")
    return rcode, int(count or 0)


class Generator:
    """One kind of query from one source at ``rate``/s, until ``stop()``."""

    def __init__(self, work: str, source: str, prefix: list[str], kind: str, name: str,
                 rdtype: str, rate: float, bind: str = "-", port: int = PORT):
        self.kind, self.source = kind, source
        self.out = os.path.join(work, f"{source}-{kind}-{uuid.uuid4().hex[:6]}.json")
        self.err = open(self.out + ".err", "w")
        cap = 3600  # the runner stops it; this only bounds an orphan
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", GENERATOR, self.out, SERVER, str(port), str(rate),
             str(cap), bind, name, rdtype],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)

    def _failed(self, what: str) -> RuntimeError:
        with open(self.err.name) as f:
            return RuntimeError(f"{self.source} {self.kind} generator {what}: {f.read()[-2000:]}")

    def ready(self) -> None:
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.wait(timeout=10)
            raise self._failed("did not start")

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def records(self) -> list[list]:
        self.proc.wait(timeout=TIMEOUT + 30)  # the last queries' answers or timeouts
        self.err.close()
        if self.proc.returncode:
            raise self._failed("failed")
        with open(self.out) as f:
            return json.load(f)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def container(client, net: str | None, name: str, aliases=(), **host_config):
    api = client.api
    made = api.create_container(
        IMAGE, "sleep 3600", name=name,
        host_config=api.create_host_config(network_mode=net or "bridge", **host_config),
        networking_config=api.create_networking_config(
            {net: api.create_endpoint_config(aliases=list(aliases))}) if net else None)
    api.start(made["Id"])
    return client.containers.get(made["Id"])


def summarize(rows: list[tuple], rate: float, phases=PHASES) -> dict:
    """Per phase and kind, from (phase, kind, sent, latency or None, rcode, tcp) rows."""
    summary = {}
    for phase in phases:
        mine = [r for r in rows if r[0] == phase]
        span = (max(r[2] for r in mine) - min(r[2] for r in mine)) if len(mine) > 1 else 0.0
        summary[phase] = {"span_s": span, "target_qps": rate,
                          "qps": len(mine) / span if span else None}
        for kind in KINDS:
            of_kind = [r for r in mine if r[1] == kind]
            latency = [r[3] for r in of_kind if r[3] is not None]
            summary[phase][kind] = {
                "sent": len(of_kind), "answered": len(latency),
                "no_answer": len(of_kind) - len(latency),
                "outcomes": dict(Counter(r[4] for r in of_kind)),
                "tcp": sum(1 for r in of_kind if r[5]),
                "target_qps": rate * SHARES[kind],
                "qps": len(of_kind) / span if span else None,
                "ms": {str(q): percentile(latency, q) * 1000 if latency else None
                       for q in PERCENTILES}}
    return summary


def run(rate: float, seconds: float, floor_seconds: float) -> dict:
    cluster = multihost.start(2)
    work = tempfile.mkdtemp(prefix="names-load-")
    generators: list[Generator] = []
    responders: list[floor.Responder] = []
    try:
        host1, host2 = cluster.host("h1"), cluster.host("h2")
        h1, h2 = host1.docker(), host2.docker()
        ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
            sdk.types.IPAMPool(subnet=SUBNET), sdk.types.IPAMPool(subnet=SUBNET6)])
        net = h1.networks.create(f"bench-load-{uuid.uuid4().hex[:6]}", driver="dockovn",
                                 ipam=ipam, enable_ipv6=True).name
        wait.until(lambda: h2.networks.list(names=[net]), 20, what=f"{net} on h2")
        # h1's named container comes back after the restart, like a user's long-lived one.
        container(h1, net, "load-one-h1", restart_policy={"Name": "always"})
        container(h2, net, "load-one-h2")
        for i in range(MANY_MEMBERS):
            container(h2, net, f"load-many-{i}", aliases=["many"])
        c1 = in_container(pid_of(container(h1, net, "load-client-h1")))
        c2 = in_container(pid_of(container(h2, net, "load-client-h2")))
        outsider = in_container(pid_of(container(h1, None, "load-outsider")))
        for prefix, name, rdtype, bind, want in (
                (c1, "load-one-h2", "A", "-", ("NOERROR", 1)),
                (c1, "many", MANY_TYPE, "-", ("NOERROR", MANY_MEMBERS)),
                (c2, "load-one-h1", "A", "-", ("NOERROR", 1)),
                (c2, "many", MANY_TYPE, "-", ("NOERROR", MANY_MEMBERS)),
                (outsider, "load-one-h2", "A", "-", ("REFUSED", 0)),
                (in_host(host1), "load-one-h2", "A", host1.ip, ("REFUSED", 0))):
            wait.until(lambda: asks(prefix, name, rdtype, bind) == want, 60, step=0.5,
                       what=f"{name} {rdtype} answering {want} ({bind})")

        def stage(specs, port: int = PORT) -> list[Generator]:
            made = [Generator(work, *spec, port=port) for spec in specs]
            generators.extend(made)
            for g in made:
                g.ready()
            return made

        def collect(made: list[Generator]) -> list[tuple]:
            for g in made:
                g.stop()
            return [(g.kind, *r) for g in made for r in g.records()]

        half, load = seconds / 2, load_average()
        specs = [("h1-container", c1, "one", "load-one-h2", "A", rate * SHARES["one"] / 2),
                 ("h1-container", c1, "many", "many", MANY_TYPE, rate * SHARES["many"] / 2),
                 ("h2-container", c2, "one", "load-one-h1", "A", rate * SHARES["one"] / 2),
                 ("h2-container", c2, "many", "many", MANY_TYPE, rate * SHARES["many"] / 2),
                 ("h1-bridge", outsider, "unknown", "load-one-h2", "A", rate * SHARES["unknown"])]

        # The floor: the same generators against each host's trivial responder, which
        # answers with the replies dockovn's server gives these very queries (floor.py).
        for host, prefixes in ((host1, (c1, outsider)), (host2, (c2,))):
            replies = []
            for prefix in prefixes:
                asked = [(s[3], s[4]) for s in specs if s[1] == prefix]
                replies += wait.until(lambda: floor.capture(prefix, SERVER, PORT, asked), 30,
                                      step=0.5, what=f"dockovn's replies to {' '.join(prefix)}")
            responders.append(floor.Responder(in_host(host), replies, work, SERVER))
            responders[-1].ready()
        below = stage(specs, port=floor.PORT)
        time.sleep(floor_seconds)
        floor_rows = [("floor", *r) for r in collect(below)]
        for r in responders:
            r.stop()

        steady = stage(specs)
        time.sleep(half)
        rows = [("steady", *r) for r in collect(steady)]

        later = stage([("h2-container", c2, "one", "load-one-h1", "A", rate * SHARES["one"]),
                       ("h2-container", c2, "many", "many", MANY_TYPE, rate * SHARES["many"]),
                       ("h1-host", in_host(host1), "unknown", "load-one-h2", "A",
                        rate * SHARES["unknown"], host1.ip)])
        t_stop = time.monotonic()
        procs.stop(host1.pidfile("docker"), timeout=30)
        t_down = time.monotonic()
        multihost.start_dockerd(host1.ns, host1.dir, host1.plugins, host1.docker_host,
                                host1.pidfile("docker"))
        t_dockerd = time.monotonic()
        h1 = host1.docker()  # the old client's connections died with dockerd
        wait.until(lambda: h1.containers.get("load-one-h1").status == "running", 60,
                   step=0.2, what="h1's restart-policy container running again")
        t_back = time.monotonic()
        time.sleep(max(0.0, max(t_stop + half, t_back + AFTER_MIN) - time.monotonic()))
        # (the few queries sent while the later generators were starting: steady too)
        rows += [("steady" if r[1] < t_stop else "restart" if r[1] <= t_back else "after", *r)
                 for r in collect(later)]
        return {"rate": rate, "seconds": seconds, "floor_seconds": floor_seconds,
                "floor_port": floor.PORT, "timeout_s": TIMEOUT,
                "many_members": MANY_MEMBERS, "many_type": MANY_TYPE, "shares": SHARES,
                "machine": machine(), "load_average": load,
                "restart_s": {"dockerd_stopped": t_down - t_stop,
                              "dockerd_answering": t_dockerd - t_stop,
                              "containers_back": t_back - t_stop},
                "summary": summarize(rows, rate),
                "floor": summarize(floor_rows, rate, ("floor",))["floor"]}
    finally:
        for g in generators:
            g.kill()
        for r in responders:
            r.stop()
        multihost.teardown()


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _phases(results: dict) -> dict:
    """Every phase's summary, the floor's first."""
    return {"floor": results["floor"], **results["summary"]}


def report(results: dict) -> str:
    restart = results["restart_s"]
    lines = ["## Names under load (two-host harness)", "",
             f"{results['rate']:.0f} queries/s in total for {results['seconds']:.0f} s, "
             f"straight to each host's name server ({SERVER}:{PORT}, UDP; TC followed over "
             f"TCP and counted as one query), {results['timeout_s']:.0f} s timeout. h1's "
             f"dockerd restarted at half time: stopped in {restart['dockerd_stopped']:.1f} s, "
             f"answering at {restart['dockerd_answering']:.1f} s, its restart-policy "
             f"container running at {restart['containers_back']:.1f} s. "
             f"{results['machine']}; load average {results['load_average']} at the start.", "",
             "Sources: steady, containers on h1 and h2 (known) and a container on h1's default "
             "bridge (unknown); restart and after, h2's containers (known) and h1's host "
             "namespace (unknown). During the restart h1's named container is down, so its "
             "name may rightly answer REFUSED.", "",
             f"Floor (measured first, {results['floor_seconds']:.0f} s): the steady phase's "
             f"generators, sources, rates and queries sent to a trivial responder on each host "
             f"({SERVER}:{results['floor_port']}, bench/names/floor.py) that answers every "
             "query with the reply dockovn's server gave it just before (TC and REFUSED "
             "included): what the machine and the harness can do at best.", "",
             "| query | phase | sent | answered | no answer (goal 0) | outcomes | via TCP "
             "| p50 ms | p99 ms | max ms | q/s (target) |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    phases = _phases(results)
    for kind, label in KINDS.items():
        for phase, summary in phases.items():
            s = summary[kind]
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
            qps = "-" if s["qps"] is None else f"{s['qps']:.0f}"
            lines.append(f"| {label} | {phase} | {s['sent']} | {s['answered']} | "
                         f"{s['no_answer']} | {outcomes or '-'} | {s['tcp']} | "
                         f"{_ms(s['ms']['50'])} | {_ms(s['ms']['99'])} | "
                         f"{_ms(s['ms']['100'])} | {qps} ({s['target_qps']:.0f}) |")
    lines.append("")
    for phase, s in phases.items():
        qps = "-" if s["qps"] is None else f"{s['qps']:.0f}"
        lines.append(f"- {phase}: {s['span_s']:.1f} s, {qps} queries/s achieved "
                     f"(target {s['target_qps']:.0f})")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(KINDS), figsize=(13, 4), sharey=True)
    labels = [f"p{q:g}" if q < 100 else "max" for q in PERCENTILES]
    for ax, (kind, title) in zip(axes, KINDS.items()):
        for phase, summary in _phases(results).items():
            ms = summary[kind]["ms"]
            values = [ms[str(q)] for q in PERCENTILES]
            style = {"color": "0.4", "linestyle": "--"} if phase == "floor" else {}
            if all(v is not None for v in values):
                ax.plot(labels, values, marker="o", label=phase, **style)
        ax.set(title=title, xlabel="percentile", yscale="log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        if ax.lines:
            ax.legend()
    axes[0].set_ylabel("ms per query (answered ones)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.names.load",
                                description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=1000, help="queries/s in total")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--floor-seconds", type=float,
                   help="the floor phase, before the rest (default: half of --seconds)")
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    floor_seconds = args.seconds / 2 if args.floor_seconds is None else args.floor_seconds
    if args.rate <= 0 or args.seconds <= 0 or floor_seconds <= 0:
        p.error("--rate, --seconds and --floor-seconds must be positive")
    results = run(args.rate, args.seconds, floor_seconds)
    save(args.out, "names-load", report(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
