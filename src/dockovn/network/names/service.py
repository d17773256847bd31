"""Names across hosts, as the driver runs it: the records, the scope and the server.

The server listens on a link-local address of this host (default 169.254.53.53, on
loopback); containers reach it through their default route
(Docker's gateway bridge). dockerd lists it first among its DNS servers (daemon.json,
written by `dockovn host setup`), so Docker's embedded DNS asks it only for names
Docker does not know itself, and goes on to the host's upstreams when it refuses.

Records come from the local NB cache (rebuilt when NB changed since the last query),
so they keep answering while central is unreachable; if the driver is down, Docker
gets "connection refused" and goes straight on to the next server: local and
external names keep working, names of other hosts' containers do not until the
driver is back.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from dockovn.host import links
from dockovn.host.docker_engine import DockerEngine
from dockovn.network import external_ids
from dockovn.network.names import records
from dockovn.network.names.scope import SourceScope
from dockovn.network.names.server import DnsServer
from dockovn.ovn.nb import Northbound

LOG = logging.getLogger(__name__)

DEFAULT_ADDRESS = "169.254.53.53"


class NamesService:
    def __init__(self, nb: Northbound, engine_factory: Callable[[], DockerEngine],
                 address: str = DEFAULT_ADDRESS, port: int = 53):
        self.nb = nb
        self.address, self.port = address, port
        self.scope = SourceScope(engine_factory, self._switch_of)
        self._index = records.NameIndex()
        self._seqno = None
        self._lock = threading.Lock()
        self.server: DnsServer | None = None

    def start(self) -> None:
        # Left in place when the driver stops, on purpose: with the address there and
        # nothing listening, Docker gets "connection refused" at once and asks the next
        # server; without it the query would wander off by the default route and time out.
        links.ensure_local_address(self.address)
        self.server = DnsServer(self.address, self.lookup, self.port)
        self.server.start()
        self.scope.start()
        LOG.info("names across hosts: DNS on %s:%d", self.address, self.port)

    def stop(self) -> None:
        self.scope.stop()
        if self.server is not None:
            self.server.stop()

    def lookup(self, source: str) -> tuple[records.NameIndex, set[str]]:
        return self.index(), self.scope.switches(source)

    def index(self) -> records.NameIndex:
        seqno = self.nb.change_seqno()
        with self._lock:
            if seqno != self._seqno:
                self._index = self._build()
                self._seqno = seqno
            return self._index

    def _build(self) -> records.NameIndex:
        switches = self.nb.switches_with(external_ids.NETWORK_ID)
        return records.build(switches, self.nb.ports)

    def _switch_of(self, network_id: str) -> str | None:
        switch = self.nb.switch(network_id)
        if switch is not None and external_ids.NETWORK_ID in switch.external_ids:
            return switch.name
        found = self.nb.switches_with(external_ids.DOCKER_ID_PREFIX + network_id)
        return found[0].name if found else None
