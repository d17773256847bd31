"""The OVN Northbound DB, one method per intent.

Every method that changes the DB runs exactly one ovsdbapp transaction, so a
request that fails leaves nothing half-written. Reads come from the IDL's local
cache, which ovsdbapp keeps in sync over one persistent connection.

This module knows logical switches and ports, never Docker: the caller decides
what the external_ids mean (see ``dockovn.network.external_ids``).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field


from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.schema.ovn_northbound import impl_idl

from dockovn.ovn.absent import DeleteNamed, NoneMatch, RemovePort
from dockovn.ovn.address_pools import RECONNECT_GRACE, AddressPools
from dockovn.ovn.errors import NorthboundError
from dockovn.ovn.mutations import AddSwitchAcls, DestroyIfExists, JoinGroups, RemoveFromColumn
# Re-exported: callers meet these answers from Northbound's pool methods.
from dockovn.ovn.pools import AllocationRefused, PoolNotFound  # noqa: F401
from dockovn.ovn.routers import DeleteRouterPort, EnsureRouter
from dockovn.ovn.undo import UndoPort, UndoSwitch
from dockovn.ovsdb import (BoundedTransactions, OutcomeUnknown, OwnConnection, SslFiles, close_api,
                           column_value, commit, describe, open_api, reading, wait_connected)

LOG = logging.getLogger(__name__)

# Used when the server cannot be asked for its schema yet (central still
# starting): the IDL connects and catches up once it is reachable.
LOCAL_NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"

UNDO_PATIENCE = 300.0  # seconds to keep trying to undo a write whose answer was lost


@dataclass(frozen=True)
class LogicalSwitch:
    uuid: str
    name: str
    external_ids: dict[str, str]
    other_config: dict[str, str]
    # Filled only when asked for (with_ports=True): listing a big switch's ports
    # costs a conversion per port, too much for every request.
    port_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogicalPort:
    uuid: str
    name: str
    switch_name: str  # "" when read by name alone (finding the owner is a scan)
    addresses: tuple[str, ...]
    external_ids: dict[str, str]
    up: bool | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def ips(self) -> list[str]:
        """The IPs of the port's "MAC IP [IP6]" entries."""
        return [value for entry in self.addresses for value in entry.split()[1:]
                if _is_ip(value)]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _switch(row, with_ports: bool = False) -> LogicalSwitch:
    return LogicalSwitch(
        uuid=str(row.uuid),
        name=row.name,
        external_ids=dict(row.external_ids),
        other_config=dict(row.other_config),
        port_names=tuple(sorted(p.name for p in column_value(row, "ports"))) if with_ports
        else (),
    )


def _port(row, switch_name: str) -> LogicalPort:
    up = row.up[0] if row.up else None
    return LogicalPort(
        uuid=str(row.uuid),
        name=row.name,
        switch_name=switch_name,
        addresses=tuple(row.addresses),
        external_ids=dict(row.external_ids),
        up=up,
        options=dict(row.options),
    )


class _NbApi(BoundedTransactions, OwnConnection, impl_idl.OvnNbApiIdlImpl):
    db_label = "nb"  # in metrics (dockovn_ovsdb_transaction_retries_total)


@dataclass(frozen=True)
class RouterAttachment:
    """How a new switch plugs into a logical router (created if missing)."""

    router: str
    router_external_ids: dict[str, str]
    router_port: str              # the Logical_Router_Port
    switch_port: str              # the switch's port of type "router" facing it
    mac: str
    networks: tuple[str, ...]     # "10.0.0.1/24", "fd00::1/64": the gateway addresses


@dataclass(frozen=True)
class LocalPort:
    """A port of type ``localport``: one address, bound on every chassis to a local
    interface, its traffic never sent to another chassis."""

    name: str
    mac: str
    ip: str
    external_ids: dict[str, str]


class Northbound(AddressPools):
    """A persistent connection to the OVN Northbound DB."""

    def __init__(self, remote: str, timeout: float = 10.0, ssl: SslFiles | None = None):
        self.remote = remote
        try:
            self.api = open_api(_NbApi, remote, "OVN_Northbound", timeout,
                                schema_file=LOCAL_NB_SCHEMA, ssl=ssl,
                                cluster_client=True)
        except Exception as exc:
            raise NorthboundError(f"cannot connect to OVN Northbound at {remote}: "
                                  f"{describe(exc)}") from exc

    def close(self) -> None:
        close_api(self.api)

    # -- reads (local IDL cache) -------------------------------------------------

    def _switch_rows(self):
        return list(self.api.tables["Logical_Switch"].rows.values())

    def change_seqno(self) -> int:
        """Moves on whenever the DB (as this client sees it) changes: a cheap "anything new?"."""
        return self.api.idl.change_seqno

    @reading
    def switches(self, with_ports: bool = False) -> list[LogicalSwitch]:
        return [_switch(r, with_ports) for r in self._switch_rows()]

    @reading
    def switch(self, name: str, with_ports: bool = False) -> LogicalSwitch | None:
        row = self.api.lookup("Logical_Switch", name, default=None)
        return _switch(row, with_ports) if row is not None else None

    @reading
    def switches_with(self, key: str, value: str | None = None,
                      with_ports: bool = False) -> list[LogicalSwitch]:
        """Switches whose external_ids have ``key`` (equal to ``value`` if given)."""
        out = []
        for r in self._switch_rows():
            ids = r.external_ids
            if key in ids and (value is None or ids[key] == value):
                out.append(_switch(r, with_ports))
        return out

    @reading
    def port(self, name: str) -> LogicalPort | None:
        """A port by name (an index lookup); its switch_name is left empty."""
        row = self.api.lookup("Logical_Switch_Port", name, default=None)
        return _port(row, "") if row is not None else None

    @reading
    def ports_with_address(self, switch_name: str, ip: str) -> list[str]:
        """Names of the switch's ports whose addresses include ``ip``."""
        row = self.api.lookup("Logical_Switch", switch_name, default=None)
        if row is None:
            return []
        return [p.name for p in column_value(row, "ports")
                if any(ip in entry.split()[1:] for entry in p.addresses)]

    @reading
    def ports(self, switch_name: str) -> list[LogicalPort]:
        row = self.api.lookup("Logical_Switch", switch_name, default=None)
        if row is None:
            return []
        return [_port(p, switch_name) for p in column_value(row, "ports")]

    # -- writes (one transaction each) ------------------------------------------------

    def _commit(self, what: str, *commands) -> None:
        # Fail soon, not after the timeout, when central is down: dockerd is waiting on
        # this request, and the user wants to know why. A reconnection in progress (a
        # Raft leader change) gets a moment.
        if not wait_connected(self.api, RECONNECT_GRACE):
            raise NorthboundError(f"{what}: OVN central is unreachable "
                                  f"(Northbound {self.remote} not connected)")
        commit(self.api, NorthboundError, what, *commands)

    @reading
    def localport_addresses(self) -> set[str]:
        """The addresses of every localport (one scan of the ports: CreateNetwork only)."""
        return {a for row in self.api.tables["Logical_Switch_Port"].rows.values()
                if row.type == "localport" for entry in row.addresses for a in entry.split()[1:]}

    def none_match(self, table: str, column: str, includes: dict[str, str],
                   names: tuple[str, ...] | None = None) -> bool:
        """True when no row of ``table`` (of those named ``names``) has ``includes`` in
        ``column``, confirmed by the cluster (absent.py); False when this cache holds one:
        read it again. For an answer "there is none" that changes nothing otherwise."""
        command = NoneMatch(self.api, table, column, includes, names)
        self._commit(f"looking for {table} rows with {includes}", command)
        return command.result

    def create_switch(self, name: str, external_ids: dict[str, str],
                      other_config: dict[str, str] | None = None,
                      attach: RouterAttachment | None = None,
                      localport: LocalPort | None = None) -> None:
        """Create a switch, (optionally) plug it into a logical router and give it a
        localport: one transaction."""
        ls = self.api.ls_add(name, may_exist=False, external_ids=external_ids,
                             other_config=other_config or {})
        commands = [ls]
        if localport is not None:
            commands.append(self.api.lsp_add(ls, localport.name, type="localport",
                                             addresses=[f"{localport.mac} {localport.ip}"],
                                             external_ids=localport.external_ids))
            # Conntrack would see only half of each connection through a localport (the
            # other half is the local host's): with a stateful ACL on the switch (any
            # network policy) a reply from it would be "invalid" and dropped. Its side
            # skips conntrack; the container's side still tracks, as policies need.
            commands.append(AddSwitchAcls(self.api, ls, [
                ("from-lport", 1, f'inport == "{localport.name}"', "allow-stateless"),
                ("to-lport", 1, f'outport == "{localport.name}"', "allow-stateless")]))
        if attach is not None:
            # Not lr_add(may_exist=True): routers have no name index (see routers.py).
            lr = EnsureRouter(self.api, attach.router, attach.router_external_ids)
            commands += [
                lr,
                self.api.lrp_add(lr, attach.router_port, attach.mac, list(attach.networks)),
                # The switch side: a port of type "router" facing the router port.
                self.api.lsp_add(ls, attach.switch_port, type="router", addresses=["router"],
                                 options={"router-port": attach.router_port}),
            ]
        try:
            self._commit(f"creating logical switch {name}", *commands)
        except NorthboundError as exc:
            if not self._landed("Logical_Switch", name, external_ids):
                self._undo_if_unknown(exc, f"logical switch {name}",
                                      UndoSwitch(self.api, name, external_ids))
                raise

    def _undo_if_unknown(self, exc: NorthboundError, what: str, undo) -> None:
        """After a write whose outcome is unknown (sent, no answer), remove what it may
        still make (see ovn/undo.py), in the background until NB takes it: the caller
        answers "failed", so nothing of it may stay."""
        if isinstance(exc.__cause__, OutcomeUnknown):
            threading.Thread(target=self._undo, args=(what, undo), daemon=True,
                             name="nb-undo").start()

    def _undo(self, what: str, undo) -> None:
        end = time.monotonic() + UNDO_PATIENCE
        while True:
            try:
                self._commit(f"undoing {what}", undo)
                return
            except NorthboundError as exc:
                if time.monotonic() >= end:
                    LOG.warning("could not undo %s (%s); `dockovn gc` removes it if it "
                                "landed", what, exc)
                    return
                time.sleep(1)

    def _landed(self, table: str, name: str, external_ids: dict[str, str]) -> bool:
        """Whether a write that failed had in fact committed: the row is there with what
        we wrote. A transaction re-run after a lost reply (a Raft leader change) finds
        its own row and fails "already exists"; that is success, not a failure."""
        with self.api.ovsdb_connection.lock:
            row = self.api.lookup(table, name, default=None)
            return row is not None and all(row.external_ids.get(k) == v
                                           for k, v in external_ids.items())

    def delete_switch(self, name: str, pools: tuple[str, ...] = (),
                      router_port: str | None = None) -> None:
        """Delete a switch, its ports (by OVSDB garbage collection), these address pools
        and its router port (and the router, when that was its last port), in one
        transaction; what is gone already is fine (confirmed by the server: absent.py)."""
        commands = [DeleteNamed(self.api, "Logical_Switch", name)]
        for pool_name in pools:
            pool = self.pool(pool_name)
            if pool is not None:
                commands.append(DestroyIfExists(self.api, "Address_Set", pool.uuid))
        if router_port:
            commands.append(DeleteRouterPort(self.api, router_port))
        self._commit(f"deleting logical switch {name}", *commands)

    @reading
    def routers(self, prefix: str) -> dict[str, list[str]]:
        """Routers whose name starts with ``prefix`` -> their port names."""
        return {r.name: [p.name for p in r.ports]
                for r in self.api.tables["Logical_Router"].rows.values()
                if r.name.startswith(prefix)}

    def delete_router_port(self, router_port: str) -> None:
        """Delete a router port, and its router when it was the last one."""
        self._commit(f"deleting router port {router_port}", DeleteRouterPort(self.api, router_port))

    def set_switch_ids(self, name: str, external_ids: dict[str, str]) -> None:
        """Set some external_ids keys (a partial-map mutate, not a rewrite)."""
        self._commit(
            f"updating logical switch {name}",
            self.api.db_set("Logical_Switch", name, ("external_ids", external_ids)),
        )

    def remove_switch_ids(self, name: str, keys: tuple[str, ...]) -> None:
        self._commit(f"updating logical switch {name}",
                     RemoveFromColumn(self.api, "Logical_Switch", name, "external_ids", *keys,
                                      if_exists=True))

    def add_port(self, switch_name: str, port_name: str, addresses: list[str],
                 port_security: list[str], external_ids: dict[str, str],
                 port_groups: tuple[str, ...] = ()) -> None:
        """Add a port, in the same transaction as its membership of ``port_groups``
        (so their ACLs apply from its first packet); a group gone meanwhile is skipped."""
        lsp = self.api.lsp_add(switch_name, port_name, may_exist=False, addresses=addresses,
                               port_security=port_security, external_ids=external_ids)
        try:
            self._commit(f"adding logical switch port {port_name}", lsp,
                         JoinGroups(self.api, lsp, port_groups))
        except NorthboundError as exc:
            if not self._landed("Logical_Switch_Port", port_name, external_ids):
                self._undo_if_unknown(exc, f"logical switch port {port_name}",
                                      UndoPort(self.api, switch_name, port_name, external_ids))
                raise

    def delete_port(self, port_name: str, switch_name: str | None = None) -> None:
        """Delete a port; a port already gone is fine.

        Given its switch, the port is just taken out of the switch's ``ports`` (a set
        mutate) and OVSDB garbage-collects it, being unreferenced: ovsdbapp's lsp_del
        would first check membership by sorting every port of the switch.
        """
        if switch_name is not None:
            self._commit(f"deleting logical switch port {port_name}",
                         RemovePort(self.api, switch_name, port_name))
            return
        self._commit(f"deleting logical switch port {port_name}",
                     self.api.lsp_del(port_name, if_exists=True))

    def forget_ports(self, ports: list[tuple[str, str]], releases: dict[str, list[str]],
                     switch_keys: dict[str, list[str]],
                     pool_keys: dict[str, list[str]] | None = None) -> None:
        """In one transaction: delete ``(switch, port)``s, return addresses to pools and
        drop their ``pool_keys``, drop external_ids keys of switches. What is gone
        already is skipped."""
        commands = []
        for switch_name, port_name in ports:
            row = self.api.lookup("Logical_Switch_Port", port_name, default=None)
            if row is not None:
                commands.append(RemoveFromColumn(self.api, "Logical_Switch", switch_name,
                                                 "ports", row.uuid, if_exists=True))
        for pool_name, addresses in releases.items():
            row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", pool_name, None)
            if row is not None:
                commands.append(RemoveFromColumn(self.api, "Address_Set", str(row.uuid),
                                                 "addresses", *addresses, if_exists=True))
                commands.append(RemoveFromColumn(self.api, "Address_Set", str(row.uuid),
                                                 "external_ids",
                                                 *(pool_keys or {}).get(pool_name, ()),
                                                 if_exists=True))
        for switch_name, keys in switch_keys.items():
            commands.append(RemoveFromColumn(self.api, "Logical_Switch", switch_name,
                                             "external_ids", *keys, if_exists=True))
        if commands:
            self._commit(f"forgetting {len(ports)} port(s)", *commands)

    def set_port_ids(self, port_name: str, external_ids: dict[str, str]) -> None:
        self._commit(
            f"updating logical switch port {port_name}",
            self.api.db_set("Logical_Switch_Port", port_name, ("external_ids", external_ids)),
        )
