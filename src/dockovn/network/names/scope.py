"""Which dockovn networks the container behind a query's source address is on.

Docker's embedded DNS forwards a miss from inside the container, so the query
arrives from one of the container's addresses: usually its address on Docker's
gateway bridge (the container's default route), but any of its networks' counts.
This host's Docker says which container has which address, and which of its
networks are dockovn's: a query is answered with those networks' names only.

The map is rebuilt when Docker reports a network connect/disconnect (a container
starting or stopping does both), and at once when a query comes from an address
not in it (rate-limited), so a container asking right after it started is known.
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


class SourceScope:
    def __init__(self, engine_factory: Callable[[], DockerEngine], switch_of: SwitchOf,
                 min_refresh: float = 0.2, retry_seconds: float = 2.0):
        self.engine_factory = engine_factory
        self.switch_of = switch_of
        self.min_refresh = min_refresh
        self.retry_seconds = retry_seconds
        self._by_address: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="dockovn-dns-scope",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def switches(self, address: str) -> set[str]:
        with self._lock:
            found = self._by_address.get(address)
        if found is None and time.monotonic() - self._last >= self.min_refresh:
            self.refresh()
            with self._lock:
                found = self._by_address.get(address)
        return set(found or ())

    def refresh(self, engine: DockerEngine | None = None) -> None:
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
        with self._lock:
            self._by_address = by_address
            self._last = time.monotonic()

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
