"""Network policy, measured on the two-host harness (tests/support/multihost.py):

1. Enforcement: `dockovn policy create` run on host 1 -> a container on host 2 refusing
   a prober on host 1 (and back after `policy delete`).
2. A labelled container started on host 2 under an existing policy: from `docker run -d`
   returning to the allowed client (host 1) connecting, and how long a client the policy
   does not allow could connect meanwhile (the exposure window), for Docker labels
   (learned from events) and for endpoint labels (driver options, applied with the port).
3. ACLs, logical flows and OpenFlow flows on a host as policies and containers grow.

Probers are Python loops in containers' network namespaces (TCP connect, 30 ms timeout,
timestamps on the system's monotonic clock, shared with this process). Targets are
reported, never asserted. `python -m bench.policy.run [--trials N] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import uuid

import docker as sdk

from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median, p95
from tests.support import multihost

IMAGE = "dockovn/busybox"
SUBNET = "10.217.0.0/24"
HTTPD = "mkdir -p /www && echo in > /www/index.html && exec httpd -f -p 80 -h /www"
TIMEOUT = 0.03

PROBER = r"""
import socket, sys, time
ip, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while True:
    t = time.monotonic()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        ok = 1
    except OSError:
        ok = 0
    s.close()
    print(f"{t:.4f} {ok}", flush=True)
    time.sleep(0.005)
"""


class Prober:
    """Connects to ip:80 from a container's namespace in a loop; keeps (time, ok)."""

    def __init__(self, container, ip: str):
        container.reload()
        self.samples: list[tuple[float, int]] = []
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(container.attrs["State"]["Pid"]), "-n", sys.executable,
             "-c", PROBER, ip, "80", str(TIMEOUT)], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            t, ok = line.split()
            self.samples.append((float(t), int(ok)))

    def first(self, ok: int, after: float, run: int = 3) -> float | None:
        """The start of the first ``run`` samples in a row equal to ``ok`` after ``after``."""
        streak = []
        for t, v in list(self.samples):
            if t < after:
                continue
            streak = streak + [t] if v == ok else []
            if len(streak) >= run:
                return streak[0]
        return None

    def wait_for(self, ok: int, after: float, timeout: float = 20) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(ok, after)
            if found is not None:
                return found
            time.sleep(0.02)
        raise RuntimeError(f"prober never saw {'success' if ok else 'refusal'}")

    def successes(self, start: float, end: float) -> list[float]:
        return [t for t, v in list(self.samples) if start <= t <= end and v]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def cli(host, *args: str) -> None:
    done = multihost.in_ns(host.ns, sys.executable, "-m", "dockovn", "policy", *args,
                           "--ovs-db", host.ovs_db, check=False, timeout=60)
    if done.returncode:
        raise RuntimeError(done.stderr)


def enforcement(cluster, net: str, other, db_ip: str, trials: int) -> dict:
    h1 = cluster.host("h1")
    prober = Prober(other, db_ip)
    apply, lift, command = [], [], []
    try:
        prober.wait_for(1, time.monotonic())
        for _ in range(trials):
            t0 = time.monotonic()
            cli(h1, "create", "bench-iso", "--network", net, "--select", "app=db")
            command.append(time.monotonic() - t0)
            apply.append(prober.wait_for(0, t0) - t0)
            t0 = time.monotonic()
            cli(h1, "delete", "bench-iso")
            lift.append(prober.wait_for(1, t0) - t0)
    finally:
        prober.stop()
    return {"create_to_enforced_s": apply, "delete_to_open_s": lift, "create_command_s": command}


def new_containers(cluster, net: str, web, other, trials: int) -> dict:
    h1, h2 = cluster.host("h1"), cluster.host("h2")
    d2 = h2.docker()
    cli(h1, "create", "bench-db", "--network", net, "--select", "app=db", "--from", "app=web",
        "--port", "tcp/80")
    out: dict[str, dict[str, list[float]]] = {}
    try:
        for n, how in enumerate(("nothing (not selected: the anchor)", "docker label",
                                 "endpoint label")):
            reach, exposed = [], []
            for i in range(trials):
                ip = f"10.217.0.{70 + 50 * n + i}"
                allowed, denied = Prober(web, ip), Prober(other, ip)
                try:
                    endpoint = d2.api.create_endpoint_config(
                        ipv4_address=ip,
                        driver_opt={"dockovn.label.app": "db"} if how == "endpoint label" else {})
                    made = d2.api.create_container(
                        IMAGE, ["sh", "-c", HTTPD], labels={"app": "db"} if how == "docker label" else {},
                        host_config=d2.api.create_host_config(network_mode=net),
                        networking_config=d2.api.create_networking_config({net: endpoint}))
                    d2.api.start(made["Id"])
                    started = time.monotonic()
                    reach.append(allowed.wait_for(1, started - 5) - started)
                    time.sleep(1.0)
                    hits = denied.successes(started - 5, time.monotonic())
                    exposed.append((max(hits) - min(hits) + TIMEOUT) if hits else 0.0)
                    d2.api.remove_container(made["Id"], force=True)
                finally:
                    allowed.stop()
                    denied.stop()
            out[how] = {"run_to_allowed_s": reach, "exposed_s": exposed}
    finally:
        cli(h1, "delete", "bench-db")
    return out


def counts(cluster, net: str, policies: int) -> dict:
    h2 = cluster.host("h2")
    acls = multihost.in_ns(cluster.central_ns, "ovn-nbctl", f"--db={cluster.nb}", "--bare",
                           "--columns=_uuid", "list", "ACL").stdout.split()
    lflows = multihost.in_ns(cluster.central_ns, "ovn-sbctl", f"--db={cluster.sb}", "--bare",
                             "--columns=_uuid", "list", "Logical_Flow").stdout.split()
    time.sleep(1)  # ovn-controller catches up
    flows = [line for line in multihost.in_ns(
        h2.ns, "ovs-ofctl", "dump-flows", f"unix:{h2.dir}/br-int.mgmt").stdout.splitlines()
        if "cookie=" in line]
    return {"policies": policies, "acls": len(acls), "logical_flows": len(lflows),
            "openflow_h2": len(flows)}


def growth(cluster, net: str, step_containers: int, max_policies: int) -> list[dict]:
    h1, d2 = cluster.host("h1"), cluster.host("h2").docker()
    rows = []
    made = 0
    for target in sorted({0, max_policies // 4, max_policies}):
        while made < target:
            cli(h1, "create", f"bench-g{made}", "--network", net, "--select", f"app=g{made % 5}",
                "--from", "app=web", "--port", f"tcp/{1000 + made}")
            made += 1
        for extra in (0, step_containers):
            started = [d2.containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                         labels={"app": f"g{i % 5}"}) for i in range(extra)]
            time.sleep(2)
            row = counts(cluster, net, made)
            row["containers_h2"] = len(d2.containers.list())
            rows.append(row)
            for c in started:
                c.remove(force=True)
    for i in range(made):
        cli(h1, "delete", f"bench-g{i}")
    return rows


def run(trials: int, step_containers: int, max_policies: int) -> dict:
    cluster = multihost.start(2)
    try:
        d1, d2 = cluster.host("h1").docker(), cluster.host("h2").docker()
        ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
            sdk.types.IPAMPool(subnet=SUBNET, iprange="10.217.0.0/27")])
        net = d1.networks.create(f"bench-pol-{uuid.uuid4().hex[:6]}", driver="dockovn",
                                 ipam=ipam).name
        deadline = time.monotonic() + 20
        while not d2.networks.list(names=[net]) and time.monotonic() < deadline:
            time.sleep(0.1)
        web = d1.containers.run(IMAGE, "sleep 3600", detach=True, network=net,
                                labels={"app": "web"})
        other = d1.containers.run(IMAGE, "sleep 3600", detach=True, network=net)
        db = d2.containers.run(IMAGE, ["sh", "-c", HTTPD], detach=True, network=net,
                               labels={"app": "db"})
        db.reload()
        db_ip = db.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]
        results = {"trials": trials}
        results["enforcement"] = enforcement(cluster, net, other, db_ip, trials)
        results["new_containers"] = new_containers(cluster, net, web, other, trials)
        results["growth"] = growth(cluster, net, step_containers, max_policies)
        return results
    finally:
        multihost.teardown()


def _ms(samples: list[float]) -> str:
    return f"median {median(samples) * 1000:.0f} ms, p95 {p95(samples) * 1000:.0f} ms, " \
           f"max {max(samples) * 1000:.0f} ms"


def report(results: dict) -> str:
    e = results["enforcement"]
    lines = ["## Network policy (two-host harness)", "",
             f"`dockovn policy create` on host 1 -> host 2's container refusing host 1's prober "
             f"({len(e['create_to_enforced_s'])} runs, the CLI's own start-up included): "
             f"{_ms(e['create_to_enforced_s'])} (the command itself: "
             f"{_ms(e['create_command_s'])})", "",
             f"`dockovn policy delete` -> open again: {_ms(e['delete_to_open_s'])}", "",
             "| a container started on host 2 under a policy, labelled by | `docker run -d` -> "
             "allowed client connects | exposed to a client the policy refuses |",
             "|---|---|---|"]
    for how, r in results["new_containers"].items():
        exposed = r["exposed_s"]
        shown = "(open to all: no policy selects it)" if how.startswith("nothing") else \
            f"{sum(1 for x in exposed if x > 0)} of {len(exposed)} runs; " \
            f"longest {max(exposed) * 1000:.0f} ms"
        lines.append(f"| {how} | {_ms(r['run_to_allowed_s'])} | {shown} |")
    lines += ["", "| policies | containers on host 2 | NB ACLs | SB logical flows | "
                  "OpenFlow flows on host 2 |", "|---|---|---|---|---|"]
    for r in results["growth"]:
        lines.append(f"| {r['policies']} | {r['containers_h2']} | {r['acls']} | "
                     f"{r['logical_flows']} | {r['openflow_h2']} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    series = {"policy create -> enforced": results["enforcement"]["create_to_enforced_s"],
              "policy delete -> open": results["enforcement"]["delete_to_open_s"]}
    for how, r in results["new_containers"].items():
        series[f"docker run ({how}) -> allowed"] = r["run_to_allowed_s"]
    for label, samples in series.items():
        xs = sorted(v * 1000 for v in samples)
        left.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], marker=".", label=label)
    left.set(xlabel="ms", ylabel="fraction of runs", title="Policy latency across hosts")
    left.legend(fontsize=7)
    rows = results["growth"]
    x = range(len(rows))
    for key in ("acls", "logical_flows", "openflow_h2"):
        right.plot(x, [r[key] for r in rows], marker="o", label=key)
    right.set_xticks(list(x), [f"{r['policies']}p/{r['containers_h2']}c" for r in rows],
                     fontsize=7)
    right.set(yscale="log", title="Rows and flows as policies (p) and containers (c) grow")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.policy.run", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--containers", type=int, default=10,
                   help="containers added at each policy count (growth table)")
    p.add_argument("--policies", type=int, default=40,
                   help="most policies in the growth table (also a quarter of it, and none)")
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    results = run(args.trials, args.containers, args.policies)
    save(args.out, "policy", report(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
