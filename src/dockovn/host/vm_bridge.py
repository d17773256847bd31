"""The VM's own Open vSwitch bridge (underlay mode): tagged access ports, and
the driver's small memory, kept in the bridge row where it survives restarts.

Inside an OpenStack VM the uplink (eth0) sits on a bridge (breth0, made by
`dockovn vm setup`); each container's veth is an access port with the VLAN tag
of its Neutron child port, so the uplink carries the container's frames tagged
to the hypervisor, where OVN maps (parent port, tag) to the child port.

The bridge's external_ids hold what Docker will not tell the driver again:
which VLAN tags are taken, which Neutron network and subnet back each Docker
network and pool. Claims are conditional transactions (``verify``): two
concurrent claims never get the same key; the loser re-runs on fresh data.
"""

from __future__ import annotations

from typing import Callable

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.ovsdb import connected, reading


class ClaimRefused(Exception):
    """``choose`` refused: the reason is for the user (all tags taken, key taken)."""


class _ClaimCommand(ovs_command.BaseCommand):
    """Set one key of the bridge's external_ids chosen from its current contents,
    conditional on them not changing meanwhile (an OVSDB "wait")."""

    def __init__(self, api, bridge: str, choose: Callable[[dict[str, str]], tuple[str, str]]):
        super().__init__(api)
        self.bridge = bridge
        self.choose = choose

    def run_idl(self, txn):
        row = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None)
        if row is None:
            self.result = OvsError(f"bridge {self.bridge} does not exist (dockovn vm setup)")
            return
        row.verify("external_ids")
        try:
            key, value = self.choose(dict(row.external_ids))
        except ClaimRefused as refusal:
            self.result = refusal  # raised by claim(), after the empty transaction
            return
        row.setkey("external_ids", key, value)
        self.result = (key, value)


class _AccessPortCommand(ovs_command.BaseCommand):
    """One port with one interface, as an access port of ``tag`` (ovsdbapp's
    add_port cannot set the Port's tag in the same transaction)."""

    def __init__(self, api, bridge: str, name: str, tag: int, external_ids: dict[str, str]):
        super().__init__(api)
        self.bridge, self.name, self.tag, self.external_ids = bridge, name, tag, external_ids

    def run_idl(self, txn):
        br = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge)
        if idlutils.row_by_value(self.api.idl, "Port", "name", self.name, None) is not None:
            raise OvsError(f"port {self.name} already exists")
        iface = txn.insert(self.api.tables["Interface"])
        iface.name = self.name
        iface.external_ids = self.external_ids
        port = txn.insert(self.api.tables["Port"])
        port.name = self.name
        port.tag = self.tag
        port.interfaces = [iface]
        br.addvalue("ports", port)
        self.result = port.uuid


class VmBridge(LocalSwitch):
    """breth0: container access ports and the driver's records."""

    def plug_access(self, port_name: str, tag: int, external_ids: dict[str, str]) -> None:
        if not self.has_bridge():
            raise OvsError(f"bridge {self.bridge} does not exist: run `dockovn vm setup "
                           f"--bridge {self.bridge} --uplink <NIC>` first")
        self._commit(f"adding port {port_name} (VLAN {tag}) to {self.bridge}",
                     _AccessPortCommand(self.api, self.bridge, port_name, tag, external_ids))

    @reading
    def records(self) -> dict[str, str]:
        """The bridge's external_ids."""
        br = idlutils.row_by_value(self.api.idl, "Bridge", "name", self.bridge, None)
        return dict(br.external_ids) if br is not None else {}

    def claim(self, choose: Callable[[dict[str, str]], tuple[str, str]]) -> tuple[str, str]:
        """Set the key ``choose(records)`` picks, atomically against other writers.
        ``choose`` raises ClaimRefused to refuse; nothing is written then."""
        if not connected(self.api):
            raise OvsError(f"Open vSwitch at {self.remote} is not connected")
        command = _ClaimCommand(self.api, self.bridge, choose)
        try:
            with self.api.transaction(check_error=True) as txn:
                txn.add(command)
        except Exception as exc:
            raise OvsError(f"recording in {self.bridge}: {exc}") from exc
        if isinstance(command.result, (ClaimRefused, OvsError)):
            raise command.result
        return command.result

    def set_records(self, values: dict[str, str]) -> None:
        self._commit(f"recording in {self.bridge}",
                     self.api.db_set("Bridge", self.bridge, ("external_ids", values)))

    def forget(self, *keys_: str) -> None:
        """Remove these keys (absent ones are fine), in one transaction."""
        if not keys_:
            return
        self._commit(f"forgetting in {self.bridge}",
                     self.api.db_remove("Bridge", self.bridge, "external_ids", *keys_,
                                        if_exists=True))
