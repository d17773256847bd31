"""The two drivers under test, each as its own process that only the benchmark talks to.

- dockovn: `python -m dockovn driver` from this checkout on a private plugin
  folder, so the driver dockerd uses (/run/docker/plugins/dockovn.sock) is not
  disturbed. It uses the machine's NB and br-int, as the upstream driver does.
- upstream: Debian's /usr/bin/ovn-docker-overlay-driver, run from a temporary,
  patched copy (see UPSTREAM_PATCHES: every change is printed in the results).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from bench.protocol import PluginClient
from dockovn.deploy.driver_daemon import socket_answers

UPSTREAM_SOURCE = "/usr/bin/ovn-docker-overlay-driver"
# The upstream script imports Debian's python3-openvswitch and python3-flask:
# it must run on Debian's interpreter, not the venv's.
SYSTEM_PYTHON = "/usr/bin/python3"

# (what, original text, replacement): applied to a temporary copy, never to the package.
UPSTREAM_PATCHES = (
    ("Python 3 fix: call_popen returned bytes, so `.strip('\"')` on its result raised "
     "TypeError and the driver could not start",
     "output = output[0].strip()", "output = output[0].decode().strip()"),
    ("listen on 127.0.0.1:<free port> instead of 0.0.0.0:5000 (benchmark traffic stays on "
     "loopback)",
     "app.run(host='0.0.0.0')", "app.run(host='127.0.0.1', port={port})"),
    ("write its plugin spec file into the temporary folder, not /etc/docker/plugins "
     "(the running dockerd must not discover it)",
     'PLUGIN_DIR = "/etc/docker/plugins"', 'PLUGIN_DIR = "{tmp}"'),
    ("(same, the file itself)",
     'PLUGIN_FILE = "/etc/docker/plugins/openvswitch.spec"',
     'PLUGIN_FILE = "{tmp}/openvswitch.spec"'),
)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}:\n{_tail(log)}")


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class DriverProcess:
    """A driver process the benchmark started (and alone stops)."""

    name: str                      # "upstream" or "dockovn": the label in every table
    workdir: str
    proc: subprocess.Popen | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, f"{self.name}.log")

    def client(self) -> PluginClient:
        raise NotImplementedError

    def rss_kib(self) -> tuple[int, int]:
        return rss_kib(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DockovnDriver(DriverProcess):
    """dockovn from this checkout, on ``<workdir>/plugins/dockovn.sock``."""

    def __init__(self, workdir: str, extra_args: tuple[str, ...] = ("--metrics-address", "")):
        super().__init__("dockovn", workdir)
        # (metrics off by default: the machine's own driver may serve the default port)
        self.extra_args = extra_args

    @property
    def socket(self) -> str:
        return os.path.join(self.workdir, "plugins", "dockovn.sock")

    def start(self) -> "DockovnDriver":
        os.makedirs(os.path.dirname(self.socket), exist_ok=True)
        # No Docker socket: the name-sync thread would otherwise follow the real
        # dockerd's events and write names that the driver dockerd uses already writes.
        cmd = [sys.executable, "-m", "dockovn", "driver",
               "--plugin-dir", os.path.dirname(self.socket),
               "--docker-host", f"unix://{self.workdir}/no-docker.sock", *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        _wait(lambda: socket_answers(self.socket), 30, "the dockovn driver", self.proc,
              self.log_path)
        self.notes.append(f"dockovn: `{' '.join(cmd[1:])}` (this checkout, default NB and "
                          "OVS, br-int), its own socket so the driver dockerd uses is untouched")
        return self

    def client(self) -> PluginClient:
        return PluginClient(unix_path=self.socket)


class UpstreamDriver(DriverProcess):
    """A temporary, patched copy of ovn-docker-overlay-driver on 127.0.0.1:<free port>."""

    def __init__(self, workdir: str):
        super().__init__("upstream", workdir)
        self.port = 0

    @property
    def script(self) -> str:
        return os.path.join(self.workdir, "ovn-docker-overlay-driver.py")

    def prepare(self) -> None:
        """Copy the packaged script and apply UPSTREAM_PATCHES; refuse if one does not apply
        (a changed package must be looked at, not benchmarked blindly)."""
        if not os.path.exists(UPSTREAM_SOURCE):
            raise RuntimeError(f"{UPSTREAM_SOURCE} is missing: apt-get install ovn-docker "
                               "python3-flask")
        self.port = _free_loopback_port()
        with open(UPSTREAM_SOURCE) as f:
            text = f.read()
        for what, old, new in UPSTREAM_PATCHES:
            if text.count(old) != 1:
                raise RuntimeError(f"upstream driver changed: cannot apply patch ({what}): "
                                   f"{old!r} found {text.count(old)} times")
            text = text.replace(old, new.format(port=self.port, tmp=self.workdir))
            self.notes.append(f"upstream patch: {what}")
        with open(self.script, "w") as f:
            f.write(text)

    def start(self) -> "UpstreamDriver":
        self.prepare()
        cmd = [SYSTEM_PYTHON, self.script]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, start_new_session=True)
        _wait(lambda: _tcp_answers(self.port), 30, "the upstream driver", self.proc,
              self.log_path)
        self.notes.insert(0, f"upstream: a temporary copy of {UPSTREAM_SOURCE} run by "
                          f"{SYSTEM_PYTHON} on 127.0.0.1:{self.port} (Flask development "
                          "server, as shipped); same NB (from ovs-vsctl external_ids:ovn-nb) "
                          "and br-int as dockovn")
        return self

    def client(self) -> PluginClient:
        return PluginClient(tcp=("127.0.0.1", self.port))


def _tcp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def new_workdir() -> str:
    return tempfile.mkdtemp(prefix="dockovn-bench-")


def remove_workdir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
