"""The garbage-collection loop both backends share: find stale state, remove it, report.

A backend subclasses ``BaseCollector`` with its own ``find`` (what is stale on
this host, for that backend) and ``remove``. Shared here: asking dockerd which
endpoints are live (if it cannot say, nothing is removed), the check for dockovn
veths on no bridge, the dry-run/report loop, and the run at driver start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from dockovn import metrics
from dockovn.host import links
from dockovn.host.docker_engine import DockerEngine
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.network import external_ids, identifiers
from dockovn.network.api import DRIVER_NAME

LOG = logging.getLogger(__name__)

VETH_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Stale:
    kind: str      # "logical port", "ovs port", "veth", "network", "network alias", "pool",
    #                "router port"
    name: str
    reason: str


def age(ids: dict[str, str], now: float) -> float:
    try:
        return now - float(ids.get(external_ids.CREATED_AT, "0"))
    except ValueError:
        return now


class BaseCollector:
    """find() what is stale, remove() one item; run() does both and reports."""

    errors: tuple[type[Exception], ...] = (OvsError, links.LinkError)

    def __init__(self, ovs: LocalSwitch, engine_factory: Callable[[], DockerEngine],
                 min_age: float):
        self.ovs = ovs
        self.engine_factory = engine_factory
        self.min_age = min_age

    def _docker_view(self) -> tuple[dict[str, str], set[str]]:
        """(live endpoint -> container name, ids of dockovn networks), from dockerd.
        Raises if dockerd cannot be asked: then nothing may be removed."""
        engine = self.engine_factory()
        try:
            return (engine.live_endpoints(DRIVER_NAME),
                    {n.id for n in engine.networks(DRIVER_NAME)})
        finally:
            engine.close()

    def find(self) -> list[Stale]:
        raise NotImplementedError

    def remove(self, item: Stale) -> None:
        raise NotImplementedError

    def _veths(self) -> list[Stale]:
        """dockovn veths on no OVS bridge, seen twice a moment apart (so a Join
        between creating and plugging its veth is left alone)."""
        def unplugged() -> set[str]:
            on_ovs = self.ovs.all_port_names()
            return {n for n in links.names_with_prefix(identifiers.OUTER_PREFIX) if n not in on_ovs}

        first = unplugged()
        if not first:
            return []
        time.sleep(VETH_RECHECK_SECONDS)
        return [Stale("veth", n, "on no OVS bridge") for n in sorted(first & unplugged())]

    def run(self, dry_run: bool = False) -> list[tuple[Stale, str]]:
        """Find stale state and (unless ``dry_run``) remove it: [(item, outcome)]."""
        results = []
        for item in self.find():
            if dry_run:
                results.append((item, "would remove"))
                continue
            try:
                self.remove(item)
                results.append((item, "removed"))
                metrics.GC_REMOVED.labels(item.kind).inc()
            except self.errors as exc:
                results.append((item, f"failed: {exc}"))
        for item, outcome in results:
            LOG.debug("gc: %s %s %s (%s)", outcome, item.kind, item.name[:24], item.reason)
        return results


def run_in_background(collector: BaseCollector, retry_seconds: float = 2.0,
                      attempts: int = 30, interval: float = 0.0,
                      stop: threading.Event | None = None) -> threading.Thread:
    """Reconcile once dockerd answers (never before the socket is served: a dockerd at
    boot may be waiting on this very plugin), then every ``interval`` seconds (0: once).

    The periodic pass is what reclaims state a failed request left while the driver
    runs (a `docker rm` during an NB outage leaves its port holding its address)."""
    stop = stop or threading.Event()

    def first_pass() -> bool:
        for _ in range(attempts):
            try:
                results = collector.run()
            except Exception as exc:  # dockerd not answering yet
                LOG.debug("gc at start: %s; retrying", exc)
                if stop.wait(retry_seconds):
                    return False
                continue
            _report("gc at start", results, always=True)
            return True
        LOG.warning("gc at start: dockerd never answered; skipped")
        return False

    def work() -> None:
        first_pass()
        while interval > 0 and not stop.wait(interval):
            try:
                _report("gc", collector.run(), always=False)
            except Exception as exc:  # dockerd or central away: next round
                LOG.debug("gc: %s; next round in %gs", exc, interval)

    thread = threading.Thread(target=work, name="dockovn-gc", daemon=True)
    thread.start()
    return thread


def _report(what: str, results: list[tuple[Stale, str]], always: bool) -> None:
    removed = [item for item, outcome in results if outcome == "removed"]
    if removed or always:
        LOG.info("%s: removed %d stale item(s)%s", what, len(removed),
                 ": " + ", ".join(sorted({i.kind for i in removed})) if removed else "")
