"""Learn names Docker never sends the driver, and write them into OVN NB.

CreateNetwork carries no network name and Join no container name. A thread
follows Docker's network events and records ``dockovn:name`` on the logical
switch and ``dockovn:container-name`` on the logical switch port, so `dockovn
ls` (and other hosts) can show them. It runs off the request path and catches
up on everything at start and after each reconnect.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from dockovn.host.docker_engine import DockerEngine
from dockovn.network import keys
from dockovn.ovn.nb import Northbound, NorthboundError

LOG = logging.getLogger(__name__)

DRIVER_NAME = "dockovn"


class NameSync:
    def __init__(self, nb: Northbound, engine_factory: Callable[[], DockerEngine],
                 driver_name: str = DRIVER_NAME, retry_seconds: float = 2.0):
        self.nb = nb
        self.engine_factory = engine_factory
        self.driver_name = driver_name
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-names", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                engine = self.engine_factory()
                try:
                    self.catch_up(engine)
                    for event in engine.network_events():
                        if self._stop.is_set():
                            return
                        self.on_event(engine, event)
                finally:
                    engine.close()
            except Exception as exc:  # dockerd not up yet, or restarted
                LOG.debug("docker events: %s; retrying", exc)
            self._stop.wait(self.retry_seconds)

    def catch_up(self, engine: DockerEngine) -> None:
        for net in engine.networks(self.driver_name):
            self._name_network(net.id, net.name)
        for att in engine.attachments():
            self._name_port(att.endpoint_id, att.container_id, att.container_name)

    def on_event(self, engine: DockerEngine, event: dict) -> None:
        actor = event.get("Actor") or {}
        attrs = actor.get("Attributes") or {}
        if attrs.get("type") != self.driver_name:
            return
        action = event.get("Action")
        if action == "create":
            self._name_network(actor.get("ID", ""), attrs.get("name", ""))
        elif action == "connect" and attrs.get("container"):
            for att in engine.attachments(attrs["container"]):
                if att.network_id == actor.get("ID"):
                    self._name_port(att.endpoint_id, att.container_id, att.container_name)

    def _name_network(self, network_id: str, name: str) -> None:
        switch = self.nb.switch(network_id)
        if switch is None or not name or switch.external_ids.get(keys.NETWORK_NAME) == name:
            return
        try:
            self.nb.set_switch_ids(network_id, {keys.NETWORK_NAME: name})
        except NorthboundError as exc:
            LOG.warning("naming network %s: %s", network_id[:12], exc)

    def _name_port(self, endpoint_id: str, container_id: str, name: str) -> None:
        port = self.nb.port(endpoint_id)
        if port is None or port.external_ids.get(keys.CONTAINER_NAME) == name:
            return
        try:
            self.nb.set_port_ids(endpoint_id, {keys.CONTAINER_ID: container_id,
                                               keys.CONTAINER_NAME: name})
        except NorthboundError as exc:
            LOG.warning("naming endpoint %s: %s", endpoint_id[:12], exc)

