"""What encrypted tunnels cost, side by side in one run on the harness (two hosts, the
userspace datapath, tests/support/multihost.py):

- floor: TCP between the two hosts themselves over the underlay (what every tunnel
  rides on);
- plain: container to container across hosts, Geneve over the underlay (the anchor);
- encrypted: the same inside WireGuard (`central start --encrypt-tunnels`).

For each: TCP throughput (``--megabytes`` sent through busybox nc, ``--rounds`` times),
round-trip latency (ping), and the CPU time of the processes that carry the packets
(ovs-vswitchd, wireguard-go, both hosts) per Gbit sent. Reported, never asserted.
`python -m bench.encryption.run [--megabytes N] [--rounds N] [--pings N] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid

import docker as sdk

from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median, p95, ratio
from dockovn.deploy import procs
from tests.support import multihost

IMAGE = "dockovn/busybox"
PORT = 5001
KINDS = ("floor", "plain", "encrypted")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(cluster) -> float:
    """User + system CPU of the packet movers on every host, so far."""
    total = 0.0
    for host in cluster.hosts:
        for daemon in ("ovs-vswitchd", "wireguard-go-0", "wireguard-go-1"):
            pid = procs.read_pid(host.pidfile(daemon))
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            except (OSError, TypeError, IndexError, ValueError):
                pass
    return total


def transfer(send, megabytes: int) -> float:
    """Seconds to push ``megabytes`` through ``send`` (a callable given the dd pipe that
    answers how many bytes arrived: all of them, or the round does not count)."""
    t0 = time.monotonic()
    got = send(f"dd if=/dev/zero bs=65536 count={megabytes * 16} 2>/dev/null")
    seconds = time.monotonic() - t0
    if got != megabytes * 1024 * 1024:
        raise RuntimeError(f"{got} bytes arrived of {megabytes} MB")
    return seconds


def _received(read) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = read().strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.2)
    return 0


def rtts(ping_output: str) -> list[float]:
    return [float(v) for v in re.findall(r"time=([0-9.]+) ms", ping_output)]


def measure_containers(cluster, megabytes: int, rounds: int, pings: int) -> dict:
    h1, h2 = (cluster.host(n).docker() for n in ("h1", "h2"))
    ipam = sdk.types.IPAMConfig(driver="dockovn",
                                pool_configs=[sdk.types.IPAMPool(subnet="10.95.0.0/24")])
    net = h1.networks.create(f"bench-{uuid.uuid4().hex[:6]}", driver="dockovn", ipam=ipam)
    made = []
    try:
        deadline = time.monotonic() + 20
        while not h2.networks.list(names=[net.name]) and time.monotonic() < deadline:
            time.sleep(0.2)
        server = h2.containers.run(IMAGE, "sleep 3600", detach=True, network=net.name)
        client = h1.containers.run(IMAGE, "sleep 3600", detach=True, network=net.name)
        made += [server, client]
        server.reload()
        address = server.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        client.exec_run(["ping", "-c", "3", "-W", "2", address])  # tunnels and neighbours
        out = client.exec_run(["ping", "-c", str(pings), "-i", "0.05", address]).output.decode()

        def send(source: str) -> int:
            # busybox nc ends the connection when its stdin ends: a sleep keeps it open
            server.exec_run(["sh", "-c", f"rm -f /tmp/n; sleep 600 | nc -l -p {PORT} | wc -c "
                                         "> /tmp/n"], detach=True)
            time.sleep(0.3)
            client.exec_run(["sh", "-c", f"{source} | nc {address} {PORT}"])
            return _received(lambda: server.exec_run(["cat", "/tmp/n"]).output.decode())

        return _rounds(cluster, send, megabytes, rounds, rtts(out))
    finally:
        for c in made:
            c.remove(force=True)
        net.remove()


def measure_hosts(cluster, megabytes: int, rounds: int, pings: int) -> dict:
    h1, h2 = cluster.host("h1"), cluster.host("h2")
    out = multihost.in_ns(h1.ns, "ping", "-c", str(pings), "-i", "0.05", h2.ip).stdout

    count = os.path.join(h2.dir, "bench-bytes")

    def send(source: str) -> int:
        if os.path.exists(count):
            os.unlink(count)
        # busybox nc ends the connection when its stdin ends: a sleep keeps it open
        server = subprocess.Popen(["ip", "netns", "exec", h2.ns, "sh", "-c",
                                   f"sleep 600 | busybox nc -l -p {PORT} | wc -c > {count}"],
                                  start_new_session=True)
        time.sleep(0.3)
        try:
            multihost.in_ns(h1.ns, "sh", "-c", f"{source} | busybox nc {h2.ip} {PORT}",
                            check=False, timeout=300)
            return _received(lambda: open(count).read() if os.path.exists(count) else "")
        finally:
            os.killpg(server.pid, 9)

    return _rounds(cluster, send, megabytes, rounds, rtts(out))


def _rounds(cluster, send, megabytes: int, rounds: int, rtt: list[float]) -> dict:
    seconds, cpu = [], []
    for _ in range(rounds):
        before = cpu_seconds(cluster)
        seconds.append(transfer(send, megabytes))
        cpu.append(cpu_seconds(cluster) - before)
    gbits = megabytes * 8 / 1000
    return {"mbit_s": [megabytes * 8 / s for s in seconds],
            "cpu_s_per_gbit": [c / gbits for c in cpu], "rtt_ms": rtt}


def run(megabytes: int, rounds: int, pings: int) -> dict:
    results = {"megabytes": megabytes, "rounds": rounds, "kinds": {}}
    for encrypted in (False, True):
        cluster = multihost.start(2, encrypted=encrypted)
        try:
            if not encrypted:
                results["kinds"]["floor"] = measure_hosts(cluster, megabytes, rounds, pings)
            kind = "encrypted" if encrypted else "plain"
            results["kinds"][kind] = measure_containers(cluster, megabytes, rounds, pings)
        finally:
            multihost.teardown()
    return results


def report(results: dict) -> str:
    k = results["kinds"]
    lines = ["## Encrypted tunnels: what WireGuard costs (2 hosts, userspace datapath)", "",
             f"TCP: {results['megabytes']} MB through busybox nc, {results['rounds']} rounds; "
             "latency: ping RTT; CPU: ovs-vswitchd + wireguard-go on both hosts, per Gbit sent.",
             "", "| path | TCP median | TCP p95-low | RTT median | RTT p95 | CPU s per Gbit |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        if kind not in k:
            continue
        r = k[kind]
        lines.append(f"| {kind} | {median(r['mbit_s']):.0f} Mbit/s | "
                     f"{min(r['mbit_s']):.0f} Mbit/s | {median(r['rtt_ms']):.3f} ms | "
                     f"{p95(r['rtt_ms']):.3f} ms | {median(r['cpu_s_per_gbit']):.2f} |")
    if "plain" in k and "encrypted" in k:
        lines += ["", f"encrypted / plain: throughput "
                  f"{ratio(median(k['encrypted']['mbit_s']), median(k['plain']['mbit_s'])):.2f}x, "
                  f"RTT {ratio(median(k['encrypted']['rtt_ms']), median(k['plain']['rtt_ms'])):.2f}x, "
                  f"CPU per Gbit "
                  f"{ratio(median(k['encrypted']['cpu_s_per_gbit']), median(k['plain']['cpu_s_per_gbit'])):.2f}x"]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in KINDS if k in results["kinds"]]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for ax, key, label in zip(axes, ("mbit_s", "rtt_ms", "cpu_s_per_gbit"),
                              ("TCP Mbit/s", "RTT ms", "CPU s per Gbit")):
        ax.bar(kinds, [median(results["kinds"][k][key]) for k in kinds],
               color=["grey", "tab:blue", "tab:orange"][:len(kinds)])
        ax.set_title(label)
    fig.suptitle("Encrypted tunnels (median)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.encryption.run",
                                description=__doc__.split("\n")[0])
    p.add_argument("--megabytes", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pings", type=int, default=100)
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    results = run(args.megabytes, args.rounds, args.pings)
    save(args.out, "encryption", report(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
