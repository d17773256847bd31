"""The request path's hot spots at scale, each next to what it replaced, in one run.

Not part of `make bench`'s report (`make bench-hotpaths`, about a minute): the figures
behind the README's "Where the rest goes" that a driver-level run cannot separate.

- Column size: NB removal of one port from a switch of 10 / 1,000 ports with ovsdbapp's
  ``db_remove`` (reads the column twice) and with ``RemoveFromColumn``; reading a pool of
  10 / 1,000 addresses with python-ovs's getattr and with ``column_value``; and the IPAM's
  RequestAddress + ReleaseAddress as the driver runs them (``OvnIpam``, no HTTP).
- ovsdbapp's per-row ``time.sleep(0)``: the floor steps (veth create, OVS add port, NB add
  port) with it and without it (``ovsdb.ThreadedIdl``), alternating round by round.

It starts Open vSwitch and the OVN central if they are not running (and stops what it
started), and works on a bridge, a switch and a pool of its own, removed afterwards.
"""

from __future__ import annotations

import argparse
import ipaddress
import time
import uuid

from ovsdbapp.backend.ovs_idl import connection

from bench.reporting.output import RESULTS, save
from bench.stack import load_average, machine
from bench.reporting.stats import median
from dockovn import ovsdb
from dockovn.deploy import central, openvswitch, procs
from dockovn.host import links
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch
from dockovn.network.api import ReleaseAddressRequest, RequestAddressRequest, RequestPoolRequest
from dockovn.network.overlay import ipam
from dockovn.ovn.mutations import RemoveFromColumn
from dockovn.ovn.nb import Northbound

NB = f"unix:{central.CentralConfig().rundir}/ovnnb_db.sock"
BRIDGE = "dkhot-br"


def _ms(seconds: list[float]) -> float:
    return round(median(seconds) * 1000, 2)


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def column_size(nb: Northbound, sizes: list[int], reps: int) -> list[dict]:
    rows = []
    switch = f"dkhot-{uuid.uuid4().hex[:8]}"
    subnet = ipaddress.ip_network("10.250.0.0/20")
    driver_ipam = ipam.OvnIpam(nb)
    pool_id = driver_ipam.request_pool(RequestPoolRequest(Pool=str(subnet))).pool_id
    pool = ipam.pool_name(subnet)
    taken: list[str] = []
    nb.create_switch(switch, {"dockovn-bench": "hotpaths"})
    try:
        for size in sizes:
            while len(nb.ports(switch)) < size:
                i = len(nb.ports(switch))
                nb.add_port(switch, f"{switch}-{i}", ["unknown"], [], {})
            while len(taken) < size:
                taken.append(driver_ipam.request_address(
                    RequestAddressRequest(PoolID=pool_id)).address)
            old, new = [], []
            for i in range(reps):
                for sample, remove in ((old, nb.api.db_remove), (new, None)):
                    name = f"{switch}-m{i}-{len(sample)}"
                    nb.add_port(switch, name, ["unknown"], [], {})
                    uuid_ = nb.api.lookup("Logical_Switch_Port", name).uuid
                    cmd = (remove("Logical_Switch", switch, "ports", uuid_) if remove else
                           RemoveFromColumn(nb.api, "Logical_Switch", switch, "ports", uuid_))
                    sample.append(_timed(nb._commit, "remove", cmd))
            row = nb.api.lookup("Address_Set", pool)
            read_old = [_timed(lambda: frozenset(row.addresses)) for _ in range(reps)]
            read_new = [_timed(lambda: frozenset(ovsdb.column_value(row, "addresses")))
                        for _ in range(reps)]
            request, release = [], []
            for _ in range(reps):
                start = time.perf_counter()
                got = driver_ipam.request_address(RequestAddressRequest(PoolID=pool_id)).address
                request.append(time.perf_counter() - start)
                release.append(_timed(driver_ipam.release_address,
                                      ReleaseAddressRequest(PoolID=pool_id, Address=got)))
            rows.append({"size": size, "remove_db_remove": _ms(old),
                         "remove_RemoveFromColumn": _ms(new), "read_getattr": _ms(read_old),
                         "read_column_value": _ms(read_new), "RequestAddress": _ms(request),
                         "ReleaseAddress": _ms(release)})
    finally:
        for address in taken:
            driver_ipam.release_address(ReleaseAddressRequest(PoolID=pool_id, Address=address))
        nb.delete_pool(pool)
        nb.delete_switch(switch)
    return rows


def floor_steps(rounds: int, reps: int) -> dict[str, dict[str, float]]:
    """veth create, OVS add port, NB add port, with ovsdbapp's per-row yield and without."""
    samples = {mode: {"veth create": [], "OVS add port": [], "NB add port": []}
               for mode in ("sleep(0) per row", "ThreadedIdl")}
    switch = f"dkhot-floor-{uuid.uuid4().hex[:8]}"
    for r in range(rounds):
        for mode in samples:
            ovsdb.ThreadedIdl.cooperative_yield = (
                connection.OvsdbIdl.cooperative_yield if mode == "sleep(0) per row"
                else (lambda self: None))
            ovs = LocalSwitch(DEFAULT_OVS_DB, BRIDGE, timeout=10)
            nb = Northbound(NB, timeout=10)
            try:
                nb.create_switch(switch, {"dockovn-bench": "hotpaths"})
                for i in range(reps):
                    outer = f"dkhf{r}{i}"
                    s = samples[mode]
                    s["veth create"].append(_timed(links.create_veth, outer, f"dkhg{r}{i}",
                                                   "0a:58:00:00:00:01", 1442))
                    s["OVS add port"].append(_timed(ovs.plug, outer, {"dockovn-bench": "x"}))
                    s["NB add port"].append(_timed(nb.add_port, switch, f"{switch}-{i}",
                                                   ["unknown"], [], {}))
                    ovs.unplug(outer)
                    links.delete(outer)
            finally:
                nb.delete_switch(switch)
                nb.close()
                ovs.close()
    ovsdb.ThreadedIdl.cooperative_yield = lambda self: None
    return {mode: {step: _ms(v) for step, v in steps.items()}
            for mode, steps in samples.items()}


def report(results: dict) -> str:
    out = ["# Hot paths at scale", "", f"- date: {results['date']}",
           f"- machine: {results['machine']}",
           f"- load average (1, 5, 15 min): {results['load']}",
           "- command: `.venv/bin/python -m bench.request_path.hotpaths` (`make bench-hotpaths`)", "",
           "## Column size (median ms)", "",
           "| ports / addresses | remove a port: db_remove | RemoveFromColumn "
           "| read the pool: getattr | column_value | RequestAddress | ReleaseAddress |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["column_size"]:
        out.append(f"| {r['size']:,} | {r['remove_db_remove']} | {r['remove_RemoveFromColumn']}"
                   f" | {r['read_getattr']} | {r['read_column_value']} | "
                   f"{r['RequestAddress']} | {r['ReleaseAddress']} |")
    out += ["", "RequestAddress and ReleaseAddress as the driver runs them (OvnIpam, no HTTP; "
            "this code, with the changes).", "",
            "## ovsdbapp's per-row yield (median ms, rounds alternating)", "",
            "| IDL | veth create | OVS add port | NB add port |", "|---|---:|---:|---:|"]
    for mode, steps in results["floor_steps"].items():
        out.append(f"| {mode} | {steps['veth create']} | {steps['OVS add port']} | "
                   f"{steps['NB add port']} |")
    return "\n".join(out) + "\n"


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    big = results["column_size"][-1]
    keys = [k for k in big if k != "size"]
    ax.bar(keys, [big[k] for k in keys])
    ax.set_ylabel(f"median ms at {big['size']:,}")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10,1000")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    started_ovs, started_central = openvswitch.start(), central.start(central.LOCAL)
    db = f"--db={openvswitch.OvsPaths().remote}"
    procs.run(["ovs-vsctl", db, "--may-exist", "add-br", BRIDGE, "--", "set", "Bridge",
               BRIDGE, "datapath_type=netdev"], "hot-path bridge")
    try:
        results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                   "load": load_average()}
        nb = Northbound(NB, timeout=30)
        try:
            results["column_size"] = column_size(nb, [int(s) for s in args.sizes.split(",")],
                                                 args.reps)
        finally:
            nb.close()
        results["floor_steps"] = floor_steps(args.rounds, args.reps)
    finally:
        procs.run(["ovs-vsctl", db, "--if-exists", "del-br", BRIDGE], "removing the bridge")
        if started_central:
            central.stop()
        if started_ovs:
            openvswitch.stop()
    save(args.out, "hotpaths", report(results), results, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
