"""`docker run -d` through the real dockerd: dockovn's network vs Docker's default bridge.

These go through the driver dockerd really uses (/run/docker/plugins/dockovn.sock,
started by `dockovn up`) and Debian's docker client, timed as a user would see
them: the wall time of the `docker run -d` command.

- docker run: pairs, one container on a dockovn network and one on the default
  bridge, alternating which goes first; the ratio is taken pair by pair (so a
  slow moment slows both halves of a pair) and its median reported. Containers
  are removed between pairs, outside the clock, so every pair starts alike.
- docker rm -f: the same pairs' containers, removed in the same alternating order,
  each timed by the docker client's wall time.
- time to the first egress answer: right after `docker run -d` returns, the container
  pings a namespace outside this host (bench/request_path/outside.py), as for
  connectivity below; both networks reach it through this host's NAT.
- time to connectivity: a peer container waits on the network; right after
  `docker run -d` returns, the new container pings the peer every 20 ms (from
  inside its network namespace, via nsenter) until the first answer. ping -D
  stamps the answer with the wall clock, so the result is not inflated by the
  ping process' own exit. The bridge is measured the same way, as a reference.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import docker

from bench.request_path.leftovers import LABEL, Ledger
from bench.request_path.nbrows import RowWrites, watching

IMAGE = "dockovn/busybox"
DOCKER_HOST = "unix:///var/run/docker.sock"
PING_INTERVAL = 0.02   # seconds between echo requests while waiting for the first answer
PING_DEADLINE = 10     # seconds before a container counts as never connected


def docker_cli() -> str:
    """Debian's client: it speaks the 20.10 daemon's API (a newer one refuses some flags)."""
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


@dataclass
class DockerResults:
    network: str = ""
    run_dockovn: list[float] = field(default_factory=list)
    run_bridge: list[float] = field(default_factory=list)
    rm_dockovn: list[float] = field(default_factory=list)
    rm_bridge: list[float] = field(default_factory=list)
    connect_dockovn: list[float] = field(default_factory=list)
    connect_bridge: list[float] = field(default_factory=list)
    egress_dockovn: list[float] = field(default_factory=list)
    egress_bridge: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rows_docker_run: list[RowWrites] = field(default_factory=list)

    @property
    def pair_ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.run_dockovn, self.run_bridge) if b]

    @property
    def rm_ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.rm_dockovn, self.rm_bridge) if b]


class DockerBench:
    def __init__(self, ledger: Ledger, subnet: str, progress):
        self.ledger = ledger
        self.subnet = subnet
        self.progress = progress
        self.cli = docker_cli()
        self.client = docker.DockerClient(base_url=DOCKER_HOST, timeout=120)
        self.net_name = f"dkbench-{os.getpid()}"
        self.results = DockerResults(network=self.net_name)

    def close(self) -> None:
        self.client.close()

    def _run(self, *args: str) -> tuple[float, str]:
        """`docker run -d ...`: (wall seconds, container ID)."""
        cmd = [self.cli, "run", "-d", "--label", f"{LABEL}=1", *args, IMAGE, "sleep", "3600"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
        return elapsed, done.stdout.strip()

    def _rm(self, cid: str) -> float:
        """`docker rm -f ID`: wall seconds."""
        start = time.perf_counter()
        done = subprocess.run([self.cli, "rm", "-f", cid], capture_output=True, text=True,
                              timeout=120)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"docker rm -f {cid[:12]} failed: {done.stderr.strip()}")
        return elapsed

    def _remove(self, *ids: str) -> None:
        for cid in ids:
            try:
                self.client.api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass

    def create_network(self) -> None:
        self.ledger.add_docker_network(self.net_name)
        subprocess.run([self.cli, "network", "create", "-d", "dockovn", "--subnet", self.subnet,
                        self.net_name], check=True, capture_output=True, text=True, timeout=120)

    def remove_network(self) -> None:
        subprocess.run([self.cli, "network", "rm", self.net_name], capture_output=True,
                       timeout=120)

    def run_pairs(self, pairs: int, warmup: int = 1) -> None:
        self.progress(f"docker run: {warmup} warm-up + {pairs} pairs (dockovn, bridge)")
        for i in range(warmup + pairs):
            order = ("dockovn", "bridge") if i % 2 == 0 else ("bridge", "dockovn")
            times: dict[str, float] = {}
            removed: dict[str, float] = {}
            ids: dict[str, str] = {}
            try:
                for kind in order:
                    net = ["--net", self.net_name] if kind == "dockovn" else []
                    times[kind], ids[kind] = self._run(*net)
                for kind in order:
                    removed[kind] = self._rm(ids.pop(kind))
            finally:
                self._remove(*ids.values())
            if i >= warmup:
                self.results.run_dockovn.append(times["dockovn"])
                self.results.run_bridge.append(times["bridge"])
                self.results.rm_dockovn.append(removed["dockovn"])
                self.results.rm_bridge.append(removed["bridge"])

    def _pid(self, cid: str) -> int:
        return self.client.api.inspect_container(cid)["State"]["Pid"]

    def _ip(self, cid: str, network: str) -> str:
        nets = self.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
        return nets[network]["IPAddress"]

    def _first_answer(self, pid: int, peer_ip: str) -> float | None:
        """Wall-clock time of the first echo reply from ``peer_ip``, pinging from the
        network namespace of process ``pid``; None if none within PING_DEADLINE."""
        done = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", "ping", "-D", "-n", "-c", "1",
             "-i", str(PING_INTERVAL), "-w", str(PING_DEADLINE), peer_ip],
            capture_output=True, text=True, timeout=PING_DEADLINE + 10)
        match = re.search(r"^\[(\d+\.\d+)\] \d+ bytes from", done.stdout, re.M)
        return float(match.group(1)) if match else None

    def connectivity(self, trials: int, row_samples: int = 3) -> None:
        self.progress(f"time to connectivity: {trials} containers on each network")
        peers = {}
        try:
            # The peers, one per network; their start is not measured.
            _, peers["dockovn"] = self._run("--net", self.net_name)
            _, peers["bridge"] = self._run()
            peer_ips = {"dockovn": self._ip(peers["dockovn"], self.net_name),
                        "bridge": self._ip(peers["bridge"], "bridge")}
            for i in range(trials):
                for kind in ("dockovn", "bridge"):
                    net = ["--net", self.net_name] if kind == "dockovn" else []
                    measure_rows = kind == "dockovn" and i < row_samples
                    # An NB watcher only while counting (see nbrows.watching).
                    with contextlib.ExitStack() as stack:
                        watcher = stack.enter_context(watching()) if measure_rows else None
                        self._connect_trial(kind, net, peer_ips[kind], watcher)
        finally:
            self._remove(*peers.values())

    def egress(self, trials: int, outside_ip: str) -> None:
        """Each trial, a container on each network: `docker run -d` returning to its
        first ping answered from outside this host."""
        self.progress(f"time to the first egress answer: {trials} containers on each network")
        for _ in range(trials):
            for kind in ("dockovn", "bridge"):
                net = ["--net", self.net_name] if kind == "dockovn" else []
                self._connect_trial(kind, net, outside_ip, None, series="egress",
                                    peer="outside")

    def _connect_trial(self, kind: str, net: list[str], peer_ip: str, watcher,
                       series: str = "connect", peer: str = "the peer") -> None:
        """One container: `docker run` returning to its first ping answered by the peer
        (into ``<series>_<kind>``); with ``watcher``, also the NB rows its start wrote."""
        if watcher is not None:
            watcher.settle()
            watcher.start()
        _, cid = self._run(*net)
        returned = time.time()  # ping -D stamps replies with the same clock
        try:
            answered = self._first_answer(self._pid(cid), peer_ip)
            if answered is None:
                self.results.failures.append(
                    f"{kind}: no answer from {peer} within {PING_DEADLINE}s")
            else:
                getattr(self.results, f"{series}_{kind}").append(answered - returned)
            if watcher is not None:
                # The driver names the port from Docker's events a moment
                # later: give it time before counting.
                time.sleep(1.0)
                nets = self.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
                mine = nets[self.net_name]
                self.results.rows_docker_run.append(
                    watcher.take(mine["NetworkID"], mine["EndpointID"]))
        finally:
            self._remove(cid)
