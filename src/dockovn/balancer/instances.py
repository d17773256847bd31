"""What a balancer balances over: service instances, and where their lists come from.

A source only has to answer "which instances does service S have right now" from
memory and say when that answer changes; the balancer never asks a database per call.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

LOG = logging.getLogger(__name__)

# Called with (service_id, its instances now) after a service's list changed; an
# empty tuple means the service has no instances any more.
Listener = Callable[[str, tuple["ServiceInstance", ...]], None]


@dataclass(frozen=True)
class ServiceInstance:
    """One reachable copy of a service: connect to ``host``:``port``.

    ``instance_id`` names the instance across list refreshes (the OVN port name, so
    a container's stats survive a relabel of some other container); it defaults to
    ``host:port``. ``metadata`` is left out of the hash (a dict is not hashable) but
    kept in equality, so a changed container name still counts as a change.
    """

    service_id: str
    host: str
    port: int
    zone: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    instance_id: str = ""

    def __post_init__(self):
        if not self.instance_id:
            object.__setattr__(self, "instance_id", f"{self.host}:{self.port}")

    @property
    def address(self) -> str:
        """``host:port`` as it goes in a URI (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class InstanceSource(Protocol):
    """Where a balancer gets instance lists: from memory, kept current by the source."""

    def instances(self, service_id: str) -> list[ServiceInstance]:
        """The service's instances now, in a stable order; [] for an unknown service."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after any service's list changes; returns an unsubscribe."""


class Listeners:
    """A thread-safe listener list, shared by the sources."""

    def __init__(self):
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def fire(self, service_id: str, instances: tuple[ServiceInstance, ...]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            # One broken listener must not keep the others (or the source) from
            # seeing changes.
            try:
                listener(service_id, instances)
            except Exception:
                LOG.exception("instance listener %r failed for %s", listener, service_id)


class StaticInstances:
    """An InstanceSource whose lists are set by hand: fixed configurations and tests."""

    def __init__(self, instances: Iterable[ServiceInstance] = ()):
        self._lists: dict[str, tuple[ServiceInstance, ...]] = {}
        self._listeners = Listeners()
        grouped: dict[str, list[ServiceInstance]] = {}
        for instance in instances:
            grouped.setdefault(instance.service_id, []).append(instance)
        for service_id, members in grouped.items():
            self._lists[service_id] = tuple(members)

    def instances(self, service_id: str) -> list[ServiceInstance]:
        return list(self._lists.get(service_id, ()))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def set(self, service_id: str, instances: Iterable[ServiceInstance]) -> None:
        """Replace the service's list and tell the listeners."""
        new = tuple(instances)
        if self._lists.get(service_id, ()) == new:
            return
        if new:
            self._lists[service_id] = new
        else:
            self._lists.pop(service_id, None)
        self._listeners.fire(service_id, new)
