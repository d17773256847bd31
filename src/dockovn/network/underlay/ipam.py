"""The IpamDriver of underlay mode: Neutron decides every address.

Containers share Neutron networks with VMs and machines Docker knows nothing
of, so only Neutron can say which address is free. An address is a Neutron
port: RequestAddress creates one (unbound, device_owner dockovn:container),
CreateEndpoint turns it into the container's child port, DeleteEndpoint turns
it back, ReleaseAddress deletes it. The address is Neutron's until Docker
releases it, so no other request can take it in between.

A pool is a subnet of this VM's Docker network: its Neutron subnet is known
once CreateNetwork has made or adopted the network (Docker asks for the pool
and the gateway first), or at once with ``--ipam-opt dockovn.neutron.network=NAME``.
"""

from __future__ import annotations

import ipaddress
import logging

from dockovn.cloud.neutron import Neutron, NeutronConflict, NeutronError
from dockovn.host.ovs import OvsError
from dockovn.host.vm_bridge import ClaimRefused, VmBridge
from dockovn.network.underlay import records
from dockovn.network.api import (
    AddressSpaces,
    DriverError,
    Empty,
    IpamCapabilities,
    ReleaseAddressRequest,
    ReleasePoolRequest,
    RequestAddressReply,
    RequestAddressRequest,
    RequestPoolReply,
    RequestPoolRequest,
)

LOG = logging.getLogger(__name__)

ADDRESS_SPACE = "neutron"
POOL_ID_PREFIX = "neutron:"
NEUTRON_NETWORK_OPTION = "dockovn.neutron.network"
GATEWAY_REQUEST = "com.docker.network.gateway"
REQUEST_TYPE = "RequestAddressType"
RESERVED_NAME = "dockovn-address"  # an address held for Docker, not (yet) a container's


def neutron_call(what: str, fn, *args, **kwargs):
    """Run a Neutron or local OVS step; its failure becomes a DriverError."""
    try:
        return fn(*args, **kwargs)
    except NeutronError as exc:
        raise DriverError(str(exc)) from exc
    except (OvsError, ClaimRefused) as exc:
        raise DriverError(f"{what}: {exc}") from exc


def pool_cidr(pool_id: str) -> str:
    if not pool_id.startswith(POOL_ID_PREFIX):
        raise DriverError(f"pool {pool_id} is not a dockovn underlay pool")
    cidr = pool_id[len(POOL_ID_PREFIX):]
    try:
        return str(ipaddress.ip_network(cidr, strict=True))
    except ValueError:
        raise DriverError(f"pool {pool_id} is not a dockovn underlay pool") from None


def address_holder(neutron: Neutron, network_id: str, address: str) -> str:
    """Who holds ``address`` in Neutron, for an error message."""
    try:
        holders = neutron.ports(network_id=network_id, fixed_ips=[f"ip_address={address}"])
    except NeutronError:
        return ""
    if not holders:
        return ""
    port = holders[0]
    owner = port.device_owner or "no owner"
    return f" (Neutron port {port.id}, {owner}{', ' + port.device_id if port.device_id else ''})"


def reserved_by(vif_id: str) -> str:
    """The description of an address port: which VM's driver holds it (for `dockovn gc`)."""
    return f"dockovn address for VM port {vif_id}"


class NeutronIpam:
    def __init__(self, neutron: Neutron, bridge: VmBridge, vif_id: str):
        self.neutron = neutron
        self.bridge = bridge
        self.vif_id = vif_id

    def get_capabilities(self) -> IpamCapabilities:
        # Nothing to replay: addresses are Neutron ports, pools are bridge records.
        return IpamCapabilities(requires_mac_address=False, requires_request_replay=False)

    def get_default_address_spaces(self) -> AddressSpaces:
        return AddressSpaces(local_default=ADDRESS_SPACE, global_default=ADDRESS_SPACE)

    # -- pools -----------------------------------------------------------------------

    def request_pool(self, req: RequestPoolRequest) -> RequestPoolReply:
        if req.v6:
            raise DriverError("underlay mode gives IPv4 addresses only (no --ipv6)")
        if req.sub_pool:
            raise DriverError("underlay mode does not take --ip-range: the Neutron subnet's "
                              "allocation pools decide")
        cidr = None
        if req.pool:
            try:
                cidr = str(ipaddress.ip_network(req.pool, strict=True))
            except ValueError as exc:
                raise DriverError(f"invalid subnet {req.pool!r}: {exc}") from None
            if ipaddress.ip_network(cidr).version != 4:
                raise DriverError("underlay mode gives IPv4 addresses only")
        adopt = (req.options or {}).get(NEUTRON_NETWORK_OPTION)
        if adopt:
            subnet = self._adopted_subnet(adopt, cidr)
            cidr, value = subnet.cidr, records.pool_value(subnet.id, subnet.network_id)
            taken: set[str] = set()
        else:
            value = ""  # the network (and its subnet) comes with CreateNetwork
            taken = set() if cidr else {s.cidr for s in neutron_call(
                "listing subnets", self.neutron.subnets)}
        key, _ = neutron_call("reserving the pool", self.bridge.claim,
                              records.choose_pool(cidr, value, taken))
        cidr = key[len(records.POOL):]
        LOG.info("pool %s reserved%s", cidr, f" in Neutron network {adopt}" if adopt else "")
        return RequestPoolReply(pool_id=POOL_ID_PREFIX + cidr, pool=cidr, data={})

    def _adopted_subnet(self, name: str, cidr: str | None):
        network = neutron_call("finding network", self.neutron.find_network, name)
        if network is None:
            raise DriverError(f"Neutron network {name} does not exist")
        subnets = [s for s in neutron_call("listing subnets", self.neutron.subnets, network.id)
                   if s.ip_version == 4]
        if cidr is not None:
            match = [s for s in subnets if s.cidr == cidr]
            if not match:
                raise DriverError(f"Neutron network {name} has no subnet {cidr} (its IPv4 "
                                  f"subnets: {', '.join(s.cidr for s in subnets) or 'none'})")
            return match[0]
        if len(subnets) != 1:
            raise DriverError(f"Neutron network {name} has {len(subnets)} IPv4 subnets: "
                              "choose one with --subnet")
        return subnets[0]

    def release_pool(self, req: ReleasePoolRequest) -> Empty:
        cidr = pool_cidr(req.pool_id)
        neutron_call("releasing the pool", self.bridge.forget, records.pool_key(cidr))
        LOG.info("pool %s released", cidr)
        return Empty()

    def _pool(self, pool_id: str) -> tuple[str, tuple[str, str] | None]:
        """(cidr, (subnet id, network id) or None while the network is not made yet)."""
        cidr = pool_cidr(pool_id)
        value = self.bridge.records().get(records.pool_key(cidr))
        if value is None:
            raise DriverError(f"pool {cidr} is not reserved on this VM")
        return cidr, records.parse_pool_value(value)

    # -- addresses ------------------------------------------------------------------

    def request_address(self, req: RequestAddressRequest) -> RequestAddressReply:
        cidr, neutron_subnet = self._pool(req.pool_id)
        subnet = ipaddress.ip_network(cidr)
        if req.address:
            try:
                wanted = ipaddress.ip_address(req.address)
            except ValueError:
                raise DriverError(f"invalid address {req.address!r}") from None
            if wanted not in subnet:
                raise DriverError(f"address {wanted} is outside pool {cidr}")
        if (req.options or {}).get(REQUEST_TYPE) == GATEWAY_REQUEST:
            return self._gateway(cidr, neutron_subnet, req.address)
        if neutron_subnet is None:
            raise DriverError(f"pool {cidr} has no Neutron subnet yet (its Docker network "
                              "was not created)")
        subnet_id, network_id = neutron_subnet
        try:
            port = self.neutron.create_port(network_id, subnet_id, req.address or None,
                                            name=RESERVED_NAME,
                                            description=reserved_by(self.vif_id))
        except NeutronConflict as exc:
            holder = address_holder(self.neutron, network_id, req.address) if req.address \
                else ""
            if req.address and holder:
                raise DriverError(f"address {req.address} is already in use in Neutron"
                                  f"{holder}") from exc
            raise DriverError(str(exc)) from exc
        except NeutronError as exc:
            raise DriverError(str(exc)) from exc
        address = next((ip for sid, ip in port.fixed_ips if sid == subnet_id), None)
        if address is None:  # cannot happen: the request named the subnet
            self.neutron.delete_port(port.id)
            raise DriverError(f"Neutron gave no address on subnet {cidr}")
        LOG.info("address %s reserved (Neutron port %s)", address, port.id)
        return RequestAddressReply(address=f"{address}/{subnet.prefixlen}", data={})

    def _gateway(self, cidr: str, neutron_subnet, wanted: str) -> RequestAddressReply:
        """The gateway is no port: a new network's subnet is made with it; an
        adopted network keeps the gateway Neutron has."""
        prefix = ipaddress.ip_network(cidr).prefixlen
        if neutron_subnet is not None:
            subnet = neutron_call("reading subnet", self.neutron.subnet, neutron_subnet[0])
            if subnet is not None and subnet.gateway_ip:
                if wanted and wanted != subnet.gateway_ip:
                    raise DriverError(f"the Neutron subnet's gateway is {subnet.gateway_ip}, "
                                      f"not {wanted}")
                return RequestAddressReply(address=f"{subnet.gateway_ip}/{prefix}", data={})
        gateway = wanted or str(next(ipaddress.ip_network(cidr).hosts()))
        return RequestAddressReply(address=f"{gateway}/{prefix}", data={})

    def release_address(self, req: ReleaseAddressRequest) -> Empty:
        cidr, neutron_subnet = self._pool(req.pool_id)
        if neutron_subnet is None:
            return Empty()  # only the gateway was handed out: no port
        address = req.address.split("/")[0]
        subnet_id, network_id = neutron_subnet
        ports = neutron_call("finding the address", self.neutron.ports, network_id=network_id,
                             fixed_ips=[f"ip_address={address}"],
                             device_owner=Neutron.OWNER)
        for port in ports:
            # Docker calls DeleteEndpoint first; a port still bound (that call
            # failed) goes too, with its VLAN tag: Docker is done with it.
            if port.device_id:
                tag = records.vlan_of(self.bridge.records(), port.device_id)
                if tag is not None:
                    neutron_call("releasing VLAN", self.bridge.forget, records.vlan_key(tag))
            neutron_call("releasing the address", self.neutron.delete_port, port.id)
            LOG.info("address %s released (Neutron port %s)", address, port.id)
        return Empty()
