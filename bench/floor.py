"""The host's share of a container: what any driver must do, measured without a driver.

Per container a driver creates a veth pair, adds its outer end to br-int, writes the
container's logical port into OVN Northbound (one transaction), and later undoes all
three. Those are the floor of a driver's request path: CreateEndpoint+Join cannot take
less than veth create + OVS add port + one NB port transaction, and a whole container
not less than all six steps. They are timed here directly, with the libraries and the
transaction options dockovn uses (pyroute2; ovsdbapp, OVS without waiting for
ovs-vswitchd as `ovs-vsctl --no-wait`; NB's ordinary transaction), on interfaces and a
logical switch no container uses.
"""

from __future__ import annotations

import os
import time

from bench.leftovers import Ledger
from dockovn.host import links
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch
from dockovn.ovn.nb import Northbound

SETUP_STEPS = ("veth create", "OVS add port", "NB add port")     # CreateEndpoint+Join's floor
STEPS = SETUP_STEPS + ("NB delete port", "OVS remove port", "veth delete")


def measure_floor(ledger: Ledger, reps: int, progress, nb_remote: str) -> dict[str, list[float]]:
    progress(f"host floor: {reps} veth pairs plugged into br-int with an NB port each, "
             "then removed, no driver")
    out: dict[str, list[float]] = {s: [] for s in STEPS}
    switch = f"dkbench-floor-{os.getpid()}"
    ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
    nb = Northbound(nb_remote, timeout=10)
    ledger.add_network("floor", switch)
    try:
        nb.create_switch(switch, {"dockovn-bench": "floor"})
        for i in range(reps):
            outer, inner, port = f"dkbfo{i}", f"dkbfi{i}", f"{switch}-p{i}"
            address = f"0a:58:0a:63:00:{i % 250 + 2:02x} 10.99.0.{i % 250 + 2}"
            ledger.add_link(outer)
            t0 = time.perf_counter()
            links.create_veth(outer, inner, "0a:58:00:00:00:01", 1442)
            t1 = time.perf_counter()
            ovs.plug(outer, {"dockovn-bench": "floor"})
            t2 = time.perf_counter()
            nb.add_port(switch, port, [address], [address], {"dockovn-bench": "floor"})
            t3 = time.perf_counter()
            nb.delete_port(port, switch)
            t4 = time.perf_counter()
            ovs.unplug(outer)
            t5 = time.perf_counter()
            links.delete(outer)
            t6 = time.perf_counter()
            for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4,
                                             t6 - t5)):
                out[step].append(seconds)
    finally:
        try:
            nb.delete_switch(switch)
        finally:
            nb.close()
            ovs.close()
    return out
