"""The machine's stack, as `dockovn up` starts it, and what it is made of (for the report)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from typing import Callable

from dockovn.deploy import central, chassis, dockerd, driver_daemon, openvswitch
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch


def ensure_up(progress) -> list[tuple[str, Callable[[], object]]]:
    """Start what is not running, in `dockovn up`'s order; return (name, stop) for what
    this call started, so a caller that must leave the machine as it was can undo it."""
    started: list[tuple[str, Callable[[], object]]] = []
    try:
        if openvswitch.start():
            started.append(("Open vSwitch", openvswitch.stop))
        if central.start(central.LOCAL):
            started.append(("OVN central", central.stop))
        host = chassis.HostConfig(central=chassis.LOCAL, encap_ip="127.0.0.1")
        if chassis.setup(host).controller_started:
            started.append(("ovn-controller", lambda: chassis.stop_controller(host)))
        # The driver before dockerd, as `dockovn up` does.
        if driver_daemon.start():
            started.append(("dockovn driver", driver_daemon.stop))
        if dockerd.start():
            started.append(("dockerd", dockerd.stop))
        dockerd.ensure_image(dockerd.DockerdConfig().host)
    except BaseException:
        stop(started)
        raise
    if started:
        progress("started: " + ", ".join(name for name, _ in started))
    return started


def stop(started: list[tuple[str, Callable[[], object]]]) -> None:
    for _, undo in reversed(started):
        try:
            undo()
        except Exception:
            pass


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _first_line_version(cmd: list[str]) -> str:
    line = _out(cmd).splitlines()[:1]
    return line[0].split()[-1] if line else "?"


def _deb(pkg: str) -> str:
    return _out(["dpkg-query", "-W", "-f=${Version}", pkg]) or "not installed"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _checkout() -> str:
    """The checkout's commit, read from .git (no git command: others use this repo)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(root, ".git", "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            with open(os.path.join(root, ".git", head[5:])) as f:
                return f.read().strip()[:12] + " (plus any uncommitted changes)"
        return head[:12]
    except OSError:
        return "unknown"


def load_average() -> str:
    """1/5/15-minute load: tells a reader whether something else ran during the benchmark."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine() -> str:
    """CPU, cores, memory, kernel and Debian release, for a report's header."""
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    return (f"{_cpu()}, {os.cpu_count()} cores, {_mem_gib():.0f} GiB RAM, "
            f"Linux {platform.release()}, Debian {debian}")


def describe() -> dict[str, str]:
    import dockovn

    try:
        ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=5)
        try:
            datapath = ovs.datapath_type()
        finally:
            ovs.close()
    except Exception:
        datapath = "?"
    docker_version = _out(["/usr/bin/docker", "version", "-f", "{{.Server.Version}}"]) or "?"
    flask = _out(["/usr/bin/python3", "-c", "import flask; print(flask.__version__)"]) or "?"
    versions = (f"Docker {docker_version}, Open vSwitch {_first_line_version(['ovs-vsctl', '--version'])}, "
                f"OVN {_first_line_version(['ovn-nbctl', '--version'])}, "
                f"ovn-docker {_deb('ovn-docker')}, dockovn {getattr(dockovn, '__version__', '?')}")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions,
        "br-int datapath": f"{datapath} ({'userspace' if datapath == 'netdev' else 'kernel'})",
        "Python": f"{platform.python_version()} for dockovn ({sys.executable}); "
                  f"{_out(['/usr/bin/python3', '-c', 'import platform; print(platform.python_version())'])} "
                  f"with Flask {flask} for the upstream driver (/usr/bin/python3)",
        "dockovn checkout": _checkout(),
    }
