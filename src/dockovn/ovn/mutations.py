"""Commands that change part of a column without reading the rest of it.

python-ovs turns a whole column into Python objects whenever it is read: a switch's
``ports`` with 1,000 ports takes ~3 ms (a Row object per port). ovsdbapp's
``db_remove`` reads the column twice just to learn whether it is a map or a set, which
made a DeleteEndpoint at 1,000 ports cost ~6 ms before its transaction was even sent.
The schema already says which it is; the removal itself is a mutate of the elements
named.
"""

from __future__ import annotations

import uuid

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils


class RemoveFromColumn(ovs_command.BaseCommand):
    """Remove ``values`` (a set's elements, or a map's keys) from one row's column, in
    time independent of the column's size. Elements already absent are fine; a row that
    is gone is fine with ``if_exists``."""

    def __init__(self, api, table: str, record, column: str, *values, if_exists: bool = False):
        super().__init__(api)
        self.table = table
        self.record = record
        self.column = column
        self.values = values
        self.if_exists = if_exists

    def run_idl(self, txn):
        row = self.api.lookup(self.table, self.record, default=None)
        if row is None:
            if self.if_exists:
                return
            raise idlutils.RowNotFound(table=self.table, col="record", match=self.record)
        is_map = self.api.tables[self.table].columns[self.column].type.is_map()
        remove = row.delkey if is_map else row.delvalue
        for value in self.values:
            remove(self.column, value)


class DestroyIfExists(ovs_command.BaseCommand):
    """Delete a row of a root table by UUID; one gone already is fine. (ovsdbapp's
    db_destroy fails on a missing row: a re-run after a lost answer would report the
    delete it had just made as an error.)"""

    def __init__(self, api, table: str, row_uuid):
        super().__init__(api)
        self.table = table
        self.row_uuid = uuid.UUID(str(row_uuid))

    def run_idl(self, txn):
        row = self.api.tables[self.table].rows.get(self.row_uuid)
        if row is not None:
            row.delete()


class JoinGroups(ovs_command.BaseCommand):
    """Put the port a command of the same transaction inserts into these port groups
    (ovsdbapp's pg_add_ports fails the whole transaction on a group gone meanwhile)."""

    def __init__(self, api, lsp_command, groups: tuple[str, ...]):
        super().__init__(api)
        self.lsp_command = lsp_command
        self.groups = groups

    def run_idl(self, txn):
        for name in self.groups:
            row = self.api.lookup("Port_Group", name, default=None)
            if row is not None:
                row.addvalue("ports", self.lsp_command.result)



class AddSwitchAcls(ovs_command.BaseCommand):
    """ACLs of a switch a command of the same transaction inserts (ovsdbapp's acl_add
    looks the switch up by name, which a row not yet committed does not have)."""

    def __init__(self, api, switch_command, acls: list[tuple[str, int, str, str]]):
        super().__init__(api)
        self.switch_command = switch_command
        self.acls = acls  # (direction, priority, match, action)

    def run_idl(self, txn):
        switch = self.api.lookup("Logical_Switch", self.switch_command.result)
        for direction, priority, match, action in self.acls:
            acl = txn.insert(self.api.tables["ACL"])
            acl.direction, acl.priority, acl.match, acl.action = (direction, priority, match,
                                                                  action)
            switch.addvalue("acls", acl.uuid)
