"""The local Open vSwitch database: plugging container veths into the integration bridge.

One persistent ovsdbapp connection; each plug or unplug is one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ovsdbapp.backend.ovs_idl import idlutils, transaction
from ovsdbapp.schema.open_vswitch import impl_idl

from dockovn.ovsdb import (OwnConnection, SslFiles, close_api, commit, describe, open_api,
                           reading)

LOG = logging.getLogger(__name__)

DEFAULT_OVS_DB = "unix:/var/run/openvswitch/db.sock"


class OvsError(RuntimeError):
    """A local OVS transaction failed or the DB could not be reached."""


@dataclass(frozen=True)
class BridgePort:
    name: str
    external_ids: dict[str, str]  # the Interface's external_ids (iface-id, ...)


@dataclass(frozen=True)
class InterfaceState:
    """An Interface row as `dockovn doctor` reads it (tunnels, container ports)."""
    name: str
    type: str                     # "" (system), "internal", "geneve", "vxlan", ...
    ofport: int | None            # None or -1: vswitchd could not add it
    options: dict[str, str]       # tunnels: remote_ip, ...
    external_ids: dict[str, str]
    link_state: str               # "up", "down", "" (not reported yet)
    error: str                    # vswitchd's reason it could not use it ("" none)


class _NoWaitTransaction(transaction.Transaction):
    """Like `ovs-vsctl --no-wait`: commit to the DB, do not wait for ovs-vswitchd to
    apply it (ovsdbapp's default waits: 10-30 ms per Join here). vswitchd and
    ovn-controller act on the new port asynchronously, as they would anyway."""

    def pre_commit(self, txn):
        txn.expected_ifaces = set()  # ovsdbapp's add_port records into it


class _OvsApi(OwnConnection, impl_idl.OvsdbIdl):
    def create_transaction(self, check_error=False, log_errors=True, **kwargs):
        return _NoWaitTransaction(self, self.ovsdb_connection,
                                  check_error=check_error, log_errors=log_errors)


class LocalSwitch:
    """The integration bridge (br-int) of this host's Open vSwitch."""

    def __init__(self, remote: str = DEFAULT_OVS_DB, bridge: str = "br-int", timeout: float = 10.0):
        self.remote = remote
        self.bridge = bridge
        try:
            self.api = open_api(_OvsApi, remote, "Open_vSwitch", timeout,
                                tables=("Open_vSwitch", "Bridge", "Port", "Interface", "SSL"))
        except Exception as exc:
            raise OvsError(f"cannot connect to Open vSwitch at {remote}: {describe(exc)}") from exc

    def close(self) -> None:
        close_api(self.api)

    def _commit(self, what: str, *commands) -> None:
        commit(self.api, OvsError, what, *commands)

    @reading
    def has_bridge(self) -> bool:
        return idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None) is not None

    def plug(self, port_name: str, external_ids: dict[str, str]) -> None:
        """Add ``port_name`` (an existing netdev) to the bridge with these Interface external_ids."""
        if not self.has_bridge():
            raise OvsError(
                f"bridge {self.bridge} does not exist: is ovn-controller running "
                "(dockovn host setup)?")
        self._commit(
            f"adding port {port_name} to {self.bridge}",
            self.api.add_port(self.bridge, port_name, may_exist=True, external_ids=external_ids),
        )

    def add_internal_port(self, port_name: str, external_ids: dict[str, str],
                          mtu: int, mac: str) -> None:
        """An OVS internal port (an interface of this host's own stack) with this MAC
        and these Interface external_ids; there already is fine."""
        if not self.has_bridge():
            raise OvsError(f"bridge {self.bridge} does not exist: is ovn-controller running "
                           "(dockovn host setup)?")
        self._commit(
            f"adding internal port {port_name} to {self.bridge}",
            self.api.add_port(self.bridge, port_name, may_exist=True, type="internal",
                              external_ids=external_ids, mtu_request=mtu, mac=mac),
        )

    def set_interface_ids(self, port_name: str, set_ids: dict[str, str],
                          remove_keys: tuple[str, ...] = ()) -> None:
        """Set and remove some external_ids keys of a port's Interface, in one go."""
        commands = []
        if set_ids:
            commands.append(self.api.db_set("Interface", port_name, ("external_ids", set_ids)))
        if remove_keys:
            commands.append(self.api.db_remove("Interface", port_name, "external_ids",
                                               *remove_keys, if_exists=True))
        if commands:
            self._commit(f"updating interface {port_name}", *commands)

    def unplug(self, port_name: str) -> None:
        """Remove a port from whichever bridge holds it; a port already gone is fine."""
        self._commit(f"removing port {port_name}", self.api.del_port(port_name, if_exists=True))

    @reading
    def ports(self) -> list[BridgePort]:
        """The bridge's ports with their (first) Interface's external_ids."""
        br = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None)
        if br is None:
            return []
        out = []
        for port in br.ports:
            iface = port.interfaces[0] if port.interfaces else None
            out.append(BridgePort(port.name, dict(iface.external_ids) if iface else {}))
        return out

    @reading
    def interfaces(self) -> list[InterfaceState]:
        """Every interface of the bridge's ports (read only; for `dockovn doctor`)."""
        br = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None)
        if br is None:
            return []
        out = []
        for port in br.ports:
            for iface in port.interfaces:
                out.append(InterfaceState(
                    name=iface.name, type=iface.type or "",
                    ofport=iface.ofport[0] if iface.ofport else None,
                    options=dict(iface.options), external_ids=dict(iface.external_ids),
                    link_state=iface.link_state[0] if iface.link_state else "",
                    error=iface.error[0] if iface.error else ""))
        return out

    @reading
    def all_port_names(self) -> set[str]:
        """Ports on any bridge of this Open vSwitch."""
        return {p.name for p in self.api.tables["Port"].rows.values()}

    @reading
    def port(self, port_name: str) -> BridgePort | None:
        """A port (on any bridge) by name: an index lookup."""
        port = idlutils.row_by_value(self.api.idl, "Port", "name", port_name, None)
        if port is None:
            return None
        iface = port.interfaces[0] if port.interfaces else None
        return BridgePort(port.name, dict(iface.external_ids) if iface else {})

    @reading
    def system_id(self) -> str | None:
        """This chassis' OVN identity (external_ids:system-id), if set."""
        rows = list(self.api.tables["Open_vSwitch"].rows.values())
        return rows[0].external_ids.get("system-id") if rows else None

    @reading
    def datapath_type(self) -> str:
        """The bridge's datapath type: "netdev" is the userspace datapath."""
        br = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None)
        return (br.datapath_type if br is not None else "") or "system"

    @reading
    def ssl_files(self) -> SslFiles | None:
        """The key, certificate and CA `dockovn host setup --ssl-*` recorded (OVS's SSL row)."""
        rows = list(self.api.tables["Open_vSwitch"].rows.values())
        if not rows or not rows[0].ssl:
            return None
        ssl = rows[0].ssl[0]
        return SslFiles(ssl.private_key, ssl.certificate, ssl.ca_cert)

    @reading
    def host_config(self) -> dict[str, str]:
        """The Open_vSwitch row's external_ids (ovn-remote, ovn-encap-ip, system-id, ...)."""
        rows = list(self.api.tables["Open_vSwitch"].rows.values())
        return dict(rows[0].external_ids) if rows else {}

    def set_host_config(self, external_ids: dict[str, str]) -> None:
        """Set these keys of the Open_vSwitch row's external_ids, in one transaction."""
        self._commit("configuring Open vSwitch for OVN",
                     self.api.db_set("Open_vSwitch", ".", ("external_ids", external_ids)))
