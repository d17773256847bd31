"""Open vSwitch's and OVN's own counters on this machine, read when Prometheus scrapes.

Every OVS and OVN daemon counts events (``coverage/show``: flows installed, packets
upcalled, database transactions...) and ovn-controller and ovn-northd time their main
steps (``stopwatch/show``); a Raft member knows its role and term (``cluster/status``),
ovn-controller whether it is connected to the Southbound DB (``connection-status``).
They say so over their control sockets. This collector finds the daemons running in
the given run directories (by their pidfiles, as ``ovs-appctl -t NAME`` does) and asks
each one what ``ovs-appctl`` would, over its socket, with a short timeout: a daemon
that does not answer counts as down for that scrape, never waited for (ovn-kubernetes
scrapes the same commands).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

APPCTL_TIMEOUT = 2.0  # seconds per command
# (name in metrics, pidfile and control socket stem)
DAEMONS = (
    ("ovs-vswitchd", "ovs-vswitchd"),
    ("ovsdb-server", "ovsdb-server"),     # the host's OVS database
    ("ovn-controller", "ovn-controller"),
    ("ovn-northd", "ovn-northd"),         # the central's (deploy/central.py)
    ("ovn-nb-db", "ovnnb_db"),
    ("ovn-sb-db", "ovnsb_db"),
)
RAFT_DATABASES = {"ovn-nb-db": "OVN_Northbound", "ovn-sb-db": "OVN_Southbound"}
STOPWATCH_DAEMONS = ("ovn-controller", "ovn-northd")

_COVERAGE = re.compile(r"^(\S+)\s+[\d.]+/sec\s+[\d.]+/sec\s+[\d.]+/sec\s+total: (\d+)\s*$")
_STOPWATCH = re.compile(r"^Statistics for '([^']+)'")
_STAT = re.compile(r"^\s*(Total samples|Maximum|95th percentile|Long term average):\s*"
                   r"([\d.]+)")


@dataclass(frozen=True)
class Daemon:
    name: str
    control: str  # its control socket


def find_daemons(rundirs: list[str]) -> list[Daemon]:
    """The daemons of ``DAEMONS`` with a pidfile and control socket in one of ``rundirs``
    (the first folder that has one)."""
    found, seen = [], set()
    for rundir in rundirs:
        for name, stem in DAEMONS:
            if name in seen:
                continue
            # (A pidfile left by a daemon that died names a socket nobody answers on:
            # dockovn_daemon_up says 0. No kill(pid, 0): a managed plugin has a pid
            # namespace of its own.)
            try:
                with open(os.path.join(rundir, f"{stem}.pid")) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                continue
            # NAME.PID.ctl by default; NAME.ctl when started with --unixctl (dockovn's
            # own start-up does, as Debian's scripts do for OVN's)
            for control in (f"{stem}.{pid}.ctl", f"{stem}.ctl"):
                if os.path.exists(os.path.join(rundir, control)):
                    found.append(Daemon(name, os.path.join(rundir, control)))
                    seen.add(name)
                    break
    return found


def appctl(control: str, *command: str) -> str | None:
    """What ``ovs-appctl -t CONTROL COMMAND...`` prints, asked in-process: unixctl is
    JSON-RPC on the daemon's socket, and a fork per command made a scrape of six daemons
    cost ~50 ms of CPU. (python-ovs' UnixctlClient waits without a deadline: a stopped
    daemon would hold the scrape for good.) None if it does not answer in time."""
    deadline = time.monotonic() + APPCTL_TIMEOUT
    request = {"method": command[0], "params": list(command[1:]), "id": 0}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(APPCTL_TIMEOUT)
            sock.connect(control)
            sock.sendall(json.dumps(request).encode())
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk or time.monotonic() > deadline:
                    return None
                received += chunk
                try:
                    reply, _ = json.JSONDecoder().raw_decode(received.decode())
                    break
                except ValueError:  # not all of it yet
                    continue
    except (OSError, UnicodeDecodeError):
        return None
    if not isinstance(reply, dict) or reply.get("error") is not None:
        return None
    result = reply.get("result")
    return result if isinstance(result, str) else None


def parse_coverage(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for line in text.splitlines()
            if (m := _COVERAGE.match(line))}


def parse_stopwatches(text: str) -> dict[str, dict[str, float]]:
    """{stopwatch: {"samples", "max_ms", "p95_ms", "avg_ms"}} from ``stopwatch/show``."""
    keys = {"Total samples": "samples", "Maximum": "max_ms", "95th percentile": "p95_ms",
            "Long term average": "avg_ms"}
    out: dict[str, dict[str, float]] = {}
    current = None
    for line in text.splitlines():
        if m := _STOPWATCH.match(line):
            current = out.setdefault(m.group(1), {})
        elif current is not None and (m := _STAT.match(line)):
            current[keys[m.group(1)]] = float(m.group(2))
    return out


def parse_raft(text: str) -> tuple[int, bool] | None:
    """(term, whether this member leads) from ``cluster/status``."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["Term"].strip()), fields["Role"].strip() == "leader"
    except (KeyError, ValueError):
        return None


class DaemonCounters:
    """A prometheus_client collector over the OVS and OVN daemons in ``rundirs``."""

    def __init__(self, rundirs: list[str]):
        self.rundirs = list(dict.fromkeys(rundirs))
        self._terms: dict[str, int] = {}
        self._elections: dict[str, int] = {}

    def collect(self):
        coverage = CounterMetricFamily(
            "dockovn_daemon_coverage_events", "OVS's and OVN's own event counters "
            "(coverage/show), by daemon and event.", labels=["daemon", "event"])
        samples = CounterMetricFamily(
            "dockovn_daemon_stopwatch_samples", "Runs of a timed step of ovn-controller or "
            "ovn-northd (stopwatch/show).", labels=["daemon", "stopwatch"])
        timing = GaugeMetricFamily(
            "dockovn_daemon_stopwatch_seconds", "A timed step's duration: its maximum, 95th "
            "percentile and long-term average (stopwatch/show).",
            labels=["daemon", "stopwatch", "stat"])
        term = GaugeMetricFamily("dockovn_raft_term", "This member's Raft term.",
                                 labels=["db"])
        leader = GaugeMetricFamily("dockovn_raft_leader", "1 while this member is the "
                                   "database's Raft leader.", labels=["db"])
        elections = CounterMetricFamily(
            "dockovn_raft_elections_seen", "Raft term increments this exporter saw from one "
            "scrape to the next (one per election, won or not).", labels=["db"])
        up = GaugeMetricFamily("dockovn_daemon_up", "1 for a daemon that answered this "
                               "scrape.", labels=["daemon"])
        sb = GaugeMetricFamily("dockovn_ovn_controller_sb_connected", "1 while this host's "
                               "ovn-controller is connected to the Southbound DB.")
        for daemon in find_daemons(self.rundirs):
            text = appctl(daemon.control, "coverage/show")
            up.add_metric([daemon.name], 1.0 if text is not None else 0.0)
            for event, total in sorted(parse_coverage(text or "").items()):
                coverage.add_metric([daemon.name, event], float(total))
            if daemon.name == "ovn-controller":
                status = appctl(daemon.control, "connection-status")
                if status is not None:
                    sb.add_metric([], 1.0 if status.strip() == "connected" else 0.0)
            if daemon.name in STOPWATCH_DAEMONS:
                for name, stats in sorted(parse_stopwatches(
                        appctl(daemon.control, "stopwatch/show") or "").items()):
                    samples.add_metric([daemon.name, name], stats.get("samples", 0.0))
                    for stat in ("max", "p95", "avg"):
                        if f"{stat}_ms" in stats:
                            timing.add_metric([daemon.name, name, stat],
                                              stats[f"{stat}_ms"] / 1000)
            if daemon.name in RAFT_DATABASES:
                raft = parse_raft(appctl(daemon.control, "cluster/status",
                                         RAFT_DATABASES[daemon.name]) or "")
                if raft is not None:
                    db = daemon.name.removesuffix("-db").removeprefix("ovn-")
                    self._count_election(db, raft[0])
                    term.add_metric([db], float(raft[0]))
                    leader.add_metric([db], 1.0 if raft[1] else 0.0)
                    elections.add_metric([db], float(self._elections[db]))
        yield from (up, sb, coverage, samples, timing, term, leader, elections)

    def _count_election(self, db: str, term: int) -> None:
        last = self._terms.get(db)
        self._elections.setdefault(db, 0)
        if last is not None and term > last:
            self._elections[db] += term - last
        self._terms[db] = term

    def describe(self):
        return []
