"""Undoing a write whose answer never came.

A transaction sent just before the connection dropped, or before the request's time ran
out, may still commit after the caller was told "failed" (``ovsdb.OutcomeUnknown``).
Docker then forgets the endpoint or network and frees its address, and whatever landed
would hold that address or name until gc. So the writer queues one of these commands
behind the lost one on the same connection: ovsdbapp runs one transaction at a time, so
it runs once the lost one's fate is known, and removes the row only if it is that
write's own (same name and the external_ids it wrote, or its claim value). Run twice, or
when nothing landed, it changes nothing.
"""

from __future__ import annotations

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.ovsdb import column_value


def _has(row, external_ids: dict[str, str]) -> bool:
    ids = row.external_ids
    return all(ids.get(k) == v for k, v in external_ids.items())


class UndoSwitch(ovs_command.BaseCommand):
    def __init__(self, api, name: str, external_ids: dict[str, str]):
        super().__init__(api)
        self.name, self.external_ids = name, external_ids

    def run_idl(self, txn):
        row = self.api.lookup("Logical_Switch", self.name, default=None)
        if row is not None and _has(row, self.external_ids):
            row.delete()


class UndoPort(ovs_command.BaseCommand):
    def __init__(self, api, switch_name: str, port_name: str, external_ids: dict[str, str]):
        super().__init__(api)
        self.switch_name, self.port_name = switch_name, port_name
        self.external_ids = external_ids

    def run_idl(self, txn):
        port = self.api.lookup("Logical_Switch_Port", self.port_name, default=None)
        switch = self.api.lookup("Logical_Switch", self.switch_name, default=None)
        if port is not None and switch is not None and _has(port, self.external_ids):
            switch.delvalue("ports", port.uuid)  # unreferenced, OVSDB removes the port


class UndoPool(ovs_command.BaseCommand):
    def __init__(self, api, name: str, external_ids: dict[str, str]):
        super().__init__(api)
        self.name, self.external_ids = name, external_ids

    def run_idl(self, txn):
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", self.name, None)
        if row is not None and _has(row, self.external_ids):
            row.delete()


class UndoClaim(ovs_command.BaseCommand):
    """Return the address a claim took, found by the claim's own value."""

    def __init__(self, api, pool_name: str, claim_prefix: str, claim_value: str):
        super().__init__(api)
        self.pool_name, self.claim_prefix, self.claim_value = pool_name, claim_prefix, claim_value

    def run_idl(self, txn):
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", self.pool_name, None)
        if row is None:
            return
        for key, value in column_value(row, "external_ids").items():
            if key.startswith(self.claim_prefix) and value == self.claim_value:
                row.delkey("external_ids", key)
                row.delvalue("addresses", key[len(self.claim_prefix):])
