"""What the page shows, read from OVN, and a watcher that notices when it changes.

Everything comes from what `dockovn topology`, `doctor` and `policy ls` read already:
the NB and SB caches (cheap: read every second), each Raft member's own answer about
its role (a request per member, bounded), and doctor's checks, which are slower (they
watch tunnel traffic) and so run on a longer period in the same thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from dockovn.diagnose.doctor import checkup, servers
from dockovn.diagnose.topology import model as topology
from dockovn.network.policy.manager import read_policies
from dockovn.ovn.nb import Northbound
from dockovn.ovn.port_groups import PortGroups
from dockovn.ovn.sb import Southbound

LOG = logging.getLogger(__name__)

RAFT_TIMEOUT = 2.0   # seconds a member may take to say its role


@dataclass(frozen=True)
class Sources:
    nb: Northbound
    sb: Southbound | None
    nb_remote: str
    sb_remote: str
    doctor: checkup.Config | None = None  # None: no doctor findings on the page


def raft_members(remote: str, database: str) -> list[dict]:
    """Each member in ``remote`` (a,b,c) as it describes itself: standalone or clustered,
    leader or not, or the error asking it gave."""
    return [{"remote": m.remote, "model": m.model, "leader": m.leader,
             "connected": m.connected, "error": m.error}
            for m in servers.ask_members(remote, database, RAFT_TIMEOUT)]


def policies(nb: Northbound) -> list[dict]:
    return [{"name": p.name, "network": p.network_names.get(p.network, p.network[:12])
             if p.network else "(all)", "allows_from": p.describe_sources(),
             "ports": p.describe_ports(), "allows_to": p.describe_destinations()}
            for p in read_policies(PortGroups(nb))]


def read_cluster(src: Sources) -> dict:
    """The page's picture from the NB and SB caches (``Watcher`` adds the Raft roles and
    doctor's findings, which ask servers and so are read less often)."""
    topo = topology.read(src.nb, src.sb).to_dict()
    return {
        "hosts": topo["hosts"], "networks": topo["networks"],
        "containers": topo["containers"], "services": topo["services"],
        "southbound": topo["southbound"], "policies": policies(src.nb),
    }


def read_raft(src: Sources) -> dict:
    return {"nb": raft_members(src.nb_remote, "OVN_Northbound"),
            "sb": raft_members(src.sb_remote, "OVN_Southbound")}


def doctor_findings(cfg: checkup.Config) -> list[dict]:
    return [f.as_dict() for f in checkup.run(cfg)]


class Watcher:
    """Reads the cluster every ``interval`` seconds, each member's Raft role every
    ``raft_interval`` (a TLS connection to each) and doctor every ``doctor_interval``, in
    a thread of its own, and calls ``changed(state)`` when the picture differs from the
    last one (so an idle cluster sends the page nothing)."""

    def __init__(self, src: Sources, changed: Callable[[dict], None], interval: float = 1.0,
                 doctor_interval: float = 30.0, raft_interval: float = 5.0,
                 read: Callable[[Sources], dict] = read_cluster,
                 raft: Callable[[Sources], dict] = read_raft):
        self.src, self.changed, self.read, self.read_raft = src, changed, read, raft
        self.interval, self.doctor_interval = interval, doctor_interval
        self.raft_interval = raft_interval
        self.state: dict = {}
        self._findings: list[dict] = []
        self._doctor_at = 0.0
        self._raft: dict = {}
        self._raft_at = 0.0
        self._last = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-ui", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def refresh(self) -> dict:
        """Read once now; the new state (also passed to ``changed`` if it differs)."""
        state = self.read(self.src)
        if time.monotonic() >= self._raft_at:
            self._raft_at = time.monotonic() + self.raft_interval
            self._raft = self.read_raft(self.src)
        state["raft"] = self._raft
        if self.src.doctor is not None and time.monotonic() >= self._doctor_at:
            self._doctor_at = time.monotonic() + self.doctor_interval
            try:
                self._findings = doctor_findings(self.src.doctor)
            except Exception as exc:  # doctor's own trouble must not blank the page
                self._findings = [{"scope": "host", "check": "doctor", "severity": "fail",
                                   "summary": f"doctor could not run: {exc}", "action": ""}]
        state["doctor"] = self._findings
        text = json.dumps(state, sort_keys=True, default=str)
        if text != self._last:
            self._last = text
            self.state = state
            self.changed(state)
        return self.state

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # NB away for a moment: the page keeps the last picture
                LOG.warning("reading the cluster: %s", exc)
            self._stop.wait(self.interval)
