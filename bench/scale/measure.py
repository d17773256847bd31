"""What the scale benchmark reads off the harness: CPU seconds and RSS of its daemons
(/proc), OpenFlow flows per host, SB logical flows, and a driver's start-up time."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time

from bench.protocol import PluginCallError, PluginClient, endpoint_body
from bench.scale.ovsdb import SB, count
from dockovn.deploy import procs
from tests.support import multihost

TICK = os.sysconf("SC_CLK_TCK")
CENTRAL = {"NB ovsdb-server": "ovnnb_db", "SB ovsdb-server": "ovnsb_db",
           "ovn-northd": "ovn-northd"}
HOST_DAEMONS = {"driver": "driver", "ovn-controller": "ovn-controller",
                "ovs-vswitchd": "ovs-vswitchd"}


def proc_stats(pid: int | None) -> dict[str, float]:
    """{"cpu_s": user + system seconds so far, "rss_kib": resident set now}; {} if gone."""
    if not pid:
        return {}
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return {}
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15.
    return {"cpu_s": (int(fields[11]) + int(fields[12])) / TICK, "rss_kib": rss}


def central_stats(cluster) -> dict[str, dict[str, float]]:
    return {label: proc_stats(procs.read_pid(os.path.join(cluster.central_dir, f"{name}.pid")))
            for label, name in CENTRAL.items()}


def host_stats(cluster) -> dict[str, dict[str, dict[str, float]]]:
    """daemon -> host -> stats."""
    return {label: {h.name: proc_stats(procs.read_pid(h.pidfile(name))) for h in cluster.hosts}
            for label, name in HOST_DAEMONS.items()}


def openflow_flows(host) -> int:
    out = multihost.in_ns(host.ns, "ovs-ofctl", "dump-aggregate",
                          f"unix:{host.dir}/br-int.mgmt").stdout
    for word in out.split():
        if word.startswith("flow_count="):
            return int(word.split("=", 1)[1])
    raise RuntimeError(f"{host.name}: no flow_count in {out!r}")


def widest_flow(host) -> int:
    """The most resubmit/output actions in one OpenFlow flow of ``host``: a multicast
    group's flow (flooding on the switch) has one per port of the switch on this host."""
    out = multihost.in_ns(host.ns, "ovs-ofctl", "dump-flows", f"unix:{host.dir}/br-int.mgmt",
                          timeout=120).stdout
    return max((line.count("resubmit(") + line.count("output:") for line in out.splitlines()),
               default=0)


def logical_flows(cluster) -> int:
    return count(sb_socket(cluster), SB, "Logical_Flow")


def nb_socket(cluster) -> str:
    return cluster.nb.removeprefix("unix:")


def sb_socket(cluster) -> str:
    return cluster.sb.removeprefix("unix:")


def engine_stats(ns: str, ctl: str) -> dict[str, dict[str, int]]:
    """`inc-engine/show-stats` of an OVN daemon: node -> {recompute, compute, cancel}
    (how often each incremental-processing node ran in full or incrementally); {} if the
    daemon cannot say."""
    if not ctl:
        return {}
    done = multihost.in_ns(ns, "ovn-appctl", "-t", ctl, "inc-engine/show-stats", check=False)
    stats: dict[str, dict[str, int]] = {}
    node = None
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("Node:"):
            node = line.split(":", 1)[1].strip()
            stats[node] = {}
        elif node and line.startswith("-") and ":" in line:
            key, _, value = line.lstrip("- ").partition(":")
            if value.strip().isdigit():
                stats[node][key.strip()] = int(value)
    return stats


def _controller_ctl(host) -> str:
    pid = procs.read_pid(host.pidfile("ovn-controller"))
    path = os.path.join(host.dir, f"ovn-controller.{pid}.ctl")
    return path if pid and os.path.exists(path) else ""


def snapshot(cluster) -> dict:
    """Everything one checkpoint records."""
    first = cluster.hosts[0]
    return {"central": central_stats(cluster), "hosts": host_stats(cluster),
            "openflow": {h.name: openflow_flows(h) for h in cluster.hosts},
            "logical_flows": logical_flows(cluster),
            "widest_flow_outputs": {first.name: widest_flow(first)},
            "engine": {"ovn-northd": engine_stats(cluster.central_ns, os.path.join(
                           cluster.central_dir, "ovn-northd.ctl")),
                       f"ovn-controller {first.name}": engine_stats(first.ns,
                                                                    _controller_ctl(first))},
            "at": time.monotonic()}


def driver_startup(host, network_id: str, endpoint_id: str, timeout: float = 120.0) -> dict:
    """Stop ``host``'s driver and start it again as the harness does; the seconds from
    starting it to its socket answering Plugin.Activate, and to its NB cache holding
    ``endpoint_id`` (EndpointOperInfo answers from the cache: the newest port, made by
    another host, so the whole initial sync is in), then its RSS once settled."""
    procs.stop(host.pidfile("driver"), timeout=20)
    sock = os.path.join(host.plugins, "dockovn.sock")
    failure: list[BaseException] = []

    def start() -> None:
        try:
            multihost.restart_driver(host)
        except BaseException as exc:  # reported below
            failure.append(exc)

    t0 = time.monotonic()
    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    activated = _poll(lambda: _answers(sock, "Plugin.Activate", {}), t0, timeout, failure)
    synced = _poll(lambda: _answers(sock, "NetworkDriver.EndpointOperInfo",
                                    endpoint_body(network_id, endpoint_id)), t0, timeout, failure)
    starter.join(timeout)
    time.sleep(3)  # its background threads' first passes (names, policies, services)
    stats = proc_stats(procs.read_pid(host.pidfile("driver")))
    return {"socket_s": activated - t0, "synced_s": synced - t0,
            "rss_kib": stats.get("rss_kib", 0), "cpu_s": stats.get("cpu_s", 0.0)}


def _answers(sock: str, method: str, body: dict) -> bool:
    if not os.path.exists(sock):
        return False
    client = PluginClient(unix_path=sock, timeout=5)
    try:
        client.call(method, body)
        return True
    except (OSError, http.client.HTTPException, PluginCallError):
        return False
    finally:
        client.close()


def _poll(ready, t0: float, timeout: float, failure: list) -> float:
    while time.monotonic() - t0 < timeout:
        if ready():
            return time.monotonic()
        if failure:
            raise RuntimeError(f"the driver did not start: {failure[0]}")
        time.sleep(0.01)
    raise RuntimeError(f"the driver did not answer within {timeout:.0f} s")


def idl_cache(cluster, switch: str) -> dict:
    """bench/scale/idl.py's three ways of caching NB, each in a process of its own."""
    host = cluster.hosts[0]
    system_id = host.vsctl("get", "Open_vSwitch", ".", "external_ids:system-id").strip()
    out = {}
    for variant in ("all", "networks", "host"):
        done = subprocess.run([sys.executable, "-m", "bench.scale.idl", nb_socket(cluster),
                               variant, "--switch", switch, "--host", system_id.strip('"')],
                              cwd=multihost.REPO, capture_output=True, text=True, timeout=400)
        lines = done.stdout.strip().splitlines()
        out[variant] = json.loads(lines[-1]) if done.returncode == 0 and lines else \
            {"error": done.stderr.strip()[-500:]}
    return out
