"""Everything a benchmark run creates is written down first, and removed at the end.

The ledger is a JSON file under /run/dockovn-bench, updated *before* each
thing is created, so the cleanup knows about it even if the run dies halfway
through a request. A run killed outright (SIGKILL, a machine reboot aside) is
cleaned by the next run: it sweeps every ledger whose process is gone.

What is swept, for both drivers:
- NB: the logical switches of the run's networks (deleting a switch deletes its
  ports with it: OVSDB garbage-collects Logical_Switch_Port rows no switch refers
  to) and any port still named after a recorded endpoint;
- local OVS: ports on any bridge whose Interface has ``iface-id`` = a recorded
  endpoint (both drivers set it);
- veths: the names each driver derives from the endpoint ID, and the ones the
  benchmark makes itself (bench/request_path/floor.py), with their OVS ports;
- Docker: containers labelled LABEL, and the run's networks;
- processes the run started (checked by command line before they are signalled)
  and its temporary folders.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time

from dockovn.host import links
from dockovn.network import identifiers

LOG = logging.getLogger("bench.leftovers")

LEDGER_DIR = "/run/dockovn-bench"
LABEL = "dockovn-bench"  # Docker label on every container the benchmark runs


def veth_names(kind: str, endpoint_id: str) -> list[str]:
    """The interfaces a driver makes for an endpoint (both ends of the veth)."""
    if kind == "upstream":
        # ovn-docker-overlay-driver: outside = eid[0:15], inside = eid[0:13] + "_c"
        return [endpoint_id[:15], endpoint_id[:13] + "_c"]
    names = []
    for attempt in (0, 1):  # dockovn slides the cut only on a name collision
        names.extend(identifiers.veth_names(endpoint_id, attempt))
    return names


class Ledger:
    def __init__(self, directory: str = LEDGER_DIR):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"ledger-{os.getpid()}.json")
        self.data = {"pid": os.getpid(), "networks": {}, "endpoints": {},
                     "docker_networks": [], "procs": [], "dirs": []}
        self._save()

    def _save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)

    # Each add_* is called before the thing exists. Nothing is ever struck off: the
    # final sweep looks for every recorded thing, so it also checks that the drivers'
    # own Delete calls really removed it (what it still finds is reported).
    def add_network(self, kind: str, network_id: str) -> None:
        self.data["networks"][network_id] = kind
        self._save()

    def add_endpoint(self, kind: str, endpoint_id: str) -> None:
        self.data["endpoints"][endpoint_id] = kind
        self._save()

    def add_link(self, name: str) -> None:
        """An interface the benchmark itself makes (and maybe plugs into OVS) by this name."""
        self.data.setdefault("links", []).append(name)
        self._save()

    def add_docker_network(self, name: str) -> None:
        self.data["docker_networks"].append(name)
        self._save()

    def add_proc(self, pid: int, marker: str) -> None:
        """``marker``: a string in the process' command line, checked before it is killed."""
        self.data["procs"].append({"pid": pid, "marker": marker})
        self._save()

    def add_dir(self, path: str) -> None:
        self.data["dirs"].append(path)
        self._save()

    def sweep(self) -> list[str]:
        """Remove everything recorded; return what was found left over (to report)."""
        found = sweep(self.data)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        return found


def sweep_dead_runs(directory: str = LEDGER_DIR) -> list[str]:
    """Clean up after earlier runs that died without cleaning up."""
    found: list[str] = []
    if not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        if not (name.startswith("ledger-") and name.endswith(".json")):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            os.unlink(path)
            continue
        if _alive(data.get("pid", 0)):
            continue  # a run in progress (another terminal): not ours to touch
        found += [f"(from dead run {data.get('pid')}) {x}" for x in sweep(data)]
        os.unlink(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stop_proc(pid: int, marker: str) -> bool:
    if marker not in _cmdline(pid):
        return False  # gone, or the pid now belongs to someone else
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while marker in _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if marker in _cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def sweep(data: dict) -> list[str]:
    """Remove what ``data`` (a ledger) lists. Each step is independent: one failing
    (say NB unreachable) does not stop the others."""
    found: list[str] = []

    def attempt(what: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # report, go on with the rest
            found.append(f"cleanup step failed: {what}: {exc}")

    for entry in data.get("procs", []):
        attempt(f"stopping pid {entry['pid']}",
                lambda e=entry: _stop_proc(e["pid"], e["marker"])
                and found.append(f"process {e['pid']}"))
    endpoints: dict[str, str] = data.get("endpoints", {})
    networks: dict[str, str] = data.get("networks", {})
    if endpoints:
        attempt("OVS ports", lambda: found.extend(_sweep_ovs(set(endpoints))))
        for eid, kind in endpoints.items():
            for name in veth_names(kind, eid):
                attempt(f"veth {name}",
                        lambda n=name: links.delete(n) and found.append(f"veth {n}"))
    for name in data.get("links", []):
        attempt(f"interface {name}", lambda n=name: found.extend(_sweep_link(n)))
    if endpoints or networks:
        attempt("NB rows", lambda: found.extend(_sweep_nb(set(networks), set(endpoints))))
    # Always: labelled containers may exist even when no network was recorded.
    attempt("Docker", lambda: found.extend(_sweep_docker(data.get("docker_networks", []))))
    for path in data.get("dirs", []):
        shutil.rmtree(path, ignore_errors=True)
    return found


def _sweep_ovs(endpoint_ids: set[str]) -> list[str]:
    from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch

    found = []
    ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
    try:
        for row in list(ovs.api.tables["Interface"].rows.values()):
            if row.external_ids.get("iface-id") in endpoint_ids:
                ovs.unplug(row.name)
                found.append(f"OVS port {row.name}")
    finally:
        ovs.close()
    return found


def _sweep_link(name: str) -> list[str]:
    from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch

    found = []
    ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
    try:
        if any(row.name == name for row in ovs.api.tables["Port"].rows.values()):
            ovs.unplug(name)
            found.append(f"OVS port {name}")
    finally:
        ovs.close()
    if links.delete(name):
        found.append(f"veth {name}")
    return found


def _sweep_nb(network_ids: set[str], endpoint_ids: set[str]) -> list[str]:
    from bench.request_path.nbrows import nb_remote
    from dockovn.ovn.nb import Northbound

    found = []
    nb = Northbound(nb_remote(), timeout=10)
    try:
        for nid in network_ids:
            if nb.switch(nid) is not None:
                nb.delete_switch(nid)
                found.append(f"logical switch {nid[:12]}")
        for eid in endpoint_ids:
            if nb.api.lookup("Logical_Switch_Port", eid, default=None) is not None:
                nb.delete_port(eid)
                found.append(f"logical switch port {eid[:12]}")
    finally:
        nb.close()
    return found


def _sweep_docker(network_names: list[str]) -> list[str]:
    import docker

    found = []
    try:
        client = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=60)
        client.ping()
    except Exception:
        return found  # no dockerd: nothing of ours can run in it
    try:
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            c.remove(force=True)
            found.append(f"container {c.name}")
        for name in network_names:
            try:
                client.networks.get(name).remove()
                found.append(f"docker network {name}")
            except docker.errors.NotFound:
                pass
    finally:
        client.close()
    return found
