"""Churn: the requests users make, from one host, in a loop, until told to stop.

Worker threads per host (one for Docker's requests, one for the CLI's) run a fixed
rotation of operations, each followed by its undo: `docker run`/`rm` (labelled), `docker network create`/`rm` with and without
--subnet (driver and IPAM dockovn), `docker run --ip`, `docker network
connect`/`disconnect`, `dockovn policy create`/`delete` (selecting by label) and
`dockovn service create`/`add`/`remove`/`delete`. Docker is driven through the docker
SDK against that host's dockerd, dockovn through its CLI in that host's namespace
(which finds NB, certificate and all, from the host's set-up, as a user's would).

Every request is logged as an Op: what, where, when, and the error text it answered
(None when it worked). A fault test reads the log: which requests failed, when, and
whether what they said explains the failure.

What churn makes, it removes: an undo that fails is kept, and retried before each
later operation and by ``finish``; operations that need what it holds (the hub's
connection, the service VIP) wait until it is done. Except every KEEP_EVERY-th
container of `docker run`: it outlives churn, so the checks after the fault see
containers made during it (``sweep`` removes them after the checks). Names are unique and the fixed
addresses (--ip, the VIP) rotate or differ per host, so the two hosts never refuse
each other's requests: any failure is the fault's doing, or a bug.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import docker as sdk
import requests

from tests.multihost.test_multihost import IMAGE
from tests.support import multihost

LABEL = "dockovn-faults"   # on every container churn makes (sweep finds them)
STAGE_LABEL = "dockovn-faults-stage"  # on the long-lived containers the fixture makes
KEEP_EVERY = 3             # every third `docker run` is kept until the checks (see Worker)
NET_PREFIX = "fchurn-"     # churn's networks
POLICY_PREFIX = "fc-"      # churn's policies
SERVICE_PREFIX = "fs-"     # churn's services
DOCKER_TIMEOUT = 60        # a Docker request with no reply by then hung: reported as such
# Likewise a dockovn command: it gives NB 5 s to connect and each write its timeout, so
# one still running after this hangs. It is killed with SIGABRT, and Python's
# faulthandler prints where it was: the error text says so.
CLI_TIMEOUT = 20
RUN_IP_SLOTS = 20          # --ip addresses each host rotates through


@dataclass(frozen=True)
class Op:
    kind: str               # run, rm, net-create, net-create-auto, net-rm, run-ip, ...
    host: str
    start: float            # time.monotonic()
    end: float
    error: str | None       # what the request answered, None when it worked


@dataclass(frozen=True)
class Stage:
    """The long-lived objects churn works around (made by the test module's fixture)."""
    net: str                # a dockovn network on both hosts: churn's containers join it
    subnet: str             # its subnet
    side_net: str           # the hubs are connected to it and disconnected again
    hubs: dict[str, str]    # host -> a long-lived container on ``net`` (connect, service add)


class Hung(Exception):
    """The harness gave up waiting: the request neither worked nor failed in time."""


@dataclass
class _Undo:
    kind: str
    fn: Callable[[], object]
    resource: str           # undos of one resource run in order; busy while one waits


# Operation numbers go on across the module's tests: names, --ip addresses and subnets
# are not reused soon after a test that may have leaked them (until gc returned them).
_numbers: dict[str, itertools.count] = defaultdict(itertools.count)


def _text(exc: BaseException) -> str:
    if isinstance(exc, (requests.exceptions.ReadTimeout, subprocess.TimeoutExpired)):
        exc = Hung(f"hung: no reply within the harness's limit ({type(exc).__name__})")
    text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def _where(stderr: str) -> str:
    """The main thread's innermost frames in a faulthandler dump."""
    lines = stderr.split("Current thread", 1)[-1].splitlines()[1:]
    return " <- ".join(line.strip() for line in lines[:6] if line.strip().startswith("File"))


LANES = ("docker", "cli")


class Worker(threading.Thread):
    """One host's requests of one lane: Docker's (through dockerd and the driver) or the
    CLI's (straight to NB). Two lanes, so that slow CLI requests during an outage do not
    starve Docker's, and the other way round: both kinds meet every fault."""

    def __init__(self, cluster: multihost.Cluster, host: str, lane: str, stage: Stage,
                 deadline: float):
        super().__init__(name=f"churn-{host}-{lane}", daemon=True)
        self.lane = lane
        self.host = cluster.host(host)
        self.stage = stage
        self.deadline = deadline          # monotonic: the worker stops by itself then
        self.ops: list[Op] = []
        self.removed: list[str] = []      # containers removed: their names must not resolve
        # Containers made during the fault that outlive it: the checks find them named,
        # labelled, resolvable and in their policies (sweep removes them afterwards).
        self.kept: list[str] = []
        self._stopping = threading.Event()
        self._pending: list[_Undo] = []
        self._client = self.host.docker()
        self._client.api.timeout = DOCKER_TIMEOUT
        subnet = ipaddress.ip_network(stage.subnet)
        self._subnet = subnet
        i = self.host.index
        self._ip_base = 100 + RUN_IP_SLOTS * (i - 1)   # h1: .100-.119, h2: .120-.139
        self._vip = str(subnet.network_address + 240 + i)
        self._probe_ip = str(subnet.network_address + 250 + i)

    # -- driving ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    def _going(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() < self.deadline

    def run(self) -> None:
        if self.lane == "docker":
            steps = (self._run_rm, self._network_with_subnet, self._run_ip, self._connect,
                     self._network_auto)
        else:
            steps = (self._policy, self._service)
        for step in itertools.cycle(steps):
            if not self._going():
                return
            self._retry_pending()
            step()

    def finish(self, timeout: float = 60) -> list[str]:
        """After the thread ended: undo what is still undone (retrying for ``timeout``).
        Returns what could not be undone."""
        end = time.monotonic() + timeout
        while self._pending and time.monotonic() < end:
            self._retry_pending()
            if self._pending:
                time.sleep(1)
        self._client.close()
        return [f"{self.host.name}: {u.kind} ({u.resource})" for u in self._pending]

    def _number(self) -> int:
        return next(_numbers[self.host.name])

    def _do(self, kind: str, fn: Callable[[], object]) -> bool:
        t0 = time.monotonic()
        try:
            fn()
        except Exception as exc:  # the request's answer, kept for the checks
            self.ops.append(Op(kind, self.host.name, t0, time.monotonic(), _text(exc)))
            # A moment before the next: a dockerd that is down refuses at once, and the
            # rotation must not spin (thousands of requests a second) until it is back.
            self._stopping.wait(0.2)
            return False
        self.ops.append(Op(kind, self.host.name, t0, time.monotonic(), None))
        return True

    def _undo(self, kind: str, fn: Callable[[], object], resource: str) -> None:
        """Run the undo now, unless an earlier undo of the same resource still waits."""
        undo = _Undo(kind, fn, resource)
        if self._busy(resource) or not self._do(kind, fn):
            self._pending.append(undo)

    def _busy(self, resource: str) -> bool:
        return any(u.resource == resource for u in self._pending)

    def _retry_pending(self) -> None:
        failed: set[str] = set()
        for undo in list(self._pending):
            if undo.resource in failed:
                continue  # in order: an earlier undo of this resource must succeed first
            if self._do(undo.kind, undo.fn):
                self._pending.remove(undo)
            else:
                failed.add(undo.resource)

    # -- the rotation ----------------------------------------------------------------------

    def _run_rm(self) -> None:
        name = f"fchurn-{self.host.name}-{self._number()}"
        k = next(_numbers[self.host.name + ":run"])  # which run this is: label, kept or not
        labels = {LABEL: "churn", "app": "db" if k % 2 else "web"}
        ran = self._do("run", lambda: self._client.containers.run(
            IMAGE, "sleep 600", detach=True, network=self.stage.net, name=name, labels=labels))
        if ran and k % KEEP_EVERY == 0:
            self.kept.append(name)
            return
        self._undo("rm", lambda: self._rm(name), name)

    def _run_ip(self) -> None:
        n = self._number()
        name = f"fchurn-{self.host.name}-{n}"
        ip = str(self._subnet.network_address + self._ip_base + n % RUN_IP_SLOTS)
        api = self._client.api

        def run():
            made = api.create_container(
                IMAGE, "sleep 600", name=name, labels={LABEL: "churn", "app": "web"},
                host_config=api.create_host_config(network_mode=self.stage.net),
                networking_config=api.create_networking_config(
                    {self.stage.net: api.create_endpoint_config(ipv4_address=ip)}))
            api.start(made["Id"])

        self._do("run-ip", run)
        self._undo("rm", lambda: self._rm(name), name)

    def _rm(self, name: str) -> None:
        try:
            c = self._client.containers.get(name)
        except sdk.errors.NotFound:
            return  # never made (its run failed before Docker created it)
        try:
            c.remove(force=True)
        except sdk.errors.NotFound:
            pass
        self.removed.append(name)

    def _network(self, with_subnet: bool) -> None:
        n = self._number()
        name = f"{NET_PREFIX}{self.host.name}-{n}"
        pools = []
        if with_subnet:  # h1: 10.92.0-99.0/24, h2: 10.92.100-199.0/24
            pools = [sdk.types.IPAMPool(subnet=f"10.92.{(self.host.index - 1) * 100 + n % 100}.0/24")]
        ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=pools)
        self._do("net-create" if with_subnet else "net-create-auto",
                 lambda: self._client.networks.create(name, driver="dockovn", ipam=ipam))
        self._undo("net-rm", lambda: self._rm_network(name), name)

    def _network_with_subnet(self) -> None:
        self._network(True)

    def _network_auto(self) -> None:
        self._network(False)

    def _rm_network(self, name: str) -> None:
        for net in self._client.networks.list(names=[name]):
            if net.name == name:  # (the filter matches parts of names too)
                net.remove()

    def _connect(self) -> None:
        if self._busy("connect"):
            return
        hub = self.stage.hubs[self.host.name]
        self._do("connect", lambda: self._client.api.connect_container_to_network(
            hub, self.stage.side_net))
        self._undo("disconnect", self._disconnect, "connect")

    def _disconnect(self) -> None:
        hub = self.stage.hubs[self.host.name]
        try:
            self._client.api.disconnect_container_from_network(hub, self.stage.side_net)
        except sdk.errors.APIError as exc:
            if "is not connected" not in str(exc):
                raise  # (not connected: the connect had failed; nothing to undo)

    def _policy(self) -> None:
        name = f"{POLICY_PREFIX}{self.host.name}-{self._number()}"
        self._do("policy-create", lambda: self._cli(
            "policy", "create", name, "--network", self.stage.net, "--select", "app=web",
            "--from", "app=db", "--port", "tcp/80"))
        # (deleting a policy that is not there is not an error)
        self._undo("policy-delete", lambda: self._cli("policy", "delete", name), name)

    def _service(self) -> None:
        if self._busy("service"):
            return
        name = f"{SERVICE_PREFIX}{self.host.name}-{self._number()}"
        hub = self.stage.hubs[self.host.name]
        self._do("service-create", lambda: self._cli(
            "service", "create", name, "--network", self.stage.net, "--vip",
            f"{self._vip}:80", "--health-check-ip", self._probe_ip, "--check-interval", "1"))
        self._do("service-add", lambda: self._cli(
            "service", "add", name, "--container", hub, "--port", "8080",
            "--network", self.stage.net))
        self._undo("service-remove", lambda: self._cli(
            "service", "remove", name, "--container", hub, "--network", self.stage.net,
            gone="is not an instance"), "service")
        self._undo("service-delete", lambda: self._cli("service", "delete", name,
                                                       gone="has no VIP"), "service")

    def _cli(self, *args: str, gone: str | None = None) -> str:
        """`dockovn ARGS` in this host's namespace; ``gone``: an answer saying there is
        nothing to undo (the request being undone had failed) counts as done."""
        done = multihost.in_ns(self.host.ns, "timeout", "-s", "ABRT", str(CLI_TIMEOUT),
                               sys.executable, "-X", "faulthandler", "-m", "dockovn", *args,
                               "--ovs-db", self.host.ovs_db, check=False,
                               timeout=CLI_TIMEOUT + 10)
        if done.returncode == 124:  # timeout(1): it had to be killed
            raise Hung(f"hung: `dockovn {' '.join(args[:2])}` killed after {CLI_TIMEOUT}s in "
                       f"{_where(done.stderr) or done.stderr[-500:]}")
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            text = " ".join(said[-3:])
            if gone and gone in text:
                return text
            raise RuntimeError(text or f"exit {done.returncode}")
        return done.stdout


def start(cluster: multihost.Cluster, stage: Stage, limit: float = 180,
          hosts: tuple[str, ...] = ("h1", "h2")) -> list[Worker]:
    """A worker per host and lane, running now; each stops by itself after ``limit`` s."""
    deadline = time.monotonic() + limit
    workers = [Worker(cluster, h, lane, stage, deadline) for h in hosts for lane in LANES]
    for w in workers:
        w.start()
    return workers


def stop(workers: list[Worker], timeout: float = 60) -> tuple[list[Op], list[str]]:
    """Stop the workers, undo what they left; (every Op by start time, what stayed undone)."""
    for w in workers:
        w.stop()
    for w in workers:
        w.join(DOCKER_TIMEOUT + CLI_TIMEOUT)
    left = [item for w in workers for item in w.finish(timeout)]
    return sorted((op for w in workers for op in w.ops), key=lambda o: o.start), left


def sweep(cluster: multihost.Cluster) -> None:
    """Remove whatever churn left (after the checks, so the next test starts clean)."""
    for host in cluster.hosts:
        client = host.docker()
        try:
            for c in client.containers.list(all=True, filters={"label": LABEL}):
                c.remove(force=True)
            for net in client.networks.list():
                if net.name.startswith(NET_PREFIX):
                    try:
                        net.remove()
                    except sdk.errors.APIError:
                        pass  # another host's view, gone with its network
        finally:
            client.close()
    h = cluster.hosts[0]

    def cli(*args: str) -> str:
        return multihost.in_ns(h.ns, sys.executable, "-m", "dockovn", *args, "--ovs-db",
                               h.ovs_db, check=False, timeout=CLI_TIMEOUT).stdout

    policies = {p["name"] for p in json.loads(cli("policy", "ls", "--json") or "[]")}
    names = sorted(p for p in policies if p.startswith(POLICY_PREFIX))
    if names:
        cli("policy", "delete", *names)
    for row in json.loads(cli("service", "ls", "--json") or "[]"):
        if not row["service"].startswith(SERVICE_PREFIX):
            continue
        if row["container"]:
            cli("service", "remove", row["service"], "--container", row["container"])
        if row["vip"]:
            cli("service", "delete", row["service"])
