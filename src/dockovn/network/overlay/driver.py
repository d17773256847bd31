"""The overlay NetworkDriver: Docker networks as OVN logical switches.

- CreateNetwork  -> one Logical_Switch named after Docker's NetworkID
- CreateEndpoint -> one Logical_Switch_Port named after the EndpointID, with
                    addresses and port security "MAC IP [IP6]"
- Join           -> a veth pair; the outer end goes on br-int with
                    external_ids:iface-id=<EndpointID> so ovn-controller binds it
- Leave / Delete* undo those, and succeed when there is nothing left to undo.

Each step that can fail after changing something undoes its own change before
answering, so a failed request leaves no rows and no interfaces behind.
"""

from __future__ import annotations

import logging
import threading
import time

from dockovn.host.ovs import LocalSwitch
from dockovn.network import external_ids
from dockovn.network import identifiers
from dockovn.network import plugging
from dockovn.network import spec
from dockovn.network.gateway import connectivity
from dockovn.network.gateway.connectivity import Connectivity
from dockovn.network.gateway.published import PORTMAP_OPTION
from dockovn.network.overlay import ipam, routing
from dockovn.network.overlay.ipam import ADDRESS_SPACE
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
from dockovn.network.overlay.northbound import nb_call
from dockovn.network.overlay.pending_deletes import PendingDeletes
from dockovn.network.policy import membership
from dockovn.network.policy.manager import read_policies
from dockovn.network.policy.model import PolicyError, port_labels
from dockovn.ovn.nb import LogicalSwitch, Northbound
from dockovn.ovn.port_groups import PortGroups

LOG = logging.getLogger(__name__)

GENEVE_OVERHEAD = 58  # outer Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 + options 8
DEFAULT_MTU = 1500 - GENEVE_OVERHEAD


class OverlayDriver:
    def __init__(self, nb: Northbound, ovs: LocalSwitch, host_id: str,
                 default_mtu: int = DEFAULT_MTU, userspace_datapath: bool = True,
                 hostname: str = ""):
        self.nb = nb
        self.policy_groups = PortGroups(nb)
        self.ovs = ovs
        self.host_id = host_id
        self.hostname = hostname or host_id
        self.default_mtu = default_mtu
        # The netdev datapath cannot finish offloaded checksums (see links.disable_tx_checksum).
        self.userspace_datapath = userspace_datapath
        # switch -> address -> endpoint, for networks on Docker's IPAM (see _address_holder)
        self._taken: dict[str, dict[str, str]] = {}
        self._taken_lock = threading.Lock()
        # Networks Docker dropped whose NB delete failed: retried until NB takes it.
        self.pending_deletes = PendingDeletes(self._delete_if_unused, self._in_use)
        self.connectivity = Connectivity(nb, ovs, userspace_datapath)

    # -- networks ------------------------------------------------------------------------

    def get_capabilities(self) -> Capabilities:
        # Local data scope: without swarm, Docker refuses global-scope drivers.
        # OVN itself makes the network span hosts.
        return Capabilities(scope="local", connectivity_scope="global")

    def _find_network(self, network_id: str) -> LogicalSwitch | None:
        """The switch for Docker's NetworkID: its name, or an alias another host added."""
        switch = self.nb.switch(network_id)
        if switch is not None and external_ids.NETWORK_ID in switch.external_ids:
            return switch
        found = self.nb.switches_with(external_ids.DOCKER_ID_PREFIX + network_id)
        return found[0] if found else None

    def _network(self, network_id: str) -> LogicalSwitch:
        switch = self._find_network(network_id)
        if switch is None:
            raise DriverError(f"network {network_id[:12]} is not a dockovn network "
                              "(no logical switch for it in OVN Northbound)")
        return switch

    def create_network(self, req: CreateNetworkRequest) -> Empty:
        want = spec.network_spec(req, self.default_mtu)
        if want.adopt:
            return self._adopt_network(req.network_id, want)
        ids = {
            external_ids.NETWORK_ID: req.network_id,
            external_ids.SUBNET: str(want.subnet),
            external_ids.MTU: str(want.mtu),
            external_ids.CREATED_BY: self.host_id,
            external_ids.CREATED_AT: str(int(time.time())),
            external_ids.IPAM: "dockovn" if want.address_space == ADDRESS_SPACE else "docker",
        }
        if want.gateway is not None:
            ids[external_ids.GATEWAY] = str(want.gateway)
        if want.subnet6 is not None:
            ids[external_ids.SUBNET6] = str(want.subnet6)
        if want.gateway6 is not None:
            ids[external_ids.GATEWAY6] = str(want.gateway6)
        if want.router:
            ids[external_ids.ROUTER] = want.router
        if want.aux:
            ids[external_ids.AUX_ADDRESSES] = " ".join(want.aux)
        ids[external_ids.EGRESS] = want.egress
        if self._created_alike(req.network_id, ids):
            return Empty()
        try:
            nb_call("create network", self.nb.create_switch, req.network_id, ids, None,
                    routing.router_attachment(req.network_id, want),
                    connectivity.localport(self.nb, req.network_id, want.egress))
        except DriverError:
            # Swarm creates a swarm-scoped network on every node that gets a task, with
            # the same NetworkID, often at the same moment: another host won the race.
            if self._created_alike(req.network_id, ids):
                return Empty()
            raise
        LOG.info("network %s created: %s mtu %s%s", req.network_id[:12], want.subnet, want.mtu,
                 f" router {want.router}" if want.router else "")
        return Empty()

    def _created_alike(self, network_id: str, ids: dict[str, str]) -> bool:
        """The switch exists with these settings (a replay, or another host's request for
        the same network); DriverError if it exists with others."""
        existing = self.nb.switch(network_id)
        if existing is None:
            return False
        if all(existing.external_ids.get(k) == v for k, v in ids.items()
               if k not in (external_ids.CREATED_BY, external_ids.CREATED_AT)
               # a network made before egress modes existed has none
               and (k != external_ids.EGRESS or k in existing.external_ids)):
            return True
        raise DriverError(f"network {network_id[:12]} already exists with other settings")

    def _adopt_network(self, network_id: str, want: spec.NetworkSpec) -> Empty:
        """This host's dockerd gets its own view of a network made on another host."""
        switch = self.nb.switch(want.adopt)
        if switch is None or external_ids.NETWORK_ID not in switch.external_ids:
            raise DriverError(f"network {want.adopt[:12]} to join does not exist (any more)")
        if switch.external_ids.get(external_ids.SUBNET) != str(want.subnet):
            raise DriverError(f"network {want.adopt[:12]} has subnet "
                              f"{switch.external_ids.get(external_ids.SUBNET)}, not {want.subnet}")
        nb_call("join network", self.nb.set_switch_ids, switch.name,
                 {external_ids.DOCKER_ID_PREFIX + network_id:
                      external_ids.alias_value(self.host_id, time.time())})
        LOG.info("network %s is this host's view of %s", network_id[:12], switch.name[:12])
        return Empty()

    def delete_network(self, req: NetworkRequest) -> Empty:
        """Remove the network everywhere, unless another host still has containers on it.

        Docker gives a remote driver no veto here: it drops its own view of the
        network whatever we answer. So while other hosts use the network the
        switch stays, this host's alias is dropped, and the network reappears on
        this host (network replication) since it still exists in the cluster.
        """
        switch = self._find_network(req.network_id)
        # Docker is done with the network here whatever happens below: so is the map
        # of the addresses its IPAM gave out on it.
        self._forget_network(switch.name if switch is not None else req.network_id)
        if switch is None:
            return Empty()  # gone already (removed from another host)
        # No container of this host is on it (Docker refuses before): the host's side goes.
        self.connectivity.network_gone(switch.name)
        ports = self._endpoints(switch)
        if ports:
            users = sorted({f"{p.external_ids.get(external_ids.CONTAINER_NAME) or p.name[:12]} on "
                            f"{p.external_ids.get(external_ids.HOSTNAME) or p.external_ids.get(external_ids.HOST)}"
                            for p in ports})
            alias = external_ids.DOCKER_ID_PREFIX + req.network_id
            if alias in switch.external_ids:
                nb_call("drop network alias", self.nb.remove_switch_ids, switch.name, (alias,))
            raise DriverError(f"network still has {len(ports)} container(s): "
                              f"{', '.join(users[:5])}{' ...' if len(users) > 5 else ''}; "
                              "it stays in the cluster")
        # Docker releases the pool *before* DeleteNetwork, while the switch still
        # exists, so the pool (shared by every host's view) goes with the switch.
        pools = ipam.switch_pools(switch.external_ids)
        _, lrp, _ = identifiers.router_names(switch.name, switch.external_ids.get(external_ids.ROUTER))
        try:
            nb_call("delete network", self.nb.delete_switch, switch.name, pools, lrp)
        except DriverError:
            # Docker drops its view whatever we answer: finish the delete once NB is
            # back, and keep replication from bringing the network back meanwhile.
            self.pending_deletes.add(switch.name)
            raise
        LOG.info("network %s deleted", switch.name[:12])
        return Empty()

    def _delete_if_unused(self, switch_name: str) -> None:
        """The background retry of a failed DeleteNetwork (see pending_deletes)."""
        switch = self.nb.switch(switch_name)
        if switch is None:
            return
        pools = ipam.switch_pools(switch.external_ids)
        _, lrp, _ = identifiers.router_names(switch.name, switch.external_ids.get(external_ids.ROUTER))
        self.nb.delete_switch(switch.name, pools, lrp)

    def _in_use(self, switch_name: str) -> bool:
        switch = self.nb.switch(switch_name)
        return switch is not None and bool(self._endpoints(switch))

    def _endpoints(self, switch: LogicalSwitch) -> list:
        """The switch's container ports (not its router port)."""
        return [p for p in self.nb.ports(switch.name) if external_ids.ENDPOINT_ID in p.external_ids]

    # -- endpoints ------------------------------------------------------------------------

    def create_endpoint(self, req: CreateEndpointRequest) -> CreateEndpointReply:
        switch = self._network(req.network_id)
        ids = switch.external_ids
        want = spec.endpoint_spec(req, ids[external_ids.SUBNET], ids.get(external_ids.SUBNET6))
        try:
            labels = membership.endpoint_labels(req.options)
        except PolicyError as exc:
            raise DriverError(str(exc)) from None
        existing = self.nb.port(req.endpoint_id)
        if existing is not None:
            if existing.external_ids.get(external_ids.NETWORK_ID) == switch.name and \
                    existing.addresses == (want.lsp_address,):
                return self._endpoint_reply(want)  # a replay
            raise DriverError(f"endpoint {req.endpoint_id[:12]} already exists "
                              f"with address {' '.join(existing.addresses)}")
        with self._taken_lock:
            holder = self._address_holder(switch, str(want.ipv4.ip))
            if holder is not None:
                raise DriverError(f"address {want.ipv4.ip} is already used by endpoint "
                                  f"{holder[:12]}")
            self._taken_on(switch.name)[str(want.ipv4.ip)] = req.endpoint_id  # claimed
        port_ids = {
            external_ids.NETWORK_ID: switch.name,
            external_ids.ENDPOINT_ID: req.endpoint_id,
            external_ids.HOST: self.host_id,
            external_ids.HOSTNAME: self.hostname,
            external_ids.CREATED_AT: str(int(time.time())),
            **labels,
        }
        # Under its policies from its first packet: the port and its memberships are
        # one transaction (see network/policy/membership.py).
        groups = membership.groups_for(read_policies(self.policy_groups), switch.name,
                                       port_labels(port_ids))
        try:
            nb_call("create endpoint", self.nb.add_port, switch.name, req.endpoint_id,
                    [want.lsp_address], [want.lsp_address], port_ids, groups)
        except DriverError:
            self._forget_address(switch.name, req.endpoint_id)
            raise
        LOG.info("endpoint %s created on %s: %s", req.endpoint_id[:12], req.network_id[:12],
                 want.lsp_address)
        return self._endpoint_reply(want)

    @staticmethod
    def _endpoint_reply(want: spec.EndpointSpec) -> CreateEndpointReply:
        if not want.mac_chosen_by_driver:
            return CreateEndpointReply()
        return CreateEndpointReply(interface=EndpointInterfaceReply(mac_address=want.mac))

    def _address_holder(self, switch: LogicalSwitch, ip: str) -> str | None:
        """The endpoint that already has ``ip`` on this network, if any.

        dockovn's IPAM hands out each address once (in NB, cluster-wide): nothing to
        check. Networks on Docker's own IPAM are never replicated, so only this host's
        driver writes their ports: an in-memory map (built from NB once per network,
        then kept up to date) answers without scanning the switch's ports, and a hit
        is confirmed in NB by index (`dockovn gc` may have removed the holder).
        """
        if switch.external_ids.get(external_ids.IPAM) == ADDRESS_SPACE:
            return None
        holder = self._taken_on(switch.name).get(ip)
        if holder is None:
            return None
        port = self.nb.port(holder)
        if port is not None and any(ip in entry.split()[1:] for entry in port.addresses):
            return holder
        del self._taken[switch.name][ip]
        return None

    def _taken_on(self, switch_name: str) -> dict[str, str]:
        taken = self._taken.get(switch_name)
        if taken is None:
            taken = {}
            for port in self.nb.ports(switch_name):
                for entry in port.addresses:
                    for ip in entry.split()[1:]:
                        taken[ip] = port.name
            self._taken[switch_name] = taken
        return taken

    def _forget_network(self, switch_name: str) -> None:
        with self._taken_lock:
            self._taken.pop(switch_name, None)

    @property
    def address_maps(self) -> int:
        """Networks whose address map this driver holds: it must follow the networks
        (a map kept after DeleteNetwork is memory never given back)."""
        with self._taken_lock:
            return len(self._taken)

    def _forget_address(self, switch_name: str, endpoint_id: str) -> None:
        with self._taken_lock:
            taken = self._taken.get(switch_name, {})
            for ip in [ip for ip, holder in taken.items() if holder == endpoint_id]:
                del taken[ip]

    def endpoint_oper_info(self, req: EndpointRequest) -> EndpointOperInfoReply:
        port = self.nb.port(req.endpoint_id)
        if port is None:
            raise DriverError(f"endpoint {req.endpoint_id[:12]} not found")
        plugged = plugging.plugged_port(self.ovs, req.endpoint_id)
        return EndpointOperInfoReply(value={
            "logical_port": port.name,
            "addresses": list(port.addresses),
            "up": bool(port.up),
            "veth": plugged or "",
        })

    def delete_endpoint(self, req: EndpointRequest) -> Empty:
        # Leave normally unplugged already; unplug again in case it never came.
        plugging.unplug(self.ovs, req.endpoint_id)
        port = self.nb.port(req.endpoint_id)
        if port is None:
            return Empty()
        owner = port.external_ids.get(external_ids.NETWORK_ID)
        if owner is not None and self.nb.switch(owner) is None:
            owner = None  # not where it says: let the delete find it
        nb_call("delete endpoint", self.nb.delete_port, req.endpoint_id, owner)
        if owner is not None:
            self._forget_address(owner, req.endpoint_id)
        LOG.info("endpoint %s deleted", req.endpoint_id[:12])
        return Empty()

    # -- sandboxes ------------------------------------------------------------------------

    def join(self, req: JoinRequest) -> JoinReply:
        switch = self._network(req.network_id)
        port = self.nb.port(req.endpoint_id)
        if port is None or port.external_ids.get(external_ids.NETWORK_ID) != switch.name:
            raise DriverError(f"endpoint {req.endpoint_id[:12]} not found on network "
                              f"{req.network_id[:12]}")
        mac = port.addresses[0].split()[0]
        mtu = int(switch.external_ids.get(external_ids.MTU, self.default_mtu))
        inner = plugging.plug(self.ovs, req.endpoint_id, mac, mtu, self.userspace_datapath,
                              lambda outer: self.ovs.plug(outer, {
                                  "iface-id": req.endpoint_id,
                                  "attached-mac": mac,
                                  "iface-status": "active",
                                  external_ids.OVS_ENDPOINT: req.endpoint_id,
                                  external_ids.OVS_NETWORK: switch.name,
                              }))
        LOG.info("endpoint %s joined %s via %s", req.endpoint_id[:12], req.sandbox_key, inner)
        # The way out is through this host (network/gateway); the OVN router carries
        # traffic between networks of the same named router only: routes to them.
        try:
            gateway, gateway_ipv6, routes = self.connectivity.join(switch)
        except DriverError:
            plugging.unplug(self.ovs, req.endpoint_id)
            raise
        routes += routing.routes_to_peers(self.nb, switch)
        return JoinReply(interface_name=InterfaceName(src_name=inner, dst_prefix="eth"),
                         gateway=gateway, gateway_ipv6=gateway_ipv6,
                         static_routes=routes or None)

    def program_external_connectivity(self, req: EndpointRequest) -> Empty:
        port = self.nb.port(req.endpoint_id)
        if port is None:
            if (req.options or {}).get(PORTMAP_OPTION):
                raise DriverError(f"endpoint {req.endpoint_id[:12]} not found")
            return Empty()  # nothing asked of an endpoint we do not have: nothing to do
        self.connectivity.program(port, req.endpoint_id, req.options)
        return Empty()

    def revoke_external_connectivity(self, req: EndpointRequest) -> Empty:
        self.connectivity.revoke(req.endpoint_id)
        return Empty()

    def leave(self, req: EndpointRequest) -> Empty:
        published = self.connectivity.published_here(req.endpoint_id)
        plugging.unplug(self.ovs, req.endpoint_id, wait=False)
        if published:  # its OVS port held them: the rules are rewritten without them
            self.connectivity.refresh()
        LOG.info("endpoint %s left", req.endpoint_id[:12])
        return Empty()
