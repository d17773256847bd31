"""The host's share of a container: what any driver must do, measured without a driver.

Per container a driver creates a veth pair, adds its outer end to br-int (and,
like `ovs-vsctl` without --no-wait, waits until ovs-vswitchd has applied it),
and later removes both. On this machine's userspace datapath these steps take
most of a container's time in *both* drivers, so they bound how much faster one
driver can be than the other. They are timed here directly, with the same
libraries dockovn uses (pyroute2, ovsdbapp), on interfaces no OVN port refers to.
"""

from __future__ import annotations

import time

from bench.leftovers import Ledger
from dockovn.host import links
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch

STEPS = ("veth create", "OVS add port (+ wait for ovs-vswitchd)",
         "OVS remove port (+ wait)", "veth delete")


def measure_floor(ledger: Ledger, reps: int, progress) -> dict[str, list[float]]:
    progress(f"host floor: {reps} veth pairs plugged into br-int and removed, no driver")
    out: dict[str, list[float]] = {s: [] for s in STEPS}
    ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
    try:
        for i in range(reps):
            outer, inner = f"dkbfo{i}", f"dkbfi{i}"
            ledger.add_link(outer)
            t0 = time.perf_counter()
            links.create_veth(outer, inner, "0a:58:00:00:00:01", 1442)
            t1 = time.perf_counter()
            ovs.plug(outer, {"dockovn-bench": "floor"})
            t2 = time.perf_counter()
            ovs.unplug(outer)
            t3 = time.perf_counter()
            links.delete(outer)
            t4 = time.perf_counter()
            for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                out[step].append(seconds)
    finally:
        ovs.close()
    return out
