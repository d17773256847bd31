"""The local Docker engine's API (docker SDK), for work off the request path.

Never call this from a plugin request handler: dockerd may be waiting on the
plugin, and both would hang (Calico libnetwork-plugin#49).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator

import docker

LOG = logging.getLogger(__name__)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    driver: str


@dataclass(frozen=True)
class Attachment:
    container_id: str
    container_name: str
    network_id: str
    endpoint_id: str
    # The container's labels (Config.Labels): `--label dockovn.service=...` registers
    # it as a service instance. Left out of the hash: a dict is not hashable.
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    aliases: tuple[str, ...] = ()  # the endpoint's network aliases (--network-alias)


def same_driver(a: str, b: str) -> bool:
    """Whether two driver names are the same plugin: the legacy plugin is "dockovn", the
    managed one "dockovn:latest" (NAME:TAG); a host runs one of them, and the `dockovn`
    commands must see its networks either way (gc would take them for gone)."""
    return a == b or a.split(":")[0] == b.split(":")[0]


class DockerEngine:
    def __init__(self, base_url: str = DEFAULT_DOCKER_HOST, timeout: float = 10.0):
        self.client = docker.DockerClient(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _networks_of(self, driver: str) -> list[dict]:
        return [raw for raw in self.client.api.networks()
                if same_driver(raw.get("Driver", ""), driver)]

    def networks(self, driver: str) -> list[NetworkInfo]:
        return [NetworkInfo(raw["Id"], raw["Name"], raw["Driver"])
                for raw in self._networks_of(driver)]

    def live_endpoints(self, driver: str) -> dict[str, str]:
        """Endpoint ID -> container name, for every container attached to a ``driver`` network."""
        out = {}
        for raw in self._networks_of(driver):
            detail = self.client.api.inspect_network(raw["Id"])
            for info in (detail.get("Containers") or {}).values():
                if info.get("EndpointID"):
                    out[info["EndpointID"]] = info.get("Name", "")
        return out

    def attachments(self, container_id: str | None = None) -> list[Attachment]:
        """Every container's endpoints (or one container's), with its name and labels."""
        if container_id is not None:
            raws = [raw for raw in (self._inspect(container_id),) if raw is not None]
        else:
            raws = [raw for c in self.client.api.containers(all=True)
                    if (raw := self._inspect(c["Id"])) is not None]
        out = []
        for raw in raws:
            name = raw.get("Name", "").lstrip("/")
            labels = dict((raw.get("Config") or {}).get("Labels") or {})
            nets = (raw.get("NetworkSettings") or {}).get("Networks") or {}
            for net in nets.values():
                if net.get("EndpointID") and net.get("NetworkID"):
                    aliases = tuple(sorted(set(net.get("Aliases") or ()) - {name}))
                    out.append(Attachment(raw["Id"], name, net["NetworkID"], net["EndpointID"],
                                          labels, aliases))
        return out

    def _inspect(self, container_id: str) -> dict | None:
        """The container's details, None when it was removed after it was listed (a host
        that starts and removes containers all the time has one gone in most listings)."""
        try:
            return self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None

    def create_network(self, name: str, driver: str, subnets: list[tuple[str, str | None]],
                       options: dict[str, str], ipam_options: dict[str, str],
                       internal: bool = False) -> str:
        """Create a network with ``driver`` as network and IPAM driver; returns its ID."""
        pools = [docker.types.IPAMPool(subnet=subnet, gateway=gateway)
                 for subnet, gateway in subnets]
        ipam = docker.types.IPAMConfig(driver=driver, pool_configs=pools, options=ipam_options)
        enable_ipv6 = any(":" in subnet for subnet, _ in subnets)
        net = self.client.networks.create(name, driver=driver, options=options, ipam=ipam,
                                          enable_ipv6=enable_ipv6, internal=internal,
                                          check_duplicate=True)
        return net.id

    def network_members(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        """(network ID, driver, {container ID: its addresses there}) for every network,
        Docker's gateway bridge included (a container's default route goes there)."""
        out = []
        for raw in self.client.api.networks():
            try:
                detail = self.client.api.inspect_network(raw["Id"])
            except docker.errors.NotFound:
                continue  # removed meanwhile
            members = {}
            for container, info in (detail.get("Containers") or {}).items():
                addresses = [a.split("/")[0] for a in (info.get("IPv4Address"),
                                                       info.get("IPv6Address")) if a]
                members[container] = addresses
            out.append((raw["Id"], raw.get("Driver", ""), members))
        return out

    def remove_network(self, network_id: str) -> None:
        try:
            self.client.api.remove_network(network_id)
        except docker.errors.NotFound:
            pass

    def network_events(self) -> Iterator[dict]:
        """Docker's network events as they happen (blocks; ends if dockerd goes away)."""
        return self.client.events(decode=True, filters={"type": "network"})

    def naming_events(self) -> Iterator[dict]:
        """Network events and container renames, as they happen."""
        return self.client.events(decode=True, filters={"type": ["network", "container"],
                                                        "event": ["create", "connect",
                                                                  "rename"]})
