"""Scale: 2, 5 and 10 simulated hosts, 1,000+ container ports spread over them.

Each size runs on its own multi-host harness (tests/support/multihost.py) without
dockerd: a central (NB, SB, ovn-northd) and N hosts in network namespaces, each host
with its own Open vSwitch (userspace datapath), ovn-controller and dockovn driver.
dockerd's plugin calls are replayed on each driver's socket (bench/scale/replay.py):
one network (dockovn's IPAM) on every host, then containers spread round-robin over the
hosts, each host's in sequence and the hosts in parallel, in stages; after each stage,
once every port is up, a checkpoint records the daemons' CPU seconds and RSS, OpenFlow
flows per host and SB logical flows. Then, per size:

- reachability: ``--sample`` more containers, one at a time, each probed from a
  container on another host (ICMP echo every 5 ms); from the Join reply to the first
  echo reply, sandbox set-up (done after Join, as dockerd does it) included;
- driver start-up: every host's driver stopped and started again, from starting it to
  its socket answering Plugin.Activate and to its NB cache holding the newest port;
- idle CPU of every daemon over ``--idle`` seconds with nothing happening.

At the largest size NB is then topped up to ``--nb-ports`` logical switch ports
(synthetic, dockovn-shaped, tagged, removed afterwards) and every driver's start-up and
RSS is measured again, next to the NB cache alone with and without conditional
monitoring (bench/scale/idl.py). Report and plot: bench/scale/report.py, why.py,
scale_plot.py. Targets are reported, never asserted.
`python -m bench.scale.run [--hosts 2 5 10] [--ports 1000] [--sample 30] [--nb-ports 10000]`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import sys
import time
import traceback
from importlib import metadata

from bench import stack
from bench.reporting.output import RESULTS, save
from bench.scale.measure import (central_stats, driver_startup, host_stats, idl_cache,
                                 logical_flows, nb_socket, openflow_flows, snapshot)
from bench.scale.ovsdb import NB, add_synthetic, container_ports, count, remove_synthetic
from bench.scale.replay import Network, Prober, remove_namespaces
from bench.scale.plot import plot
from bench.scale.report import report
from bench.reporting.stats import median
from tests.support import multihost

SUBNET = "10.230.0.0/16"
REACH_TIMEOUT = 10.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale.run", description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, nargs="+", default=[2, 5, 10],
                   help="host counts, one harness each")
    p.add_argument("--ports", type=int, default=1000,
                   help="container ports per size, probers and samples included")
    p.add_argument("--sample", type=int, default=30, help="containers probed for reachability")
    p.add_argument("--stages", type=int, default=4, help="checkpoints while filling")
    p.add_argument("--nb-ports", type=int, default=10000,
                   help="NB logical switch ports for the start-up/RSS check at the largest "
                        "size (synthetic ones top NB up to this; 0: skip)")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of the idle-CPU window")
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    if min(args.hosts) < 2:
        p.error("--hosts: at least 2 (probes go from one host to another)")
    if args.ports < 2 * max(args.hosts) + args.sample:
        p.error("--ports must be at least twice the largest host count plus --sample")
    return args


def wait_up(cluster, expected: int, timeout: float = 300) -> tuple[float, int]:
    """Seconds until NB has ``expected`` container ports, all up; (seconds, up)."""
    t0 = time.monotonic()
    up = 0
    while time.monotonic() - t0 < timeout:
        total, up = container_ports(nb_socket(cluster))
        if total == expected and up == expected:
            break
        time.sleep(0.5)
    return time.monotonic() - t0, up


def checkpoint(cluster, net: Network, since: int, fill_s: float) -> dict:
    ports = len(net.containers)
    settle_s, up = wait_up(cluster, ports)
    time.sleep(1)
    made = [c for c in net.containers if c.index >= since]
    calls = {k: median([c.timings[k] for c in made]) * 1000 if made else None
             for k in ("RequestAddress", "CreateEndpoint", "Join", "sandbox")}
    return {"ports": ports, "up": up, "fill_s": fill_s, "settle_s": settle_s,
            "calls_ms": calls, **snapshot(cluster)}


def spread(names: list[str], start: int, end: int) -> dict[str, int]:
    """Containers start..end-1 round-robin over the hosts."""
    per = {n: 0 for n in names}
    for i in range(start, end):
        per[names[i % len(names)]] += 1
    return per


def reachability(net: Network, probers: dict[str, Prober], names: list[str],
                 sample: int) -> list[dict]:
    out = []
    for i in range(sample):
        target, source = names[i % len(names)], names[(i + 1) % len(names)]
        prober = probers[source]
        client = net.client(target)
        try:
            c = net.run(client, target, before_join=prober.add)
        finally:
            client.close()
        first = prober.first_reply(c, REACH_TIMEOUT)
        out.append({"target": target, "prober": source,
                    "s": None if first is None else first - c.timings["joined_at"],
                    "after_sandbox_s": None if first is None else first - c.timings["ready_at"],
                    "sandbox_s": c.timings["sandbox"], "join_s": c.timings["Join"]})
        time.sleep(0.1)
    return out


def run_size(n_hosts: int, args, last: bool) -> tuple[dict, dict | None]:
    out: dict = {"hosts": n_hosts, "ports": args.ports, "load_at_start": stack.load_average()}
    nb_result = None
    log(f"{n_hosts} hosts: starting the harness (no dockerd)")
    cluster = multihost.start(n_hosts, dockerd=False)
    out["harness_start_s"] = cluster.timings["start"]
    probers: dict[str, Prober] = {}
    synthetic = False
    try:
        names = [h.name for h in cluster.hosts]
        net = Network(cluster, SUBNET)
        net.create()
        for name in names:  # one prober container per host
            client = net.client(name)
            try:
                probers[name] = Prober(net.run(client, name))
            finally:
                client.close()
        points = [checkpoint(cluster, net, 0, 0.0)]
        fill_to = args.ports - args.sample
        targets = sorted({max(n_hosts + 1, round(fill_to * k / args.stages))
                          for k in range(1, args.stages)} | {fill_to})
        for target in targets:
            since = len(net.containers)
            log(f"{n_hosts} hosts: filling to {target} container ports")
            fill_s = net.fill(spread(names, since, target))
            points.append(checkpoint(cluster, net, since, fill_s))
        log(f"{n_hosts} hosts: reachability of {args.sample} new containers")
        since = len(net.containers)
        out["reachability"] = reachability(net, probers, names, args.sample)
        points.append(checkpoint(cluster, net, since, 0.0))
        out["checkpoints"] = points
        log(f"{n_hosts} hosts: idle CPU over {args.idle:.0f} s")
        before = time.monotonic(), host_stats(cluster), central_stats(cluster)
        time.sleep(args.idle)
        out["idle"] = {"seconds": time.monotonic() - before[0], "hosts_before": before[1],
                       "central_before": before[2], "hosts_after": host_stats(cluster),
                       "central_after": central_stats(cluster)}
        log(f"{n_hosts} hosts: restarting every driver (start-up)")
        out["startup"] = {}
        for host in cluster.hosts:
            ref = next(c for c in reversed(net.containers) if c.host != host.name)
            out["startup"][host.name] = driver_startup(host, net.ids[host.name], ref.endpoint_id)
        if last and args.nb_ports:
            synthetic = True
            nb_result = nb_scale(cluster, net, args.nb_ports)
        out["load_at_end"] = stack.load_average()
        return out, nb_result
    except BaseException:
        log(f"failed; daemon logs kept in {multihost.save_logs()}")
        raise
    finally:
        for p in probers.values():
            p.stop()
        if synthetic:
            try:
                remove_synthetic(nb_socket(cluster))
            except Exception as exc:  # the central goes with the teardown anyway
                log(f"removing the synthetic NB rows: {exc}")
        log(f"{n_hosts} hosts: removing {remove_namespaces()} container namespaces, "
            "tearing the harness down")
        multihost.teardown()


def nb_scale(cluster, net: Network, nb_ports: int) -> dict:
    nb = nb_socket(cluster)
    before = count(nb, NB, "Logical_Switch_Port")
    out: dict = {"hosts": len(cluster.hosts), "nb_ports_before": before,
                 "synthetic": max(0, nb_ports - before)}
    switch = net.ids[cluster.hosts[0].name]  # h1's NetworkID names the switch
    out["idl_before"] = idl_cache(cluster, switch)
    log(f"NB at {nb_ports} ports: adding {out['synthetic']} synthetic ports")
    out["insert_s"], last = add_synthetic(nb, out["synthetic"]) if out["synthetic"] else (0, "")
    t0 = time.monotonic()
    multihost.in_ns(cluster.central_ns, "ovn-nbctl", f"--db={cluster.nb}", "--wait=sb",
                    "--timeout=600", "sync", timeout=660)
    out["northd_sync_s"] = time.monotonic() - t0
    time.sleep(5)  # the running drivers take the new rows in
    out["nb_ports"] = count(nb, NB, "Logical_Switch_Port")
    out["running"] = host_stats(cluster)
    out["central"] = central_stats(cluster)
    out["logical_flows"] = logical_flows(cluster)
    out["openflow"] = {h.name: openflow_flows(h) for h in cluster.hosts}
    out["idl"] = idl_cache(cluster, switch)
    ref = last or net.containers[-1].endpoint_id
    log(f"NB at {out['nb_ports']} ports: restarting every driver")
    out["startup"] = {h.name: driver_startup(h, net.ids[h.name], ref) for h in cluster.hosts}
    t0 = time.monotonic()
    remove_synthetic(nb)
    multihost.in_ns(cluster.central_ns, "ovn-nbctl", f"--db={cluster.nb}", "--wait=sb",
                    "--timeout=600", "sync", timeout=660)
    out["remove_s"] = time.monotonic() - t0
    return out


def describe() -> dict[str, str]:
    """Machine, versions and load (the system's own OVS is not asked: others use it)."""
    import dockovn

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": stack.machine(),
        "versions": f"Open vSwitch {stack._first_line_version(['ovs-vsctl', '--version'])}, "
                    f"OVN {stack._first_line_version(['ovn-nbctl', '--version'])}, "
                    f"Python {platform.python_version()}, python-ovs {dist('ovs')}, "
                    f"ovsdbapp {dist('ovsdbapp')}, dockovn {getattr(dockovn, '__version__', '?')}",
        "datapath": "userspace (netdev) on every simulated host",
        "dockovn checkout": stack._checkout(),
    }


def _raise_on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (namespaces, Open vSwitch, OVN)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    left = remove_namespaces()
    if left:
        log(f"removed {left} container namespaces an interrupted run left")
    results: dict = {"env": describe(), "args": vars(args), "sizes": [], "nb_scale": None}
    load_at_start = stack.load_average()
    t0 = time.monotonic()
    failure: BaseException | None = None
    try:
        for i, n in enumerate(args.hosts):
            size, nb_result = run_size(n, args, last=i == len(args.hosts) - 1)
            results["sizes"].append(size)
            results["nb_scale"] = nb_result or results["nb_scale"]
    except BaseException as exc:  # report what was measured, then fail
        failure = exc
        traceback.print_exc()
    results["runtime_s"] = time.monotonic() - t0
    results["env"]["load average (1, 5, 15 min)"] = (
        f"{load_at_start} at the start, {stack.load_average()} at the end")
    if not results["sizes"]:
        raise failure
    text = report(results)
    if failure is not None:
        text += (f"\n**The run did not finish**: {type(failure).__name__}: {failure}. "
                 "The tables above hold what was measured before that.\n")
    save(args.out, "scale", text, results, plot)
    log(f"done in {results['runtime_s']:.0f} s; results in {args.out}/ (scale.md, scale.json, "
        "scale.png)")
    return 1 if failure is not None else 0


if __name__ == "__main__":
    sys.exit(main())
