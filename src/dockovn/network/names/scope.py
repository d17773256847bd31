"""Which dockovn networks the container behind a query's source address is on.

Docker's embedded DNS forwards a miss from inside the container, so the query
arrives from one of the container's addresses: usually its address on Docker's
gateway bridge (the container's default route), but any of its networks' counts.
This host's Docker says which container has which address, and which of its
networks are dockovn's: a query is answered with those networks' names only.

The map is rebuilt when Docker reports a network connect/disconnect (a container
starting or stopping does both), and when a query comes from an address not in it,
so a container asking right after it started is known. That rebuild runs on a thread
of its own: the query waits for it UNKNOWN_WAIT seconds at most (other queries are
answered meanwhile), and an address still unknown then is remembered as such for
UNKNOWN_TTL seconds (a container on Docker's default bridge, which asks too, costs
one rebuild, not one per query). When Docker does not answer (a dockerd restart), the
last map stays in use.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from dockovn.host.docker_engine import DockerEngine
from dockovn.host.docker_engine import same_driver
from dockovn.network.api import DRIVER_NAME

LOG = logging.getLogger(__name__)

# Docker NetworkID -> the logical switch it names (an alias on hosts that did not create it)
SwitchOf = Callable[[str], "str | None"]


UNKNOWN_WAIT = 1.0   # seconds a query from an unknown address waits for a rebuild
UNKNOWN_TTL = 3.0    # seconds an address unknown after a rebuild stays unknown


class SourceScope:
    def __init__(self, engine_factory: Callable[[], DockerEngine], switch_of: SwitchOf,
                 retry_seconds: float = 2.0):
        self.engine_factory = engine_factory
        self.switch_of = switch_of
        self.retry_seconds = retry_seconds
        self._by_address: dict[str, set[str]] = {}
        self._unknown: dict[str, float] = {}  # address -> until when it is known unknown
        self._cond = threading.Condition()
        self._asked = 0    # rebuilds asked for by queries
        self._served = 0   # the asks the last finished rebuild started after
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, name="dockovn-dns-scope",
                                          daemon=True),
                         threading.Thread(target=self._on_demand, name="dockovn-dns-rebuild",
                                          daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def switches(self, address: str) -> set[str]:
        """The asking address's switches, from the map; for an unknown address, after a
        rebuild started since (UNKNOWN_WAIT at most)."""
        with self._cond:
            found = self._by_address.get(address)
            if found is not None:
                return set(found)
            if self._unknown.get(address, 0.0) > time.monotonic():
                return set()
            self._asked += 1
            mine = self._asked
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._served >= mine or self._stop.is_set(),
                                UNKNOWN_WAIT)
            found = self._by_address.get(address)
            if found is None:
                self._unknown[address] = time.monotonic() + UNKNOWN_TTL
            return set(found or ())

    def _on_demand(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._asked > self._served or self._stop.is_set())
                asked = self._asked
            try:
                self.refresh()
            except Exception as exc:  # Docker away: the last map stays
                LOG.debug("dns scope rebuild: %s", exc)
            with self._cond:
                self._served = asked
                self._cond.notify_all()

    def refresh(self, engine: DockerEngine | None = None) -> None:
        with self._refreshing:  # one at a time: an older listing never lands last
            self._refresh(engine)

    def _refresh(self, engine: DockerEngine | None) -> None:
        own = engine is None
        engine = engine or self.engine_factory()
        try:
            members = engine.network_members()
        finally:
            if own:
                engine.close()
        switches_of: dict[str, set[str]] = {}   # container -> its dockovn switches
        addresses_of: dict[str, set[str]] = {}  # container -> every address it has
        for network_id, driver, containers in members:
            switch = self.switch_of(network_id) if same_driver(driver, DRIVER_NAME) else None
            for container, addresses in containers.items():
                addresses_of.setdefault(container, set()).update(addresses)
                if switch:
                    switches_of.setdefault(container, set()).add(switch)
        by_address = {a: switches_of[c] for c, addrs in addresses_of.items()
                      if c in switches_of for a in addrs}
        now = time.monotonic()
        with self._cond:
            self._by_address = by_address
            self._unknown = {a: t for a, t in self._unknown.items()
                             if t > now and a not in by_address}

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                engine = self.engine_factory()
                try:
                    events = engine.network_events()  # subscribe, then catch up
                    self.refresh(engine)
                    for event in events:
                        if self._stop.is_set():
                            return
                        if event.get("Action") in ("connect", "disconnect", "destroy"):
                            self.refresh(engine)
                finally:
                    engine.close()
            except Exception as exc:  # dockerd not up yet, or restarted
                LOG.debug("dns scope: %s; retrying", exc)
            self._stop.wait(self.retry_seconds)
