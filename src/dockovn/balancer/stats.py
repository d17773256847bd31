"""What the client has seen of each instance: load, speed and failures.

``LoadBalancerClient.execute`` records every call here; the rules only read. The
stats are this process's own view (like Ribbon's ServerStats), never shared: two
clients may well disagree about a server, and that is fine for balancing.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from dockovn.balancer.instances import ServiceInstance


class Circuit(enum.Enum):
    CLOSED = "closed"        # send requests
    OPEN = "open"            # too many failures in a row: skip until the back-off ends
    HALF_OPEN = "half-open"  # back-off over: let one trial request through


@dataclass
class _Entry:
    service_id: str
    active: int = 0
    requests: int = 0
    failures: int = 0               # total, for people
    consecutive_failures: int = 0
    response_time: float | None = None  # moving average, seconds; None until a success
    open_until: float = 0.0         # clock time the circuit's back-off ends


@dataclass(frozen=True)
class InstanceStats:
    """A copy of one instance's numbers, for rules and people."""

    active: int
    requests: int
    failures: int
    consecutive_failures: int
    response_time: float | None
    circuit: Circuit


class ServerStats:
    """Per-instance counters, safe to update from many threads.

    Circuit breaking (Ribbon's rules): after ``failure_threshold`` failures in a row
    the circuit opens for ``backoff`` seconds, doubling with each further failure up
    to ``max_backoff``; after that it is half-open, and the next request decides:
    success closes it, failure reopens it for longer.
    """

    def __init__(self, failure_threshold: int = 3, backoff: float = 10.0,
                 max_backoff: float = 30.0, smoothing: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self.failure_threshold = failure_threshold
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.smoothing = smoothing
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def _entry(self, instance: ServiceInstance) -> _Entry:
        entry = self._entries.get(instance.instance_id)
        if entry is None:
            entry = self._entries[instance.instance_id] = _Entry(instance.service_id)
        return entry

    # -- updates (from execute) ------------------------------------------------------

    def started(self, instance: ServiceInstance) -> None:
        with self._lock:
            entry = self._entry(instance)
            entry.active += 1
            entry.requests += 1

    def succeeded(self, instance: ServiceInstance, elapsed: float) -> None:
        with self._lock:
            entry = self._entry(instance)
            entry.active = max(0, entry.active - 1)
            entry.consecutive_failures = 0
            entry.open_until = 0.0
            # A moving average, so a server that got slow (or fast) shows it
            # within a few calls instead of after its whole history.
            if entry.response_time is None:
                entry.response_time = elapsed
            else:
                entry.response_time += self.smoothing * (elapsed - entry.response_time)

    def failed(self, instance: ServiceInstance) -> None:
        """A failed call. Its duration is not recorded: a refused connection is
        quick, and would make a dead server look like the fastest one."""
        with self._lock:
            entry = self._entry(instance)
            entry.active = max(0, entry.active - 1)
            entry.failures += 1
            entry.consecutive_failures += 1
            over = entry.consecutive_failures - self.failure_threshold
            if over >= 0:
                wait = min(self.max_backoff, self.backoff * 2 ** min(over, 32))
                entry.open_until = self.clock() + wait

    def finished(self, instance: ServiceInstance) -> None:
        """A call that ended in an error the caller does not blame on the server
        (not retried): it is no longer active, and the circuit is left alone."""
        with self._lock:
            entry = self._entry(instance)
            entry.active = max(0, entry.active - 1)

    def forget(self, service_id: str, keep: Iterable[str]) -> None:
        """Drop the service's instances that are not in ``keep`` (ids): they left."""
        keep = set(keep)
        with self._lock:
            for instance_id in [i for i, e in self._entries.items()
                                if e.service_id == service_id and i not in keep]:
                del self._entries[instance_id]

    # -- reads (from rules) ---------------------------------------------------------------

    def _circuit(self, entry: _Entry | None) -> Circuit:
        if entry is None or entry.consecutive_failures < self.failure_threshold:
            return Circuit.CLOSED
        return Circuit.OPEN if self.clock() < entry.open_until else Circuit.HALF_OPEN

    def circuit(self, instance: ServiceInstance) -> Circuit:
        with self._lock:
            return self._circuit(self._entries.get(instance.instance_id))

    def active(self, instance: ServiceInstance) -> int:
        with self._lock:
            entry = self._entries.get(instance.instance_id)
            return entry.active if entry else 0

    def response_time(self, instance: ServiceInstance) -> float | None:
        with self._lock:
            entry = self._entries.get(instance.instance_id)
            return entry.response_time if entry else None

    def available(self, instance: ServiceInstance, max_active: int | None = None) -> bool:
        """Worth sending a request to: circuit closed, or half-open with no trial
        request in flight yet (one trial at a time, not a stampede); and fewer than
        ``max_active`` requests in flight when a limit is given."""
        with self._lock:
            entry = self._entries.get(instance.instance_id)
            active = entry.active if entry else 0
            if max_active is not None and active >= max_active:
                return False
            state = self._circuit(entry)
            return state is Circuit.CLOSED or (state is Circuit.HALF_OPEN and active == 0)

    def snapshot(self, instance: ServiceInstance) -> InstanceStats:
        with self._lock:
            entry = self._entries.get(instance.instance_id) or _Entry(instance.service_id)
            return InstanceStats(entry.active, entry.requests, entry.failures,
                                 entry.consecutive_failures, entry.response_time,
                                 self._circuit(entry))
