"""Metrics read when Prometheus scrapes: the driver's connections, pools and ports.

The driver hands ``DriverState`` functions that read its caches (NB's and local OVS's,
already in memory), so a scrape costs no database round trip and nothing here knows
how the network layer stores things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


@dataclass(frozen=True)
class Connection:
    db: str              # "nb", "ovs"
    connected: bool
    connections: int     # sessions made since the driver started (the first included)


@dataclass(frozen=True)
class PoolUsage:
    pool: str
    subnet: str
    used: int
    capacity: int


class DriverState:
    """A prometheus_client collector over the driver's live state."""

    def __init__(self, connections: Callable[[], Iterable[Connection]],
                 pools: Callable[[], Iterable[PoolUsage]] = lambda: (),
                 ports: Callable[[], dict[str, int]] = lambda: {}):
        self.connections = connections
        self.pools = pools
        self.ports = ports

    def collect(self):
        up = GaugeMetricFamily("dockovn_ovsdb_connected", "1 while the driver's session to "
                               "the database is up.", labels=["db"])
        again = CounterMetricFamily("dockovn_ovsdb_reconnects", "Sessions to the database "
                                    "made again after one was lost (a central restart, a "
                                    "Raft member gone).", labels=["db"])
        for c in self.connections():
            up.add_metric([c.db], 1.0 if c.connected else 0.0)
            again.add_metric([c.db], float(max(0, c.connections - 1)))
        yield up
        yield again
        used = GaugeMetricFamily("dockovn_pool_addresses_used", "Addresses taken from a "
                                 "cluster-wide address pool (every host's).",
                                 labels=["pool", "subnet"])
        capacity = GaugeMetricFamily("dockovn_pool_addresses_capacity", "Addresses a pool "
                                     "can give (its range; an IPv4 subnet's network and "
                                     "broadcast addresses left out).",
                                     labels=["pool", "subnet"])
        for p in self.pools():
            used.add_metric([p.pool, p.subnet], float(p.used))
            capacity.add_metric([p.pool, p.subnet], float(p.capacity))
        yield used
        yield capacity
        ports = GaugeMetricFamily("dockovn_host_ports", "Container ports plugged on this "
                                  "host, by network.", labels=["network"])
        for network, count in sorted(self.ports().items()):
            ports.add_metric([network], float(count))
        yield ports

    def describe(self):
        return []  # no fixed set: read at each scrape
