"""The failover window of a Raft central, measured on the harness with three central
members and two hosts (tests/support/multihost.py):

kill -9 the NB leader, then on each host try `docker run -d` on a dockovn network
(dockovn's IPAM: every run writes NB) every 0.2 s; the window is the time from the
kill to the first run that succeeds. The member is started again and rejoins before
the next kill. Targets are reported, never asserted.
`python -m bench.failover.run [--kills N] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid

import docker as sdk

from bench.reporting.output import RESULTS, save
from bench.reporting.stats import median
from dockovn.deploy import procs
from tests.support import multihost

IMAGE = "dockovn/busybox"
TARGET_S = 10.0  # seconds: the goal with the default election timer


def nb_leader(cluster):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for m in cluster.members:
            if not procs.running(m.pidfile("ovnnb_db")):
                continue
            out = multihost.in_ns(m.ns, "ovs-appctl", "-t", f"{m.dir}/ovnnb_db.ctl",
                                  "cluster/status", "OVN_Northbound", check=False).stdout
            if "Role: leader" in out:
                return m
        time.sleep(0.2)
    raise RuntimeError("no NB leader")


def first_success(client, net: str, since: float, out: dict, key: str) -> None:
    while time.monotonic() - since < 60:
        try:
            c = client.containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                      name=f"fo-{uuid.uuid4().hex[:8]}", labels={"bench": "1"})
            out[key] = time.monotonic() - since
            c.remove(force=True)
            return
        except sdk.errors.APIError:
            time.sleep(0.2)


def run(kills: int) -> dict:
    cluster = multihost.start(2, members=3)
    samples: dict[str, list[float]] = {"h1": [], "h2": []}
    try:
        clients = {h: cluster.host(h).docker() for h in samples}
        ipam = sdk.types.IPAMConfig(driver="dockovn",
                                    pool_configs=[sdk.types.IPAMPool(subnet="10.217.0.0/16")])
        net = clients["h1"].networks.create(f"bench-fo-{uuid.uuid4().hex[:6]}",
                                            driver="dockovn", ipam=ipam).name
        deadline = time.monotonic() + 20
        while not clients["h2"].networks.list(names=[net]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(kills):
            victim = nb_leader(cluster)
            killed = time.monotonic()
            multihost.sh("kill", "-9", str(procs.read_pid(victim.pidfile("ovnnb_db"))))
            got: dict[str, float] = {}
            threads = [threading.Thread(target=first_success,
                                        args=(clients[h], net, killed, got, h)) for h in samples]
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
            for h in samples:
                samples[h].append(got.get(h, float("nan")))
            multihost.start_member(cluster, victim, join=False)
            time.sleep(3)  # the member is back as a follower before the next kill
        return {"kills": kills, "window_s": samples}
    finally:
        multihost.teardown()


def report(results: dict) -> str:
    lines = ["## Raft central: failover window (3 members, 2 hosts)", "",
             f"kill -9 of the NB leader -> first `docker run -d` that succeeds, per host, over "
             f"{results['kills']} kills (target <= {TARGET_S:.0f} s):", "",
             "| host | median | max | every kill |", "|---|---:|---:|---|"]
    for host, values in results["window_s"].items():
        lines.append(f"| {host} | {median(values):.2f} s | {max(values):.2f} s | "
                     + ", ".join(f"{v:.2f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for host, values in results["window_s"].items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=host)
    ax.axhline(TARGET_S, color="red", linestyle="--", label="target")
    ax.set(xlabel="kill", ylabel="s to the first successful docker run",
           title="NB leader killed: failover window")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.failover.run",
                                description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    results = run(args.kills)
    save(args.out, "failover", report(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
