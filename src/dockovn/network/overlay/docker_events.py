"""Learn names Docker never sends the driver, and write them into OVN NB.

CreateNetwork carries no network name and Join no container name. A thread
follows Docker's network events (and container renames) and records
``dockovn:name`` on the logical switch, ``dockovn:container-name`` and
``dockovn:aliases`` (--network-alias) on the logical switch port, so `dockovn ls`
shows them and every host's name server answers them (``network/names``). It runs
off the request path and catches up on everything at start and after each reconnect.
A write NB refused (unreachable, no Raft leader) is kept and tried again every
``retry_seconds`` until it lands: a name or label never reaching NB would leave a
container unnamed on other hosts and outside the policies that select it (open). And
every ``resync_seconds`` the whole catch-up runs again, whatever the events said: what
an event lost (or a bug) left out is repaired within that bound.

The same pass copies the container's labels (``dockovn:label:KEY``), which network
policies select by, and fills the service registry: a container labelled
``dockovn.service=S`` and ``dockovn.port=P`` gets ``dockovn:service`` and
``dockovn:service-port`` on its ports (labels are fixed for a container's life,
so writing them when the port is named is enough). A container without these
labels keeps whatever `dockovn service add` wrote by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from dockovn import metrics
from dockovn.host.docker_engine import Attachment, DockerEngine, same_driver
from dockovn.network import external_ids
from dockovn.network.api import DRIVER_NAME
from dockovn.network.policy.model import LABEL_KEY
from dockovn.network.services.model import ServiceError, registry_ids
from dockovn.ovn.nb import Northbound, NorthboundError

LOG = logging.getLogger(__name__)



class NameSync:
    def __init__(self, nb: Northbound, engine_factory: Callable[[], DockerEngine],
                 driver_name: str = DRIVER_NAME, retry_seconds: float = 2.0,
                 resync_seconds: float = 60.0):
        self.nb = nb
        self.engine_factory = engine_factory
        self.driver_name = driver_name
        self.retry_seconds = retry_seconds
        self.resync_seconds = resync_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-names", daemon=True)
        self._retrier = threading.Thread(target=self._retry_loop, name="dockovn-names-retry",
                                         daemon=True)
        self._bad_labels: set[str] = set()  # containers already warned about
        # Writes NB refused, by what they name (a newer write of the same replaces it).
        self._lock = threading.Lock()
        self._unwritten_networks: dict[str, str] = {}       # network ID -> name
        self._unwritten_ports: dict[str, Attachment] = {}   # endpoint ID -> attachment

    def start(self) -> None:
        self._thread.start()
        self._retrier.start()

    @property
    def unwritten(self) -> int:
        """How many names NB has yet to take."""
        with self._lock:
            return len(self._unwritten_networks) + len(self._unwritten_ports)

    def retry_unwritten(self) -> None:
        with self._lock:
            networks, ports = dict(self._unwritten_networks), dict(self._unwritten_ports)
        for network_id, name in networks.items():
            self.name_network(network_id, name)
        for att in ports.values():
            self.name_port(att)

    def _retry_loop(self) -> None:
        next_resync = time.monotonic() + self.resync_seconds
        while not self._stop.wait(self.retry_seconds):
            try:
                self.retry_unwritten()
                if time.monotonic() >= next_resync:
                    next_resync = time.monotonic() + self.resync_seconds
                    self.resync()
            except Exception as exc:  # Docker away, or a bug: never end the retries for good
                LOG.warning("names: %s; trying again in %gs", exc, self.retry_seconds)

    def resync(self) -> None:
        """The whole catch-up, with an engine of its own (the events thread has one)."""
        engine = self.engine_factory()
        try:
            self.catch_up(engine)
        finally:
            engine.close()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                engine = self.engine_factory()
                try:
                    # Subscribe first, then catch up: a network or container made
                    # while catching up is then in the stream, not lost between
                    # the two (it arrives twice at worst, and writes are idempotent).
                    events = engine.naming_events()
                    self.catch_up(engine)
                    for event in events:
                        if self._stop.is_set():
                            return
                        self.on_event(engine, event)
                finally:
                    engine.close()
            except Exception as exc:  # dockerd not up yet, or restarted
                LOG.debug("docker events: %s; retrying", exc)
            self._stop.wait(self.retry_seconds)

    def catch_up(self, engine: DockerEngine) -> None:
        with metrics.counted_sync("names"):
            for net in engine.networks(self.driver_name):
                self.name_network(net.id, net.name)
            for att in engine.attachments():
                self.name_port(att)

    def on_event(self, engine: DockerEngine, event: dict) -> None:
        actor = event.get("Actor") or {}
        attrs = actor.get("Attributes") or {}
        if event.get("Type") != "container" and not same_driver(attrs.get("type", ""),
                                                               self.driver_name):
            return
        action = event.get("Action")
        if event.get("Type") == "container":
            if action == "rename":  # the container's ports carry the new name
                for att in engine.attachments(actor.get("ID", "")):
                    self.name_port(att)
            return
        if action == "create":
            self.name_network(actor.get("ID", ""), attrs.get("name", ""))
        elif action == "connect" and attrs.get("container"):
            for att in engine.attachments(attrs["container"]):
                if att.network_id == actor.get("ID"):
                    self.name_port(att)

    def name_network(self, network_id: str, name: str) -> None:
        """Record the network's name on its switch (or keep it to retry)."""
        switch = self.nb.switch(network_id)
        if switch is None or not name or switch.external_ids.get(external_ids.NETWORK_NAME) == name:
            self._written(self._unwritten_networks, network_id)
            return
        try:
            self.nb.set_switch_ids(network_id, {external_ids.NETWORK_NAME: name})
        except NorthboundError as exc:
            self._unwritten(self._unwritten_networks, network_id, name,
                            f"naming network {network_id[:12]}: {exc}")
        else:
            self._written(self._unwritten_networks, network_id)

    def _unwritten(self, pending: dict, key: str, value, warning: str) -> None:
        with self._lock:
            first = key not in pending
            pending[key] = value
        if first:  # once, not on every retry
            LOG.warning("%s; trying again every %gs", warning, self.retry_seconds)

    def _written(self, pending: dict, key: str) -> None:
        with self._lock:
            if pending.pop(key, None) is not None:
                LOG.info("NB took the name of %s it had refused", key[:12])

    def name_port(self, att: Attachment) -> None:
        """Record the container's name, aliases, labels and registration on the
        endpoint's port (or keep them to retry)."""
        port = self.nb.port(att.endpoint_id)
        if port is None:  # gone (or not made yet: Docker's connect event comes later)
            self._written(self._unwritten_ports, att.endpoint_id)
            return
        want = {external_ids.CONTAINER_ID: att.container_id,
                external_ids.CONTAINER_NAME: att.container_name,
                external_ids.ALIASES: " ".join(att.aliases)}
        want.update(self._registry_ids(att))
        # Network policies select by these (network/policy). Labels are fixed for a
        # container's life, so they are written once, with its name.
        want.update({external_ids.LABEL_PREFIX + k: v for k, v in att.labels.items()
                     if LABEL_KEY.fullmatch(k)})
        if all(port.external_ids.get(k) == v for k, v in want.items()):
            self._written(self._unwritten_ports, att.endpoint_id)
            return
        try:
            # One write: the name and the registration arrive together, so a
            # balancer never lists an instance without its container name.
            self.nb.set_port_ids(att.endpoint_id, want)
        except NorthboundError as exc:
            self._unwritten(self._unwritten_ports, att.endpoint_id, att,
                            f"naming endpoint {att.endpoint_id[:12]}: {exc}")
        else:
            self._written(self._unwritten_ports, att.endpoint_id)

    def _registry_ids(self, att: Attachment) -> dict[str, str]:
        try:
            return registry_ids(att.labels)
        except ServiceError as exc:
            # Wrong labels must not stop the container from being named: skip the
            # registration, and say so once per container, not on every event.
            if att.container_id not in self._bad_labels:
                self._bad_labels.add(att.container_id)
                LOG.warning("container %s is not registered as a service instance: %s",
                            att.container_name or att.container_id[:12], exc)
            return {}

