"""Docker's port map (``-p``) as the firewall's published ports, checked first.

ProgramExternalConnectivity brings ``com.docker.network.portmap``: a list of Docker's
PortBinding (Proto as IANA number, HostPort 0 when ``-p PORT`` named no host port).
Docker picks no host port for a remote driver, and shows none a driver picked (``docker
port`` reads only the bridge driver's), so a host port must be given.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dockovn.host.firewall import PublishedPort
from dockovn.network.api import DriverError

PORTMAP_OPTION = "com.docker.network.portmap"
PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}


def _port(binding: dict, key: str, required: bool = True) -> int:
    value = binding.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise DriverError(f"published port: {key} {value!r} is not a port number")
    if required and value == 0:
        raise DriverError(f"published port: {key} missing")
    return value


def _ip(value: Any, what: str):
    if value in (None, "", "0.0.0.0", "::"):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise DriverError(f"published port: {what} {value!r} is not an IP address") from None


def published_ports(options: dict[str, Any] | None, container_ip4, container_ip6,
                    owner: str) -> list[PublishedPort]:
    """The container's published ports, one per family it has an address in (as
    Docker's bridge publishes on IPv4 and IPv6); DriverError naming the bad binding."""
    raw = (options or {}).get(PORTMAP_OPTION) or []
    if not isinstance(raw, list):
        raise DriverError(f"{PORTMAP_OPTION} must be a list")
    out = []
    for binding in raw:
        if not isinstance(binding, dict):
            raise DriverError(f"{PORTMAP_OPTION}: {binding!r} is not a port binding")
        protocol = PROTOCOLS.get(binding.get("Proto"))
        if protocol is None:
            raise DriverError(f"published port: protocol {binding.get('Proto')!r} is not "
                              "tcp, udp or sctp")
        port = _port(binding, "Port")
        if binding.get("HostPort", 0) == 0:
            raise DriverError(f"published port {port}/{protocol}: dockovn needs a host port "
                              f"(-p HOST_PORT:{port}; -P and -p {port} let Docker's bridge "
                              "choose one, which a network plugin cannot report back)")
        host_port = _port(binding, "HostPort")
        end = _port(binding, "HostPortEnd", required=False) or host_port
        if end < host_port:
            raise DriverError(f"published port: range {host_port}-{end} is backwards")
        if end - host_port + port > 65535:
            raise DriverError(f"published port: {host_port}-{end}:{port} runs past 65535")
        host_ip = _ip(binding.get("HostIP"), "host address")
        for container_ip in (container_ip4, container_ip6):
            if container_ip is None:
                continue
            if host_ip is not None and host_ip.version != container_ip.version:
                continue
            out.append(PublishedPort(protocol, host_port, end, container_ip, port, host_ip,
                                     owner))
    return out
