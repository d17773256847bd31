"""OVN Northbound load balancers, one method per intent (one transaction each).

A VIP on a logical switch needs more than a Load_Balancer row. OVN's switch
pipeline rewrites the destination of traffic to a VIP (DNAT to a backend), but
nothing on a switch answers ARP for the VIP, and after the rewrite the frame is
still addressed to the VIP's MAC, which no port owns. So each VIP gets a
*responder*: a logical router of its own with one port whose address is the
VIP. It answers ARP (and ping) for the VIP, and a frame the switch's load
balancer has rewritten to a backend reaches it by MAC and is routed straight
back into the switch, to the backend. Replies go from the backend to the client
directly, un-NATed in the client's conntrack zone. (This is how ovn-kubernetes'
pods reach a ClusterIP: through a router's MAC, with the balancer on the switch.)
The router is distributed: it runs on every chassis, with no gateway.

Health checks are OVN's own: a Load_Balancer_Health_Check row per VIP, and
``ip_port_mappings`` (backend IP -> "logical_port:source_ip") telling
ovn-controller, on the chassis that hosts each backend, which port to probe
from which source address; ovn-northd leaves backends whose SB Service_Monitor
is "offline" out of the datapath flows.

Like ``nb.py`` this knows rows, not Docker nor services: the caller chooses the
names, addresses and external_ids (see ``dockovn.network.services``).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.ovn.mutations import DestroyIfExists, RemoveFromColumn
from dockovn.ovn.nb import AllocationRefused, Northbound, NorthboundError, PoolNotFound
from dockovn.ovn.writes import WRITE_ID, new_token, written_by
from dockovn.ovsdb import commit, connected, reading

PROTOCOL = "tcp"  # OVN health checks probe TCP (or UDP); services here are TCP


@dataclass(frozen=True)
class HealthCheck:
    vip: str
    options: dict[str, str]


@dataclass(frozen=True)
class LoadBalancer:
    uuid: str
    name: str
    protocol: str
    vips: dict[str, str]                 # "IP:PORT" -> "IP:PORT,IP:PORT,..."
    ip_port_mappings: dict[str, str]     # backend IP -> "logical_port:source_ip"
    health_checks: tuple[HealthCheck, ...]
    options: dict[str, str]
    external_ids: dict[str, str]
    switches: tuple[str, ...] = ()       # the logical switches it is on


@dataclass(frozen=True)
class VipResponder:
    """The router that makes a VIP reachable on a switch (see the module doc)."""

    router: str
    router_port: str
    switch_port: str
    mac: str
    network: str                          # "VIP/prefix" on the switch's subnet
    external_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewLoadBalancer:
    name: str
    switch: str
    vip: str                              # "IP:PORT"
    backends: str                         # "IP:PORT,..." (may be empty: no instance yet)
    responder: VipResponder
    external_ids: dict[str, str]
    health_check: dict[str, str] | None = None   # the check's options; None: no check
    ip_port_mappings: dict[str, str] = field(default_factory=dict)
    # Addresses to take from this Address_Set pool in the same transaction
    # (the VIP and the probes' source on a network with dockovn's IPAM).
    reserve_in: str | None = None
    reserve: tuple[str, ...] = ()
    reserve_marks: dict[str, str] = field(default_factory=dict)  # pool external_ids set too


@dataclass(frozen=True)
class Removal:
    """Everything one load balancer brought, to remove in one go."""

    lb_uuid: str
    router: str
    switch_port: str
    release_from: str | None = None       # pool to give ``release`` back to
    release: tuple[str, ...] = ()
    release_keys: tuple[str, ...] = ()    # the pool's external_ids that go with them


def _lb(row, switches: tuple[str, ...]) -> LoadBalancer:
    return LoadBalancer(
        uuid=str(row.uuid), name=row.name, protocol=(row.protocol[0] if row.protocol else ""),
        vips=dict(row.vips), ip_port_mappings=dict(row.ip_port_mappings),
        health_checks=tuple(HealthCheck(hc.vip, dict(hc.options)) for hc in row.health_check),
        options=dict(row.options), external_ids=dict(row.external_ids),
        switches=switches)


class _Create(ovs_command.BaseCommand):
    """Load balancer, health check, responder and address reservation as one
    transaction: a failure anywhere leaves nothing behind.

    The pool is verified (an OVSDB "wait"), as in ``Northbound.allocate``: if
    another host takes an address meanwhile, the server answers TRY_AGAIN and
    this runs again on the new set, where the address shows as taken.
    """

    def __init__(self, api, spec: NewLoadBalancer):
        super().__init__(api)
        self.spec = spec
        self._row = None
        self.token = new_token()  # the same in every run of this command

    def run_idl(self, txn):
        spec = self.spec
        self._row = None  # a re-run starts afresh
        for row in self.api.tables["Load_Balancer"].rows.values():
            if written_by(row.external_ids, self.token):
                # A re-run after a lost answer: the first run made it all.
                self.result = str(row.uuid)
                return
        if spec.reserve_in:
            pool = idlutils.row_by_value(self.api.idl, "Address_Set", "name", spec.reserve_in,
                                         None)
            if pool is None:
                self.result = PoolNotFound(f"address pool {spec.reserve_in} does not exist")
                return
            pool.verify("addresses")
            taken = [a for a in spec.reserve if a in pool.addresses]
            if taken:
                # Returned, not raised: ovsdbapp would log a raise as a crash.
                self.result = AllocationRefused(f"address {taken[0]} is already in use")
                return
            for address in spec.reserve:
                pool.addvalue("addresses", address)
            for key, value in spec.reserve_marks.items():
                pool.setkey("external_ids", key, value)
        switch = self.api.lookup("Logical_Switch", spec.switch)
        tables = self.api.tables

        lb = txn.insert(tables["Load_Balancer"])
        lb.name = spec.name
        lb.protocol = PROTOCOL
        lb.vips = {spec.vip: spec.backends}
        lb.ip_port_mappings = spec.ip_port_mappings
        # With no (healthy) backend, answer a TCP RST at once instead of letting
        # the client time out on a VIP that silently drops.
        lb.options = {"reject": "true"}
        lb.external_ids = {**spec.external_ids, WRITE_ID: self.token}
        if spec.health_check is not None:
            check = txn.insert(tables["Load_Balancer_Health_Check"])
            check.vip = spec.vip
            check.options = spec.health_check
            check.external_ids = spec.external_ids
            lb.health_check = [check]
        switch.addvalue("load_balancer", lb)

        resp = spec.responder
        lrp = txn.insert(tables["Logical_Router_Port"])
        lrp.name = resp.router_port
        lrp.mac = resp.mac
        lrp.networks = [resp.network]
        lrp.external_ids = resp.external_ids
        router = txn.insert(tables["Logical_Router"])
        router.name = resp.router
        router.ports = [lrp]
        router.external_ids = resp.external_ids
        lsp = txn.insert(tables["Logical_Switch_Port"])
        lsp.name = resp.switch_port
        lsp.type = "router"
        lsp.addresses = ["router"]
        lsp.options = {"router-port": resp.router_port}
        lsp.external_ids = resp.external_ids
        switch.addvalue("ports", lsp)
        self._row = lb
        self.result = None

    def post_commit(self, txn):
        if self._row is not None and not isinstance(self.result, Exception):
            self.result = str(txn.get_insert_uuid(self._row.uuid) or self._row.uuid)


class _SetColumns(ovs_command.BaseCommand):
    """Write whole columns of one row (ovsdbapp's db_set merges maps instead)."""

    def __init__(self, api, table: str, row_uuid: str, columns: dict):
        super().__init__(api)
        self.table = table
        self.row_uuid = uuidlib.UUID(row_uuid)
        self.columns = columns

    def run_idl(self, txn):
        row = self.api.tables[self.table].rows.get(self.row_uuid)
        self.result = row is not None
        if row is None:
            return  # deleted meanwhile (service deleted, or network gone): nothing to do
        for column, value in self.columns.items():
            if getattr(row, column) != value:
                setattr(row, column, value)


class LoadBalancers:
    """Load_Balancer rows (and what goes with them) through a Northbound's connection."""

    def __init__(self, nb: Northbound):
        self.nb = nb
        self.api = nb.api

    # -- reads (local IDL cache) -------------------------------------------------------

    @reading
    def all(self) -> list[LoadBalancer]:
        on: dict = {}
        for switch in self.api.tables["Logical_Switch"].rows.values():
            for lb in switch.load_balancer:
                on.setdefault(lb.uuid, []).append(switch.name)
        return [_lb(row, tuple(sorted(on.get(row.uuid, ()))))
                for row in self.api.tables["Load_Balancer"].rows.values()]

    def change_seqno(self) -> int:
        """Changes whenever the IDL cache does: a cheap "did anything happen?"."""
        return self.api.idl.change_seqno

    # -- writes (one transaction each) -------------------------------------------------

    def _commit(self, what: str, *commands) -> None:
        if not connected(self.api):
            raise NorthboundError(f"{what}: OVN central is unreachable "
                                  f"(Northbound {self.nb.remote} not connected)")
        commit(self.api, NorthboundError, what, *commands)

    def create(self, spec: NewLoadBalancer) -> str:
        """Create it all; returns the Load_Balancer's UUID.

        Raises AllocationRefused / PoolNotFound (nothing written) when the
        reservation cannot be made, NorthboundError for anything else, e.g. a
        responder port name in use: the same load balancer made twice.
        """
        command = _Create(self.api, spec)
        self._commit(f"creating load balancer {spec.name}", command)
        if isinstance(command.result, Exception):
            raise command.result
        return command.result

    def set_backends(self, lb_uuid: str, vips: dict[str, str],
                     ip_port_mappings: dict[str, str]) -> None:
        """Replace the VIPs' backends and the health checks' port mappings."""
        self._commit(f"updating load balancer {lb_uuid}",
                     _SetColumns(self.api, "Load_Balancer", lb_uuid,
                                 {"vips": vips, "ip_port_mappings": ip_port_mappings}))

    def remove(self, removals: list[Removal]) -> None:
        """Remove load balancers with their responders (and health checks, which
        OVSDB collects with them), and release their addresses; what is gone
        already is fine."""
        commands = []
        for r in removals:
            commands.append(DestroyIfExists(self.api, "Load_Balancer", r.lb_uuid))
            commands.append(self.api.lsp_del(r.switch_port, if_exists=True))
            commands.append(self.api.lr_del(r.router, if_exists=True))
            if r.release_from and r.release:
                pool = self.nb.pool(r.release_from)
                if pool is not None:
                    commands.append(RemoveFromColumn(self.api, "Address_Set", pool.uuid,
                                                     "addresses", *r.release, if_exists=True))
                    commands.append(RemoveFromColumn(self.api, "Address_Set", pool.uuid,
                                                     "external_ids", *r.release_keys,
                                                     if_exists=True))
        if commands:
            self._commit("removing load balancer(s) "
                         + ", ".join(r.lb_uuid for r in removals), *commands)

    def update_port_ids(self, set_ids: dict[str, dict[str, str]],
                        remove_keys: dict[str, tuple[str, ...]]) -> None:
        """Set and remove external_ids keys on several logical ports at once (one
        container's ports joining or leaving a service is one intent)."""
        commands = [self.api.db_set("Logical_Switch_Port", port, ("external_ids", ids))
                    for port, ids in set_ids.items()]
        commands += [RemoveFromColumn(self.api, "Logical_Switch_Port", port, "external_ids",
                                      *keys, if_exists=True)
                     for port, keys in remove_keys.items() if keys]
        if commands:
            self._commit("updating service registration of "
                         + ", ".join(sorted(set_ids.keys() | remove_keys.keys())), *commands)
