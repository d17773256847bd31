"""The OVN Northbound DB, one method per intent.

Every method that changes the DB runs exactly one ovsdbapp transaction, so a
request that fails leaves nothing half-written. Reads come from the IDL's local
cache, which ovsdbapp keeps in sync over one persistent connection.

This module knows logical switches and ports, never Docker: the caller decides
what the external_ids mean (see ``dockovn.network.keys``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ovsdbapp.schema.ovn_northbound import impl_idl

from dockovn.ovsdb import OwnConnection, close_api, commit, open_api

LOG = logging.getLogger(__name__)

# Used when the server cannot be asked for its schema yet (central still
# starting): the IDL connects and catches up once it is reachable.
LOCAL_NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


class NorthboundError(RuntimeError):
    """A Northbound transaction failed or the DB could not be reached."""


@dataclass(frozen=True)
class LogicalSwitch:
    uuid: str
    name: str
    external_ids: dict[str, str]
    other_config: dict[str, str]
    port_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogicalPort:
    uuid: str
    name: str
    switch_name: str
    addresses: tuple[str, ...]
    external_ids: dict[str, str]
    up: bool | None = None
    options: dict[str, str] = field(default_factory=dict)


def _switch(row) -> LogicalSwitch:
    return LogicalSwitch(
        uuid=str(row.uuid),
        name=row.name,
        external_ids=dict(row.external_ids),
        other_config=dict(row.other_config),
        port_names=tuple(sorted(p.name for p in row.ports)),
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


class _NbApi(OwnConnection, impl_idl.OvnNbApiIdlImpl):
    pass


class Northbound:
    """A persistent connection to the OVN Northbound DB."""

    def __init__(self, remote: str, timeout: float = 10.0):
        self.remote = remote
        try:
            self.api = open_api(_NbApi, remote, "OVN_Northbound", timeout,
                                schema_file=LOCAL_NB_SCHEMA)
        except Exception as exc:
            raise NorthboundError(f"cannot connect to OVN Northbound at {remote}: {exc}") from exc

    def close(self) -> None:
        close_api(self.api)

    # -- reads (local IDL cache) -------------------------------------------------

    def _switch_rows(self):
        return list(self.api.tables["Logical_Switch"].rows.values())

    def switches(self) -> list[LogicalSwitch]:
        return [_switch(r) for r in self._switch_rows()]

    def switch(self, name: str) -> LogicalSwitch | None:
        row = self.api.lookup("Logical_Switch", name, default=None)
        return _switch(row) if row is not None else None

    def switches_with(self, key: str, value: str | None = None) -> list[LogicalSwitch]:
        """Switches whose external_ids have ``key`` (equal to ``value`` if given)."""
        return [
            _switch(r)
            for r in self._switch_rows()
            if key in r.external_ids and (value is None or r.external_ids[key] == value)
        ]

    def port(self, name: str) -> LogicalPort | None:
        row = self.api.lookup("Logical_Switch_Port", name, default=None)
        if row is None:
            return None
        owner = next((s.name for s in self._switch_rows() if row in s.ports), "")
        return _port(row, owner)

    def ports(self, switch_name: str) -> list[LogicalPort]:
        row = self.api.lookup("Logical_Switch", switch_name, default=None)
        if row is None:
            return []
        return [_port(p, switch_name) for p in row.ports]

    # -- writes (one transaction each) ------------------------------------------------

    def _commit(self, what: str, *commands) -> None:
        commit(self.api, NorthboundError, what, *commands)

    def create_switch(self, name: str, external_ids: dict[str, str],
                      other_config: dict[str, str] | None = None) -> None:
        self._commit(
            f"creating logical switch {name}",
            self.api.ls_add(name, may_exist=False, external_ids=external_ids,
                            other_config=other_config or {}),
        )

    def delete_switch(self, name: str) -> None:
        """Delete a switch and (by OVSDB garbage collection) its ports; gone is fine."""
        self._commit(f"deleting logical switch {name}", self.api.ls_del(name, if_exists=True))

    def set_switch_ids(self, name: str, external_ids: dict[str, str]) -> None:
        """Set some external_ids keys (a partial-map mutate, not a rewrite)."""
        self._commit(
            f"updating logical switch {name}",
            self.api.db_set("Logical_Switch", name, ("external_ids", external_ids)),
        )

    def add_port(self, switch_name: str, port_name: str, addresses: list[str],
                 port_security: list[str], external_ids: dict[str, str]) -> None:
        self._commit(
            f"adding logical switch port {port_name}",
            self.api.lsp_add(switch_name, port_name, may_exist=False,
                             addresses=addresses, port_security=port_security,
                             external_ids=external_ids),
        )

    def delete_port(self, port_name: str) -> None:
        """Delete a port; a port already gone is fine."""
        self._commit(f"deleting logical switch port {port_name}",
                     self.api.lsp_del(port_name, if_exists=True))

    def set_port_ids(self, port_name: str, external_ids: dict[str, str]) -> None:
        self._commit(
            f"updating logical switch port {port_name}",
            self.api.db_set("Logical_Switch_Port", port_name, ("external_ids", external_ids)),
        )
