"""The host's share of a container: what any driver must do, measured without a driver.

Per container a driver creates a veth pair, adds its outer end to br-int, writes the
container's logical port into OVN Northbound (one transaction), and later undoes all
three. Those are the floor of a driver's request path: CreateEndpoint+Join cannot take
less than veth create + OVS add port + one NB port transaction, and a whole container
not less than all six steps. They are timed here directly, with the libraries and the
transaction options dockovn uses (pyroute2; ovsdbapp, OVS without waiting for
ovs-vswitchd as `ovs-vsctl --no-wait`; NB's ordinary transaction), on interfaces and a
logical switch no container uses.

The floor takes its turn among the drivers' containers at every network size
(bench/request_path/latency.py), so it is timed on the same machine state as they are: the same NB
size, the same load from ovn-northd and ovn-controller, the same drift over the run.
Timed once before the drivers, it moved between 6 and 8 ms from run to run on this
machine while the drivers did not, which moved the ratios more than any change did.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from bench.request_path.leftovers import Ledger
from dockovn.host import links
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch
from dockovn.ovn.nb import Northbound

SETUP_STEPS = ("veth create", "OVS add port", "NB add port")     # CreateEndpoint+Join's floor
STEPS = SETUP_STEPS + ("NB delete port", "OVS remove port", "veth delete")


@dataclass
class Floor:
    """The six steps on their own switch, one veth pair at a time; ``samples`` per size."""

    ledger: Ledger
    nb_remote: str
    name: str = "floor"
    samples: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    _made: int = 0
    _switch: str = ""
    _ovs: LocalSwitch | None = None
    _nb: Northbound | None = None

    def start(self) -> None:
        self._switch = f"dkbench-floor-{os.getpid()}"
        self._ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
        self._nb = Northbound(self.nb_remote, timeout=10)
        self.ledger.add_network("floor", self._switch)
        self._nb.create_switch(self._switch, {"dockovn-bench": "floor"})

    def stop(self) -> None:
        try:
            if self._nb is not None and self._switch:
                self._nb.delete_switch(self._switch)
        finally:
            for conn in (self._nb, self._ovs):
                if conn is not None:
                    conn.close()
            self._nb = self._ovs = None

    def container(self) -> dict[str, float]:
        """One veth pair through all six steps: seconds per step."""
        i = self._made
        self._made += 1
        outer, inner, port = f"dkbfo{i}", f"dkbfi{i}", f"{self._switch}-p{i}"
        address = f"0a:58:0a:63:{i // 250 % 256:02x}:{i % 250 + 2:02x} 10.99.0.{i % 250 + 2}"
        self.ledger.add_link(outer)
        t0 = time.perf_counter()
        links.create_veth(outer, inner, "0a:58:00:00:00:01", 1442)
        t1 = time.perf_counter()
        self._ovs.plug(outer, {"dockovn-bench": "floor"})
        t2 = time.perf_counter()
        self._nb.add_port(self._switch, port, [address], [address], {"dockovn-bench": "floor"})
        t3 = time.perf_counter()
        self._nb.delete_port(port, self._switch)
        t4 = time.perf_counter()
        self._ovs.unplug(outer)
        t5 = time.perf_counter()
        links.delete(outer)
        t6 = time.perf_counter()
        return dict(zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)))

    def record(self, size: int, timings: dict[str, float]) -> None:
        series = self.samples.setdefault(size, {s: [] for s in STEPS})
        for step, seconds in timings.items():
            series[step].append(seconds)


def totals(steps_samples: dict[str, list[float]], steps) -> list[float]:
    """Per veth pair, the sum of ``steps``."""
    n = len(next(iter(steps_samples.values())))
    return [sum(steps_samples[step][i] for step in steps) for i in range(n)]
