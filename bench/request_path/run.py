"""`make bench`: dockovn side by side with the upstream driver and Docker's bridge.

In one run, on this machine and its one OVN central:

1. Driver latency: dockerd's per-container sequence (CreateEndpoint, Join, Leave,
   DeleteEndpoint) replayed over HTTP against the upstream
   ovn-docker-overlay-driver and against dockovn, at 10, 100 and 1,000 ports
   already on the network (bench/request_path/latency.py).
2. `docker run -d` on a dockovn network vs Docker's default bridge, paired, and
   the time from `docker run -d` returning to the first ping a peer answers
   (bench/request_path/docker_runs.py).
3. Footprint: driver RSS at each size; NB rows written per container.
4. For reading the rest: the host's own share of a container, timed without any
   driver (bench/request_path/floor.py) in turn with the drivers' containers at every size; a call
   that does nothing (the protocol's own cost); a py-spy profile of dockovn
   (bench/request_path/profile.py).

Results: a markdown report on stdout and in <out>/results.md, raw samples in
<out>/results.json, the plot in <out>/latency.png. Targets are reported, never
asserted. Everything the run creates is removed at the end, failure or not
(bench/request_path/leftovers.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import signal
import sys
import time
import traceback

from bench import stack
from bench.reporting.output import RESULTS
from bench.request_path.docker_runs import DockerBench, DockerResults
from bench.request_path.outside import Outside
from bench.request_path.drivers import DockovnDriver, UpstreamDriver, new_workdir
from bench.request_path.floor import Floor
from bench.request_path.latency import Replay, run_latency
from bench.request_path.leftovers import Ledger, sweep_dead_runs
from bench.request_path.nbrows import nb_remote
from bench.request_path.report import markdown, plot

UPSTREAM_NOTES = [
    "The upstream driver's start-up also runs `ovs-vsctl set open_vswitch . "
    "external_ids:ovn-bridge=br-int` (already so on this machine).",
    "The upstream driver forks per call (from its source): CreateEndpoint 2 (ovn-nbctl "
    "lsp-add, lsp-set-addresses), Join 6 (ovn-nbctl get, ip link x3, ovs-vsctl add-port, "
    "set), Leave 2 (ip link delete, ovs-vsctl del-port), DeleteEndpoint 1 (ovn-nbctl "
    "lsp-del); each ovn-nbctl first downloads the whole NB. dockovn forks nothing: one "
    "ovsdbapp connection each to NB and local OVS, netlink through pyroute2.",
]


# Subnets no test or demo on this machine uses. The replayed networks never reach
# dockerd, so only the `docker run` network's subnet must not clash with Docker's.
SUBNET_UPSTREAM = ipaddress.ip_network("10.214.0.0/16")
SUBNET_DOCKOVN = ipaddress.ip_network("10.213.0.0/16")
SUBNET_DOCKER = "10.215.0.0/24"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.request_path.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,100,1000",
                   help="ports already on the network, ascending (default: %(default)s)")
    p.add_argument("--reps", type=int, default=30,
                   help="timed containers per driver and size (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed containers first per size")
    p.add_argument("--row-samples", type=int, default=3,
                   help="containers per driver whose NB rows are counted (default: %(default)s)")
    p.add_argument("--docker-pairs", type=int, default=15,
                   help="`docker run -d` pairs, dockovn and bridge (default: %(default)s)")
    p.add_argument("--connect-trials", type=int, default=15,
                   help="containers timed to first ping, per network (default: %(default)s)")
    p.add_argument("--no-docker", action="store_true", help="skip the dockerd measurements")
    p.add_argument("--no-upstream", action="store_true",
                   help="dockovn only (when the upstream driver cannot be installed)")
    p.add_argument("--no-profile", dest="profile", action="store_false",
                   help="skip sampling the dockovn driver with py-spy")
    p.add_argument("--profile-containers", type=int, default=20,
                   help="extra, untimed containers replayed at the largest size while py-spy "
                        "samples the dockovn driver (default: %(default)s)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, a few seconds: the test suite's check that this still runs")
    p.add_argument("--stop-started", action="store_true",
                   help="stop the daemons this run had to start (the test suite's manners)")
    p.add_argument("--out", default=RESULTS, help="results folder (default: bench/results)")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.reps, args.warmup, args.row_samples = "2,6", 3, 1, 1
        args.docker_pairs, args.connect_trials, args.profile_containers = 2, 2, 3
    args.sizes = sorted({int(s) for s in args.sizes.split(",")})
    return args


class Progress:
    def __init__(self):
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {message}", file=sys.stderr, flush=True)


def _raise_on_sigterm(signum, frame):
    # Turn SIGTERM into an exception so every `finally` (the clean-up) runs.
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    progress = Progress()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    if os.geteuid() != 0:
        print("needs root (veths, OVS ports, dockerd)", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)

    earlier = sweep_dead_runs()
    if earlier:
        progress("removed what an earlier, interrupted run left: " + "; ".join(earlier))
    started = stack.ensure_up(progress)
    env = stack.describe()
    load_at_start = stack.load_average()
    ledger = Ledger()
    workdir = new_workdir()
    ledger.add_dir(workdir)
    notes = [
        "Both drivers use the same OVN central (NB from `ovs-vsctl get Open_vSwitch . "
        "external_ids:ovn-nb`) and the same br-int; each Join makes a real veth and OVS port "
        "that ovn-controller binds.",
        "The upstream driver declares global scope and needs a cluster store that today's "
        "Docker no longer has, so dockerd cannot create its networks: its calls (its own "
        "CreateNetwork included) are replayed directly over HTTP, and dockovn's the same way.",
        "Requests are sent as dockerd sends them: `POST /NetworkDriver.<Method>`, "
        "`Accept: application/vnd.docker.plugins.v1.2+json`, no Content-Type, one keep-alive "
        "connection.",
        "Background ports (the network's size) are made with each driver's own CreateEndpoint "
        "and not joined; measured containers run all four calls; the drivers alternate "
        "container by container.",
        "p95 is interpolated between closest ranks (numpy's default).",
    ]
    replays: list[Replay] = []
    drivers = []
    dres: DockerResults | None = None
    profile_text = ""
    floor = Floor(ledger, nb_remote())
    failure: Exception | None = None
    try:
        floor.start()
        dk = DockovnDriver(workdir)
        drivers.append(dk)
        dk.start()
        ledger.add_proc(dk.pid, workdir)
        if not args.no_upstream:
            up = UpstreamDriver(workdir)
            drivers.append(up)
            up.start()
            ledger.add_proc(up.pid, workdir)
            replays.append(Replay(up, ledger, SUBNET_UPSTREAM))
        replays.append(Replay(dk, ledger, SUBNET_DOCKOVN))
        for d in drivers:
            notes += d.notes
        if not args.no_upstream:
            notes += UPSTREAM_NOTES

        run_latency(replays, args.sizes, args.reps, args.warmup, args.row_samples,
                    progress, floor)
        floor.stop()
        if args.profile:
            profile_text = profile_dockovn(replays[-1], args.profile_containers, args.out,
                                           workdir, progress)
        for r in replays:
            r.delete_network()
        for d in drivers:
            d.stop()

        if not args.no_docker:
            bench = DockerBench(ledger, SUBNET_DOCKER, progress)
            dres = bench.results  # partial results are reported if a later step fails
            outside = Outside(ledger)
            try:
                bench.create_network()
                bench.run_pairs(args.docker_pairs, warmup=0 if args.smoke else 1)
                bench.connectivity(args.connect_trials, args.row_samples)
                outside.start()
                bench.egress(args.connect_trials, outside.ip)
            finally:
                outside.stop()
                bench.remove_network()
                bench.close()
    except Exception as exc:  # report what was measured, clean up, then fail
        failure = exc
        traceback.print_exc()
    finally:  # also on Ctrl-C and SIGTERM
        for d in drivers:
            d.stop()
        floor.stop()
        progress("cleaning up (and checking nothing was left behind)")
        leftovers = ledger.sweep()
        if args.stop_started:
            stack.stop(started)

    if failure is not None and not (replays and all(r.samples.get(args.sizes[-1])
                                                    for r in replays)):
        raise failure  # nothing complete to report
    env["load average (1, 5, 15 min)"] = (f"{load_at_start} at the start, "
                                          f"{stack.load_average()} at the end")
    report = markdown(replays, args.sizes, args.reps, dres, env, notes, leftovers,
                      floor.samples)
    if failure is not None:
        report += (f"\n**The run did not finish**: {type(failure).__name__}: {failure}. "
                   "The tables above hold what was measured before that.\n")
    if profile_text:
        report += (f"\n## Where dockovn's request time goes at {args.sizes[-1]} ports "
                   f"(py-spy, {args.profile_containers} extra containers, untimed)\n\n"
                   f"```\n{profile_text}```\n")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(_raw(replays, args, dres, env, notes, leftovers, floor.samples), f, indent=1)
    plot(replays, args.sizes, env, os.path.join(args.out, "latency.png"), floor.samples)
    print(report)
    progress(f"results in {args.out}/ (results.md, results.json, latency.png)")
    if failure is not None:
        return 1
    return 0


def profile_dockovn(replay: Replay, containers: int, out: str, workdir: str, progress) -> str:
    """Sample the dockovn driver with py-spy over extra containers at the largest size,
    after the timed ones, so the sampler cannot slow down a timed call."""
    from bench.request_path.profile import Sampler, summarize

    progress(f"profile: {containers} more dockovn containers under py-spy")
    raw = os.path.join(out, "profile-dockovn.raw")
    try:
        sampler = Sampler(replay.driver.pid, raw, os.path.join(workdir, "py-spy.log"))
    except Exception as exc:  # no py-spy, or ptrace not allowed: say so, do not fail
        return f"profile unavailable: {exc}\n"
    try:
        time.sleep(0.5)  # py-spy attaches
        for _ in range(containers):
            replay.container()
    finally:
        sampler.stop()
    try:
        return summarize(raw, sampler.rate, containers)
    except OSError as exc:
        with open(sampler.log_path, errors="replace") as f:
            return f"profile unavailable: {exc}\n{f.read()[-2000:]}"


def _raw(replays, args, dres, env, notes, leftovers, floor) -> dict:
    return {
        "env": env, "notes": notes, "leftovers": leftovers,
        "host_floor_s": {str(size): steps for size, steps in floor.items()},
        "args": {k: v for k, v in vars(args).items()},
        "latency": {r.name: {
            "samples_s": {str(size): series for size, series in r.samples.items()},
            "rss_kib": {str(size): list(v) for size, v in r.rss_kib.items()},
            "fill_seconds": r.fill_seconds, "empty_seconds": r.empty_seconds,
            "rows_create": [d.describe() for d in r.rows_create],
            "rows_remove": [d.describe() for d in r.rows_remove],
        } for r in replays},
        "docker": None if dres is None else {
            k: v for k, v in dataclasses.asdict(dres).items() if k != "rows_docker_run"
        } | {"rows_docker_run": [d.describe() for d in dres.rows_docker_run]},
    }


if __name__ == "__main__":
    sys.exit(main())
