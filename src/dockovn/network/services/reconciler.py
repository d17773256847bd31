"""Backends follow the registry: keep every service VIP's backends in step with NB.

Each host's driver runs one of these. It wakes when the Northbound IDL cache
changes (its change number moves) and recomputes, for every dockovn load
balancer, the backends and health-check mappings from the ports registered under
its service (``Services.reconcile``). It is level-triggered: it compares what
should be with what is, not what happened, so a missed change, a restart or a
half-finished write by another host is repaired on the next pass. Every host
computes the same desired state from the same NB, writes only differences, and
so concurrent writers converge instead of fighting; once they agree, nothing is
written at all.

It never runs on the plugin's request path, and calls nothing but NB.
"""

from __future__ import annotations

import logging
import threading

from dockovn import metrics
from dockovn.network.services.manager import Services
from dockovn.ovsdb import connected

LOG = logging.getLogger(__name__)


class BackendSync:
    def __init__(self, services: Services, interval: float = 0.5, resync_every: float = 30.0):
        self.services = services
        self.interval = interval
        self.resync_every = resync_every   # a pass now and then even when nothing moved
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-backends", daemon=True)
        self._last_error = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        last_seqno = None
        idle = 0.0
        while not self._stop.wait(self.interval):
            idle += self.interval
            # Read before the pass: a change made while it runs triggers another.
            seqno = self.services.lbs.change_seqno()
            if seqno == last_seqno and idle < self.resync_every:
                continue
            if not connected(self.services.nb.api):
                continue  # the cache may be stale; the reconnect moves the number
            try:
                with metrics.counted_sync("service_backends"):
                    self.services.reconcile()
                last_seqno, idle = seqno, 0.0
                self._last_error = ""
            except Exception as exc:  # NB went away mid-pass, a row vanished: next round
                if str(exc) != self._last_error:
                    LOG.warning("updating service backends: %s; retrying", exc)
                    self._last_error = str(exc)
