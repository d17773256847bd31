"""What a service is, as pure rules: names, ports and VIPs checked, a dockovn load
balancer as read from NB, the backends it should have, and the addresses a
service may use. No I/O here (``manager`` does the NB work), so it is unit-tested alone.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass

from dockovn.network import external_ids
from dockovn.ovn.lb import LoadBalancer
from dockovn.ovn.nb import LogicalPort

LOG = logging.getLogger(__name__)

# Container labels that register a container as a service instance.
LABEL_SERVICE = "dockovn.service"
LABEL_PORT = "dockovn.port"

# A service name is the host part of the URIs clients use ("http://orders/api",
# see balancer.reconstruct_uri), so it must be a DNS label.
SERVICE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

# OVN health-check defaults: a backend is out after CHECK_FAILURES missed probes
# (about interval x failures seconds) and back in after CHECK_SUCCESSES answered.
CHECK_INTERVAL = 2
CHECK_FAILURES = 2
CHECK_SUCCESSES = 2


class ServiceError(ValueError):
    """A service request that cannot be done; the message says why, for people."""


# -- validation --------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise ServiceError(f"service name {name!r}: use 1-63 letters, digits and '-', "
                           "not starting or ending with '-' (it is a host name in URIs)")
    return name


def check_port(value, what: str = "port") -> int:
    try:
        number = int(str(value).strip(), 10)
    except ValueError:
        raise ServiceError(f"{what} {value!r} is not a TCP port number") from None
    if not 0 < number < 65536:
        raise ServiceError(f"{what} {value!r} is not a TCP port number (1-65535)")
    return number


def registry_ids(labels: dict[str, str] | None) -> dict[str, str]:
    """The port external_ids that container labels ask for: {} when the container
    has neither label; ServiceError when the labels are incomplete or wrong."""
    labels = labels or {}
    service, port = labels.get(LABEL_SERVICE), labels.get(LABEL_PORT)
    if service is None and port is None:
        return {}
    if service is None or port is None:
        missing = LABEL_PORT if service is not None else LABEL_SERVICE
        raise ServiceError(f"label {missing} is missing (a service instance needs both "
                           f"{LABEL_SERVICE} and {LABEL_PORT})")
    return {external_ids.SERVICE: check_name(service),
            external_ids.SERVICE_PORT: str(check_port(port, f"label {LABEL_PORT}"))}


def parse_vip(value: str) -> tuple[ipaddress.IPv4Address, int]:
    host, sep, port = value.rpartition(":")
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise ServiceError(f"VIP {value!r}: give IPv4:PORT, e.g. 192.168.1.250:80") from None
    if not sep:
        raise ServiceError(f"VIP {value!r}: give IPv4:PORT, e.g. 192.168.1.250:80")
    return ip, check_port(port, f"VIP port in {value!r}")


def first_ipv4(addresses) -> str | None:
    """The IPv4 address of a port's first "MAC IP [IP...]" entry."""
    for entry in sorted(addresses):
        for field_ in entry.split()[1:]:
            try:
                return str(ipaddress.IPv4Address(field_))
            except ValueError:
                continue
    return None


# -- a dockovn load balancer, as this layer reads it -------------------------------------


@dataclass(frozen=True)
class ServiceLb:
    service: str
    network_id: str                   # the logical switch
    vip: ipaddress.IPv4Address
    vip_port: int
    target_port: int | None           # None: each instance's own dockovn.port
    health_ip: str | None             # None: no health checks
    reserved: tuple[str, ...]
    lb: LoadBalancer | None = None    # the row it was read from (None: not created yet)

    @property
    def vip_key(self) -> str:
        return f"{self.vip}:{self.vip_port}"

    @staticmethod
    def read(lb: LoadBalancer) -> "ServiceLb | None":
        """None for a load balancer that is not dockovn's (or was edited beyond use)."""
        ids = lb.external_ids
        if external_ids.SERVICE not in ids or external_ids.NETWORK_ID not in ids or external_ids.VIP not in ids:
            return None
        try:
            vip, vip_port = parse_vip(ids[external_ids.VIP])
            target = check_port(ids[external_ids.TARGET_PORT]) if external_ids.TARGET_PORT in ids else None
        except ServiceError as exc:
            # Debug, not warning: this runs on every reconcile pass.
            LOG.debug("load balancer %s: %s; left alone", lb.uuid, exc)
            return None
        return ServiceLb(ids[external_ids.SERVICE], ids[external_ids.NETWORK_ID], vip, vip_port, target,
                         ids.get(external_ids.HEALTH_CHECK_IP) or None,
                         tuple(ids.get(external_ids.RESERVED, "").split()), lb)


def responder_names(service: str, network_id: str) -> tuple[str, str, str]:
    """(router, router port, switch port) answering for a service's VIP on a network.

    Derived from the service and the network, so a second create of the same
    service on the same network fails on the switch port's unique name even
    when two hosts race."""
    base = f"dockovn-vip-{service}-{network_id}"
    return base, f"{base}-lrp", f"{base}-lsp"


def desired(slb: ServiceLb, ports: list[LogicalPort]) -> tuple[dict[str, str], dict[str, str]]:
    """(vips, ip_port_mappings) the load balancer should have, given its network's ports.

    Backends are the ports registered under the service that ovn-controller has
    bound (``up``), in address order: every host computes the same value.
    """
    backends = []
    mappings = {}
    for port in ports:
        ids = port.external_ids
        if ids.get(external_ids.SERVICE) != slb.service or not port.up:
            continue
        ip = first_ipv4(port.addresses)
        try:
            number = slb.target_port or check_port(ids.get(external_ids.SERVICE_PORT, ""))
        except ServiceError:
            continue  # registered wrongly; `dockovn service ls` shows it
        if ip is None:
            continue
        backends.append((ipaddress.IPv4Address(ip), number))
        if slb.health_ip:
            mappings[ip] = f"{port.name}:{slb.health_ip}"
    text = ",".join(f"{ip}:{number}" for ip, number in sorted(backends))
    return {slb.vip_key: text}, mappings


# -- what `dockovn service ls` shows ------------------------------------------------------


@dataclass(frozen=True)
class ServiceRow:
    service: str
    network: str
    vip: str            # "192.168.1.250:80 -> 8080", or "" (registry only)
    container: str
    address: str        # instance IP:port
    chassis: str
    healthy: str        # yes / no / pending (OVN check) ; - (no check) ; down (not bound)


def health_of(port: LogicalPort, ip: str | None, number: int | None, slb: ServiceLb | None,
            monitors: dict[tuple[str, str, int], str]) -> str:
    if not port.up:
        return "down"
    if slb is None or not slb.health_ip or ip is None or number is None:
        return "-"
    status = monitors.get((port.name, ip, slb.target_port or number))
    return {"online": "yes", "offline": "no", "error": "error"}.get(status or "", "pending")


def check_usable(ip: ipaddress.IPv4Address, subnet, what: str, network: str) -> None:
    if ip not in subnet:
        # Containers reach OVN only for their own subnet (their default route goes
        # out through Docker's gateway bridge), so the VIP has to be on it.
        raise ServiceError(f"{what} is outside network {network}'s subnet {subnet}")
    if ip in (subnet.network_address, subnet.broadcast_address):
        raise ServiceError(f"{what} is the subnet's own or broadcast address")


def probe_address(wanted: str | None, subnet, taken: set[str], used: dict[str, str],
                   network: str) -> str:
    """The source address of OVN's health-check probes: ``wanted``, or the highest free.

    ovn-controller sends the probes from it and OVN answers ARP for it, so it must
    be on the subnet and be nobody else's address.
    """
    if not wanted:
        return highest_free(subnet, taken)
    try:
        probe = ipaddress.IPv4Address(wanted)
    except ValueError:
        raise ServiceError(f"health-check address {wanted!r} is not an IPv4 address") from None
    check_usable(probe, subnet, f"health-check address {probe}", network)
    if str(probe) in taken:
        holder = f" by {used[str(probe)]}" if str(probe) in used else ""
        raise ServiceError(f"health-check address {probe} is already used{holder}")
    return str(probe)


def highest_free(subnet, taken: set[str]) -> str:
    """The highest address of the subnet nobody uses. Docker's own IPAM hands out
    addresses lowest first, so on networks it manages the top of the subnet is
    the last a container gets (on dockovn's IPAM the address is reserved too)."""
    ip = subnet.broadcast_address - 1
    while ip > subnet.network_address:
        if str(ip) not in taken:
            return str(ip)
        ip -= 1
    raise ServiceError(f"no free address left in {subnet} for health checks "
                       "(use --no-health-check)")
