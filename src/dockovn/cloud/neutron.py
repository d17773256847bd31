"""Neutron, the underlay's network authority, through openstacksdk.

A thin layer: plain records in, plain records out, and every failure turned
into a NeutronError whose message says what Neutron said (quota, address
taken, not allowed) or that Neutron cannot be reached. The network logic
(dockovn.network.underlay*) never sees openstacksdk or HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import keystoneauth1.exceptions as ks_exc
import openstack
from openstack import exceptions as os_exc

LOG = logging.getLogger(__name__)


class NeutronError(RuntimeError):
    """Neutron refused a request or could not be reached; the message is for the user."""


# Since Neutron 24.0 (OpenStack 2024.1) its default policy lets only the `service`
# role set binding:profile, where a container port names its VM port and VLAN tag.
_BINDING_PROFILE_HINT = (
    "Neutron 24.0 (OpenStack 2024.1) and later let only the service role set a port's "
    "binding:profile, where dockovn puts a container port's VM port and VLAN tag: give "
    "dockovn's OpenStack user that role (openstack role add --user USER --project PROJECT "
    "service)")


class NeutronConflict(NeutronError):
    """Neutron answered 409: an address in use, a quota exceeded, a network in use."""


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    mtu: int
    description: str = ""


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    ip_version: int


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[tuple[str, str], ...]  # (subnet id, address)
    device_owner: str
    device_id: str
    name: str
    binding_profile: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created_at: str = ""  # ISO 8601, UTC

    @property
    def addresses(self) -> list[str]:
        return [ip for _, ip in self.fixed_ips]


def _network(n) -> Network:
    return Network(id=n.id, name=n.name or "", mtu=int(n.mtu or 1500),
                   description=n.description or "")


def _subnet(s) -> Subnet:
    return Subnet(id=s.id, network_id=s.network_id, cidr=s.cidr, gateway_ip=s.gateway_ip,
                  ip_version=int(s.ip_version))


def _port(p) -> Port:
    return Port(id=p.id, network_id=p.network_id, mac_address=p.mac_address,
                fixed_ips=tuple((ip.get("subnet_id", ""), ip.get("ip_address", ""))
                                for ip in (p.fixed_ips or [])),
                device_owner=p.device_owner or "", device_id=p.device_id or "",
                name=p.name or "", binding_profile=dict(p.binding_profile or {}),
                description=p.description or "", created_at=p.created_at or "")


def connect(cloud: str | None = None, endpoint: str | None = None, password: str | None = None,
            timeout: float = 10.0) -> "Neutron":
    """Connect the usual OpenStack way: a clouds.yaml ``cloud``, else the OS_*
    environment (OS_AUTH_URL, OS_USERNAME, OS_PROJECT_ID, ...). ``endpoint``
    overrides Neutron's URL; with no OS_AUTH_URL it means a Neutron without
    Keystone (``auth_strategy = noauth``). ``password`` comes from a prompt,
    never from a file.
    """
    import os

    kwargs: dict[str, Any] = {"api_timeout": timeout}
    if endpoint:
        kwargs["network_endpoint_override"] = endpoint.rstrip("/") + "/"
        if not cloud and not os.environ.get("OS_AUTH_URL"):
            kwargs["auth_type"] = "none"
    if password:
        kwargs["password"] = password
    try:
        conn = openstack.connect(cloud=cloud, **kwargs)
    except Exception as exc:  # bad clouds.yaml, missing settings
        raise NeutronError(f"OpenStack credentials: {_describe(exc)}") from exc
    return Neutron(conn, endpoint or "Neutron")


def _describe(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if details:
        return str(details).strip()
    return str(exc).strip() or type(exc).__name__


class Neutron:
    # device_owner of every port dockovn makes, so they are easy to tell apart.
    OWNER = "dockovn:container"

    def __init__(self, conn, where: str = "Neutron"):
        self.conn = conn
        self.where = where

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def _call(self, what: str, method: str, *args, **kwargs):
        """``self.conn.network.<method>(...)``, its failures as NeutronError. The
        proxy is looked up inside: that is where endpoint discovery can fail."""
        try:
            result = getattr(self.conn.network, method)(*args, **kwargs)
            return list(result) if method in ("ports", "subnets", "networks") else result
        except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.ConnectionError,
                ks_exc.DiscoveryFailure) as exc:
            # The text names the URL that failed: Neutron's, or Keystone's when
            # the token could not be had.
            raise NeutronError(f"{what}: Neutron is unreachable ({self.where}): "
                               f"{_describe(exc).splitlines()[0]}") from exc
        except os_exc.ConflictException as exc:
            raise NeutronConflict(f"{what}: {_describe(exc)}") from exc
        except os_exc.HttpException as exc:
            code = getattr(exc, "status_code", None)
            if code in (401, 403):
                said = _describe(exc)
                hint = f". {_BINDING_PROFILE_HINT}" if "binding:profile" in said else ""
                raise NeutronError(f"{what}: not authorised by Neutron ({code}): "
                                   f"{said}{hint}") from exc
            raise NeutronError(f"{what}: {_describe(exc)}") from exc
        except os_exc.SDKException as exc:
            raise NeutronError(f"{what}: {_describe(exc)}") from exc
        except ks_exc.ClientException as exc:  # timeouts, auth plugin failures
            raise NeutronError(f"{what}: {type(exc).__name__}: {_describe(exc)}") from exc

    # -- networks and subnets ----------------------------------------------------

    def find_network(self, name_or_id: str) -> Network | None:
        found = self._call(f"finding Neutron network {name_or_id}",
                           "find_network", name_or_id, ignore_missing=True)
        return _network(found) if found is not None else None

    def network(self, network_id: str) -> Network | None:
        try:
            return _network(self._call("reading network", "get_network",
                                       network_id))
        except NeutronError as exc:
            if isinstance(exc.__cause__, os_exc.NotFoundException):
                return None
            raise

    def create_network(self, name: str, cidr: str, gateway_ip: str | None,
                       description: str) -> tuple[Network, Subnet]:
        """A network with one IPv4 subnet; if the subnet is refused the network goes too."""
        net = self._call("creating Neutron network", "create_network",
                         name=name, description=description)
        try:
            sub = self._call(f"creating Neutron subnet {cidr}", "create_subnet",
                             network_id=net.id, ip_version=4, cidr=cidr, gateway_ip=gateway_ip,
                             name=name, enable_dhcp=False)
        except NeutronError:
            self.delete_network(net.id)
            raise
        return _network(net), _subnet(sub)

    # A dockovn-made network whose Docker network is gone while other VMs still
    # use it: the description says so, and the last user deletes it.
    ORPHAN = "dockovn: orphaned, delete when unused. "

    def mark_orphan(self, network_id: str) -> None:
        network = self.network(network_id)
        if network is not None and not self.is_orphan(network):
            self._call("marking network unused", "update_network", network_id,
                       description=self.ORPHAN + network.description)

    def is_orphan(self, network: Network) -> bool:
        return network.description.startswith(self.ORPHAN)

    def orphans(self) -> list[Network]:
        return [_network(n) for n in self._call("listing networks", "networks")
                if (n.description or "").startswith(self.ORPHAN)]

    def delete_network(self, network_id: str) -> None:
        """Delete a network (and its subnets); gone already is fine."""
        self._call("deleting Neutron network", "delete_network", network_id,
                   ignore_missing=True)

    def subnets(self, network_id: str | None = None) -> list[Subnet]:
        query = {"network_id": network_id} if network_id else {}
        return [_subnet(s) for s in self._call("listing subnets", "subnets", **query)]

    def subnet(self, subnet_id: str) -> Subnet | None:
        try:
            return _subnet(self._call("reading subnet", "get_subnet", subnet_id))
        except NeutronError as exc:
            if isinstance(exc.__cause__, os_exc.NotFoundException):
                return None
            raise

    # -- ports ------------------------------------------------------------------------

    def port(self, port_id: str) -> Port | None:
        try:
            return _port(self._call(f"reading port {port_id}", "get_port",
                                    port_id))
        except NeutronError as exc:
            if isinstance(exc.__cause__, os_exc.NotFoundException):
                return None
            raise

    def ports(self, **query) -> list[Port]:
        """Ports matching Neutron's filters, e.g. device_id=..., network_id=...,
        fixed_ips=["ip_address=10.0.0.5"]."""
        return [_port(p) for p in self._call("listing ports", "ports", **query)]

    def create_port(self, network_id: str, subnet_id: str, address: str | None, name: str,
                    device_id: str = "", mac_address: str | None = None,
                    binding_profile: dict[str, Any] | None = None,
                    description: str = "") -> Port:
        fixed = {"subnet_id": subnet_id}
        if address:
            fixed["ip_address"] = address
        attrs: dict[str, Any] = {"network_id": network_id, "fixed_ips": [fixed], "name": name,
                                 "device_owner": self.OWNER, "device_id": device_id,
                                 "description": description}
        if mac_address:
            attrs["mac_address"] = mac_address
        if binding_profile is not None:
            attrs["binding_profile"] = binding_profile
        return _port(self._call(f"creating port on {subnet_id}", "create_port",
                                **attrs))

    def update_port(self, port_id: str, **attrs) -> Port:
        return _port(self._call(f"updating port {port_id}", "update_port",
                                port_id, **attrs))

    def delete_port(self, port_id: str) -> None:
        """Delete a port; gone already is fine."""
        self._call(f"deleting port {port_id}", "delete_port", port_id,
                   ignore_missing=True)
