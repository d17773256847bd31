"""Driver latency: dockerd's per-container request sequence replayed over HTTP.

For each driver one network is made with the driver's own CreateNetwork (the
upstream driver declares global scope, so today's dockerd refuses to create its
networks: its calls are replayed directly, and so are dockovn's, for a like-for-
like comparison). The network is then grown to 10, 100, 1,000 ports: background
endpoints made with the driver's own CreateEndpoint, never joined (on a real
cluster most ports of a big network live on other hosts; here they make the
network and NB big, which is what the drivers' lookups scale with). At each size
a series of containers runs the full sequence -- CreateEndpoint, Join, Leave,
DeleteEndpoint -- with real veths and br-int ports, so ovn-controller binds them
as it would a container's.

The two drivers and the floor (bench/request_path/floor.py: the same host steps without a
driver) take turns container by container (rotating which goes first), so a burst
of load on the machine, or a drift over the run, hits all of them alike.

Before each container a driver also answers DiscoverNew, a call both drivers
accept and do nothing for (dockerd sends it when a node joins): its time is what
the protocol costs by itself (HTTP, decoding, the driver's dispatch), the part of
every call that no host step explains.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Protocol

from bench.request_path.drivers import DriverProcess
from bench.request_path.leftovers import Ledger
from bench.request_path.nbrows import NbWatcher, RowWrites, watching
from bench.protocol import (
    PluginCallError,
    PluginClient,
    create_endpoint_body,
    create_network_body,
    endpoint_body,
    join_body,
    network_body,
    new_id,
)

CALLS = ("CreateEndpoint", "Join", "Leave", "DeleteEndpoint")
START = "CreateEndpoint+Join"  # what `docker run` waits for
CONTAINER = "container"        # all four: a container's whole life, as the driver sees it
NOOP = "DiscoverNew"           # a call that does nothing: the protocol's own cost
SERIES = (NOOP, *CALLS, START, CONTAINER)
# What dockerd sends when a node joins (libnetwork's discoverapi: type 1, node discovery).
NOOP_BODY = {"DiscoveryType": 1, "DiscoveryData": {"Address": "127.0.0.1", "self": True}}


class Unit(Protocol):
    """What takes a turn in the rotation: a driver's replay, or the floor."""

    name: str

    def container(self) -> dict[str, float]: ...

    def record(self, size: int, timings: dict[str, float]) -> None: ...

FIRST_MEASURED_HOST = 50_000  # measured containers' addresses sit far above the background ones


@dataclass
class Replay:
    """One driver, its network, and what was measured on it."""

    driver: DriverProcess
    ledger: Ledger
    subnet: ipaddress.IPv4Network
    client: PluginClient = field(init=False)
    network_id: str = ""
    background: list[str] = field(default_factory=list)  # the network's background endpoints
    measured: int = 0                   # measured containers so far (for their addresses)
    fill_seconds: float = 0.0           # making the background endpoints
    empty_seconds: float = 0.0          # deleting them again
    samples: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # size -> series
    rss_kib: dict[int, tuple[int, int]] = field(default_factory=dict)
    rows_create: list[RowWrites] = field(default_factory=list)
    rows_remove: list[RowWrites] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = self.driver.client()

    @property
    def name(self) -> str:
        return self.driver.name

    @property
    def ports(self) -> int:
        """Background endpoints on the network now."""
        return len(self.background)

    def _address(self, host_index: int) -> str:
        ip = self.subnet.network_address + host_index
        if ip not in self.subnet or ip == self.subnet.broadcast_address:
            raise ValueError(f"subnet {self.subnet} too small for host {host_index}")
        return f"{ip}/{self.subnet.prefixlen}"

    def call(self, method: str, body: dict) -> float:
        seconds, _ = self.client.call(f"NetworkDriver.{method}", body)
        return seconds

    def create_network(self) -> None:
        self.network_id = new_id()
        self.ledger.add_network(self.name, self.network_id)
        gateway = str(self.subnet.network_address + 1)
        self.call("CreateNetwork", create_network_body(self.network_id, str(self.subnet), gateway))

    def delete_network(self) -> None:
        """DeleteEndpoint for every background endpoint, then DeleteNetwork: the order
        dockerd keeps (it refuses to remove a network that still has endpoints)."""
        start = time.perf_counter()
        while self.background:
            self.call("DeleteEndpoint", endpoint_body(self.network_id, self.background[-1]))
            self.background.pop()
        self.empty_seconds = time.perf_counter() - start
        if self.network_id:
            self.call("DeleteNetwork", network_body(self.network_id))
            self.network_id = ""
        self.client.close()

    def fill_to(self, ports: int) -> None:
        """Grow the network to ``ports`` background endpoints (CreateEndpoint only)."""
        start = time.perf_counter()
        while self.ports < ports:
            eid = new_id()
            # Not in the ledger one by one: they have no veth or OVS port, and their NB
            # rows go with the logical switch if the sweep has to delete it.
            self.call("CreateEndpoint", create_endpoint_body(
                self.network_id, eid, self._address(2 + self.ports)))
            self.background.append(eid)
        self.fill_seconds += time.perf_counter() - start

    def container(self, watcher: NbWatcher | None = None) -> dict[str, float]:
        """One container's sequence; seconds per call. With ``watcher``, also record the
        NB rows written by CreateEndpoint+Join and by Leave+DeleteEndpoint."""
        eid = new_id()
        address = self._address(FIRST_MEASURED_HOST + self.measured)
        self.measured += 1
        self.ledger.add_endpoint(self.name, eid)
        nid = self.network_id
        t: dict[str, float] = {}
        t[NOOP] = self.call(NOOP, NOOP_BODY)
        try:
            if watcher:
                watcher.settle()
                watcher.start()
            t["CreateEndpoint"] = self.call("CreateEndpoint", create_endpoint_body(nid, eid, address))
            t["Join"] = self.call("Join", join_body(nid, eid))
            if watcher:
                self.rows_create.append(watcher.take(nid, eid))
                watcher.start()
            t["Leave"] = self.call("Leave", endpoint_body(nid, eid))
            t["DeleteEndpoint"] = self.call("DeleteEndpoint", endpoint_body(nid, eid))
            if watcher:
                self.rows_remove.append(watcher.take(nid, eid))
        except PluginCallError:
            # Undo as dockerd would (Leave, DeleteEndpoint), best effort; the ledger's
            # sweep catches whatever this misses.
            for method in ("Leave", "DeleteEndpoint"):
                if method not in t:
                    try:
                        self.call(method, endpoint_body(nid, eid))
                    except Exception:
                        pass
            raise
        t[START] = t["CreateEndpoint"] + t["Join"]
        t[CONTAINER] = sum(t[c] for c in CALLS)
        return t

    def record(self, size: int, timings: dict[str, float]) -> None:
        series = self.samples.setdefault(size, {s: [] for s in SERIES})
        for name, seconds in timings.items():
            series[name].append(seconds)


def run_latency(replays: list[Replay], sizes: list[int], reps: int, warmup: int,
                row_samples: int, progress, floor: Unit | None = None) -> None:
    """Grow both networks size by size and time ``reps`` containers on each at every
    size, with the floor's turn among them."""
    for r in replays:
        r.create_network()
    for size in sizes:
        for r in replays:
            progress(f"latency: {r.name}: growing its network to {size} ports")
            r.fill_to(size)
        if size == sizes[0] and row_samples:
            # Not timed: counting waits for NB to go quiet. Rows do not depend on size.
            with watching() as watcher:
                for r in replays:
                    for _ in range(row_samples):
                        r.container(watcher)
        progress(f"latency: {size} ports: {warmup} warm-up + {reps} containers per driver"
                 + (" and the floor" if floor else ""))
        units: list[Unit] = [*replays, *([floor] if floor else [])]
        for i in range(warmup + reps):
            first = i % len(units)
            for unit in units[first:] + units[:first]:
                timings = unit.container()
                if i >= warmup:
                    unit.record(size, timings)
        for r in replays:
            r.rss_kib[size] = r.driver.rss_kib()
