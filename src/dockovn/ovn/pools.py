"""Taking an address from an address pool (an NB Address_Set) in one conditional
transaction: the command ``Northbound.allocate`` runs, and the answers it can give."""

from __future__ import annotations

from typing import Callable

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.ovsdb import column_value


class PoolNotFound(LookupError):
    pass


class AllocationRefused(Exception):
    """Raised by an allocation's chooser: no address can be given; the message says why."""


class AllocateCommand(ovs_command.BaseCommand):
    """Take one address from a pool, safely against every other writer.

    ``row.verify("addresses")`` makes the transaction conditional on the set
    being unchanged since we read it (an OVSDB "wait" operation). If another
    host took an address in between, the server answers TRY_AGAIN and ovsdbapp
    re-runs this command on the fresh set: allocations are serialised by the
    NB server itself, with no lock and no duplicate.
    """

    def __init__(self, api, pool_name: str, choose: Callable[[frozenset[str]], str],
                 note: Callable[[str], dict[str, str]] | None):
        super().__init__(api)
        self.pool_name = pool_name
        self.choose = choose
        self.note = note

    def run_idl(self, txn):
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", self.pool_name, None)
        if row is None:
            self.result = PoolNotFound(f"address pool {self.pool_name} does not exist")
            return
        row.verify("addresses")
        try:
            address = self.choose(frozenset(column_value(row, "addresses")))
        except AllocationRefused as refusal:
            # Not raised here: ovsdbapp would log it as a crash. The (empty)
            # transaction commits and allocate() raises it to the caller.
            self.result = refusal
            return
        row.addvalue("addresses", address)
        for key, value in (self.note(address) if self.note else {}).items():
            row.setkey("external_ids", key, value)
        self.result = address
