"""The underlay NetworkDriver: containers inside an OpenStack VM on Neutron networks.

- CreateNetwork  -> a Neutron network + subnet, or an existing Neutron network
                    adopted with ``-o dockovn.neutron.network=NAME``
- CreateEndpoint -> a VLAN tag reserved on this VM (bridge record, atomic) and a
                    Neutron child port: binding:profile {parent_name: the VM's
                    port (OS_VIF_ID), tag}; OVN then maps the VM port's frames
                    with that tag to the child port
- Join           -> a veth whose outer end is an access port of breth0 with
                    ``tag``; the uplink carries it tagged to the hypervisor
- Leave / Delete* undo those; a failure halfway undoes what it did.

Addresses are Neutron's (underlay/ipam.py): the child port is the port the IPAM
made for the address, bound here; with Docker's own IPAM it is made here.
"""

from __future__ import annotations

import logging

from dockovn.cloud.neutron import Neutron, NeutronConflict, NeutronError, Port
from dockovn.host.vm_bridge import VmBridge
from dockovn.network import external_ids
from dockovn.network import plugging
from dockovn.network.underlay import records
from dockovn.network.api import (
    Capabilities,
    CreateEndpointReply,
    CreateEndpointRequest,
    CreateNetworkRequest,
    DriverError,
    Empty,
    EndpointInterfaceReply,
    EndpointOperInfoReply,
    EndpointRequest,
    InterfaceName,
    JoinReply,
    JoinRequest,
    NetworkRequest,
)
from dockovn.network import spec
from dockovn.network.underlay.ipam import (NEUTRON_NETWORK_OPTION, RESERVED_NAME,
                                           address_holder, neutron_call)

LOG = logging.getLogger(__name__)

KNOWN_OPTIONS = (*spec.MTU_OPTIONS, NEUTRON_NETWORK_OPTION)


def delete_if_orphan(neutron: Neutron, network_id: str) -> bool:
    """Delete a network its creator let go of, once no port is left on it."""
    network = neutron.network(network_id)
    if network is None or not neutron.is_orphan(network):
        return False
    try:
        neutron.delete_network(network_id)
    except NeutronConflict:
        return False  # still used by another VM's containers
    LOG.info("orphaned Neutron network %s deleted", network_id)
    return True


class UnderlayDriver:
    def __init__(self, neutron: Neutron, bridge: VmBridge, vif_id: str,
                 userspace_datapath: bool = True):
        self.neutron = neutron
        self.bridge = bridge
        self.vif_id = vif_id  # the VM's own Neutron port: every child port's parent
        self.userspace_datapath = userspace_datapath

    def get_capabilities(self) -> Capabilities:
        return Capabilities(scope="local", connectivity_scope="global")

    def _record(self, network_id: str) -> records.NetworkRecord:
        rec = records.network_record(self.bridge.records(), network_id)
        if rec is None:
            raise DriverError(f"network {network_id[:12]} is not a dockovn underlay network "
                              "on this VM")
        return rec

    # -- networks ------------------------------------------------------------------------

    def create_network(self, req: CreateNetworkRequest) -> Empty:
        options = spec.generic_options(req.options, KNOWN_OPTIONS)
        if req.ipv6_data:
            raise DriverError("underlay mode gives IPv4 addresses only (no --ipv6)")
        subnet, gateway_ip = spec.one_pool(req.ipv4_data, 4)
        if subnet is None:
            raise DriverError("an underlay network needs an IPv4 subnet")
        cidr = str(subnet)
        gateway = str(gateway_ip) if gateway_ip is not None else None
        current = self.bridge.records()
        if records.net_key(req.network_id) in current:
            return Empty()  # a replay
        # A pool from our IPAM may already name its Neutron subnet (--ipam-opt).
        pooled = records.parse_pool_value(current.get(records.pool_key(cidr), ""))
        adopt = options.get(NEUTRON_NETWORK_OPTION)
        if adopt or pooled:
            rec = self._adopt(adopt, pooled, cidr)
        else:
            made_net, made_subnet = neutron_call(
                "creating network", self.neutron.create_network,
                f"dockovn-{req.network_id[:12]}", cidr, gateway,
                f"Docker network {req.network_id} (dockovn, VM port {self.vif_id})")
            rec = records.NetworkRecord(network=made_net.id, subnet=made_subnet.id, cidr=cidr,
                                        gateway=made_subnet.gateway_ip, mtu=made_net.mtu,
                                        created=True)
        rec = self._with_mtu(rec, options)
        values = {records.net_key(req.network_id): rec.to_json()}
        if records.pool_key(cidr) in current:  # our IPAM's pool: now it has its subnet
            values[records.pool_key(cidr)] = records.pool_value(rec.subnet, rec.network)
        try:
            neutron_call("recording network", self.bridge.set_records, values)
        except DriverError:
            if rec.created:
                self.neutron.delete_network(rec.network)
            raise
        LOG.info("network %s -> Neutron network %s (%s, %s)", req.network_id[:12], rec.network,
                 cidr, "created" if rec.created else "adopted")
        return Empty()

    def _adopt(self, name: str | None, pooled: tuple[str, str] | None,
               cidr: str) -> records.NetworkRecord:
        if name:
            network = neutron_call("finding network", self.neutron.find_network, name)
            if network is None:
                raise DriverError(f"Neutron network {name} does not exist")
        else:
            network = neutron_call("reading network", self.neutron.network, pooled[1])
            if network is None:
                raise DriverError(f"Neutron network {pooled[1]} of pool {cidr} is gone")
        if pooled and pooled[1] != network.id:
            raise DriverError(f"the IPAM pool {cidr} is on Neutron network {pooled[1]}, "
                              f"not on {name}")
        subnets = [s for s in neutron_call("listing subnets", self.neutron.subnets, network.id)
                   if s.ip_version == 4]
        match = [s for s in subnets if s.cidr == cidr]
        if not match:
            raise DriverError(
                f"Neutron network {network.name or network.id} has no subnet {cidr} (its IPv4 "
                f"subnets: {', '.join(s.cidr for s in subnets) or 'none'}): create the Docker "
                f"network with --subnet {subnets[0].cidr if subnets else '<its subnet>'}")
        subnet = match[0]
        return records.NetworkRecord(network=network.id, subnet=subnet.id, cidr=cidr,
                                     gateway=subnet.gateway_ip, mtu=network.mtu, created=False)

    @staticmethod
    def _with_mtu(rec: records.NetworkRecord, options: dict) -> records.NetworkRecord:
        """``-o mtu=``, at most the Neutron network's (its frames must fit)."""
        mtu = spec.option_mtu(options, rec.mtu)
        if mtu > rec.mtu:
            raise DriverError(f"mtu {mtu} is above the Neutron network's {rec.mtu}")
        return records.NetworkRecord(**{**rec.__dict__, "mtu": mtu})

    def delete_network(self, req: NetworkRequest) -> Empty:
        """Delete the Neutron network if dockovn made it and nobody else uses it.

        Other VMs may have adopted it (``-o dockovn.neutron.network``): Neutron
        then refuses, and the network is marked an orphan. Whichever VM lets go
        of it last (its own DeleteNetwork, or `dockovn gc`) deletes it.
        """
        key = records.net_key(req.network_id)
        rec = records.network_record(self.bridge.records(), req.network_id)
        if rec is None:
            return Empty()  # gone already
        in_use = None
        try:
            if rec.created:
                try:
                    self.neutron.delete_network(rec.network)
                except NeutronConflict as exc:
                    in_use = exc  # other VMs' ports: the Neutron network stays for them
                    self.neutron.mark_orphan(rec.network)
            else:
                delete_if_orphan(self.neutron, rec.network)
        except NeutronError as exc:
            raise DriverError(str(exc)) from exc
        neutron_call("forgetting network", self.bridge.forget, key)
        if in_use is not None:
            raise DriverError(f"Neutron network {rec.network} stays while other VMs use it "
                              f"(the last one out deletes it): {in_use}")
        LOG.info("network %s deleted", req.network_id[:12])
        return Empty()

    # -- endpoints ------------------------------------------------------------------------

    def _child_port(self, endpoint_id: str) -> Port | None:
        ports = neutron_call("finding endpoint", self.neutron.ports, device_id=endpoint_id,
                             device_owner=Neutron.OWNER)
        return ports[0] if ports else None

    def create_endpoint(self, req: CreateEndpointRequest) -> CreateEndpointReply:
        rec = self._record(req.network_id)
        if req.interface is not None and req.interface.address_ipv6:
            raise DriverError("underlay mode gives IPv4 addresses only")
        want = spec.endpoint_spec(req, rec.cidr, None)  # address in the subnet, MAC well-formed
        address = str(want.ipv4.ip)
        mac = None if want.mac_chosen_by_driver else want.mac  # else Neutron's
        existing = self._child_port(req.endpoint_id)
        if existing is not None:
            if address not in existing.addresses:
                raise DriverError(f"endpoint {req.endpoint_id[:12]} already exists with "
                                  f"address {', '.join(existing.addresses)}")
            return self._reply(existing, mac)  # a replay
        key, _ = neutron_call("reserving a VLAN tag", self.bridge.claim,
                              records.choose_vlan(req.endpoint_id))
        tag = int(key[len(records.VLAN):])
        try:
            port = self._bind(rec, req.endpoint_id, address, mac, tag)
        except Exception:
            # The tag was this request's: give it back.
            try:
                self.bridge.forget(key)
            except Exception as exc:
                LOG.error("VLAN %d of failed endpoint %s not released: %s", tag,
                          req.endpoint_id[:12], exc)
            raise
        LOG.info("endpoint %s: Neutron port %s, %s, VLAN %d", req.endpoint_id[:12], port.id,
                 address, tag)
        return self._reply(port, mac)

    def _bind(self, rec: records.NetworkRecord, endpoint_id: str, address: str,
              mac: str | None, tag: int) -> Port:
        """The address's port (from our IPAM) becomes the child port; without one
        (Docker's IPAM) a child port is made with the address."""
        profile = {"parent_name": self.vif_id, "tag": tag}
        held = [p for p in neutron_call("finding the address", self.neutron.ports,
                                        network_id=rec.network,
                                        fixed_ips=[f"ip_address={address}"])
                if p.device_owner == Neutron.OWNER and not p.device_id]
        attrs = {"device_id": endpoint_id, "binding_profile": profile}
        if mac:
            attrs["mac_address"] = mac
        if held:
            return neutron_call("binding the port", self.neutron.update_port, held[0].id,
                                **attrs)
        try:
            return self.neutron.create_port(rec.network, rec.subnet, address,
                                            name=f"dockovn-{endpoint_id[:12]}",
                                            device_id=endpoint_id, mac_address=mac,
                                            binding_profile=profile)
        except NeutronConflict as exc:
            holder = address_holder(self.neutron, rec.network, address)
            if holder:
                raise DriverError(f"address {address} is already in use in Neutron"
                                  f"{holder}") from exc
            raise DriverError(str(exc)) from exc
        except NeutronError as exc:
            raise DriverError(str(exc)) from exc

    @staticmethod
    def _reply(port: Port, mac_given: str | None) -> CreateEndpointReply:
        if mac_given:
            return CreateEndpointReply()  # Docker refuses a reply restating its own MAC
        return CreateEndpointReply(interface=EndpointInterfaceReply(mac_address=port.mac_address))

    def endpoint_oper_info(self, req: EndpointRequest) -> EndpointOperInfoReply:
        port = self._child_port(req.endpoint_id)
        if port is None:
            raise DriverError(f"endpoint {req.endpoint_id[:12]} not found")
        return EndpointOperInfoReply(value={
            "neutron_port": port.id,
            "addresses": port.addresses,
            "mac": port.mac_address,
            "vlan": records.vlan_of(self.bridge.records(), req.endpoint_id),
            "veth": plugging.plugged_port(self.bridge, req.endpoint_id) or "",
        })

    def delete_endpoint(self, req: EndpointRequest) -> Empty:
        plugging.unplug(self.bridge, req.endpoint_id)  # Leave normally did it already
        port = self._child_port(req.endpoint_id)
        if port is not None:
            if port.name == RESERVED_NAME:
                # Our IPAM's address: back to a plain reservation, released (deleted)
                # by ReleaseAddress, so nobody else gets the address in between.
                neutron_call("unbinding the port", self.neutron.update_port, port.id,
                             device_id="", binding_profile={})
            else:
                neutron_call("deleting the port", self.neutron.delete_port, port.id)
        tag = records.vlan_of(self.bridge.records(), req.endpoint_id)
        if tag is not None:
            neutron_call("releasing VLAN", self.bridge.forget, records.vlan_key(tag))
        LOG.info("endpoint %s deleted", req.endpoint_id[:12])
        return Empty()

    # -- sandboxes ------------------------------------------------------------------------

    def join(self, req: JoinRequest) -> JoinReply:
        rec = self._record(req.network_id)
        tag = records.vlan_of(self.bridge.records(), req.endpoint_id)
        port = self._child_port(req.endpoint_id)
        if tag is None or port is None:
            raise DriverError(f"endpoint {req.endpoint_id[:12]} not found on network "
                              f"{req.network_id[:12]}")
        inner = plugging.plug(self.bridge, req.endpoint_id, port.mac_address, rec.mtu,
                              self.userspace_datapath,
                              lambda outer: self.bridge.plug_access(outer, tag, {
                                  external_ids.OVS_ENDPOINT: req.endpoint_id,
                                  external_ids.OVS_NETWORK: req.network_id,
                                  "attached-mac": port.mac_address,
                              }))
        LOG.info("endpoint %s joined %s (VLAN %d)", req.endpoint_id[:12], req.sandbox_key, tag)
        # The Neutron subnet's gateway (a Neutron router, if one is attached) is
        # the way out; without one Docker adds its gateway bridge for egress.
        return JoinReply(interface_name=InterfaceName(src_name=inner, dst_prefix="eth"),
                         gateway=rec.gateway or None)

    def leave(self, req: EndpointRequest) -> Empty:
        plugging.unplug(self.bridge, req.endpoint_id, wait=False)  # the veth goes after
        LOG.info("endpoint %s left", req.endpoint_id[:12])
        return Empty()
