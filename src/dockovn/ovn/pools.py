"""Taking an address from an address pool (an NB Address_Set): the commands
``Northbound.claim`` and ``Northbound.allocate`` run, and the answers they can give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.ovsdb import column_value, insert_key


@dataclass(frozen=True)
class AddressPool:
    """An Address_Set used as an address pool: ``addresses`` are the ones taken."""

    uuid: str
    name: str
    addresses: frozenset[str]
    external_ids: dict[str, str]


def pool_of(row) -> AddressPool:
    return AddressPool(str(row.uuid), row.name, frozenset(column_value(row, "addresses")),
                       column_value(row, "external_ids"))


class PoolNotFound(LookupError):
    pass


class AllocationRefused(Exception):
    """Raised by an allocation's chooser: no address can be given; the message says why."""


class _PoolCommand(ovs_command.BaseCommand):
    """A command on one pool, found by name in the cache when the transaction runs."""

    def __init__(self, api, pool_name: str):
        super().__init__(api)
        self.pool_name = pool_name

    def _pool_row(self):
        """The pool's row; None (and PoolNotFound as the result) if there is none."""
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", self.pool_name, None)
        if row is None:
            self.result = PoolNotFound(f"address pool {self.pool_name} does not exist")
        return row


class AllocateCommand(_PoolCommand):
    """Take one address from a pool, safely against every other writer.

    ``row.verify("addresses")`` makes the transaction conditional on the set
    being unchanged since we read it (an OVSDB "wait" operation). If another
    host took an address in between, the server answers TRY_AGAIN and ovsdbapp
    re-runs this command on the fresh set: allocations are serialised by the
    NB server itself, with no lock and no duplicate.
    """

    def __init__(self, api, pool_name: str, choose: Callable[[frozenset[str]], str],
                 note: Callable[[str], dict[str, str]] | None,
                 done: Callable[[dict[str, str]], str | None] | None = None):
        super().__init__(api, pool_name)
        self.choose = choose
        self.note = note
        self.done = done  # the pool's external_ids -> the address, if the intent holds

    def run_idl(self, txn):
        row = self._pool_row()
        if row is None:
            return
        if self.done is not None:
            # Already as wanted: another host's view of the same network got there first,
            # or this very allocation committed and its answer was lost. Nothing to write.
            address = self.done(column_value(row, "external_ids"))
            if address is not None:
                self.result = address
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


class ClaimCommand(_PoolCommand):
    """Claim one address from a pool without holding the pool against other writers.

    The address goes into the set, and a key naming the address into the pool's
    external_ids with this claim's own value, as a map *insert*: OVSDB leaves a key that
    is there already alone, so of two claims of one address exactly one writes its
    value. The claimant reads the key back once the transaction is in (OVSDB sends a
    client every earlier change before its reply) and knows whether it won. Claims of
    different addresses never conflict, where a transaction conditional on the whole set
    (``AllocateCommand``) made every host but one re-run it: ten hosts filling a network
    waited ~400 ms a RequestAddress.
    """

    def __init__(self, api, pool_name: str, choose: Callable[[frozenset[str], int], str],
                 claim_prefix: str, claim_value: str, attempt: int):
        super().__init__(api, pool_name)
        self.choose = choose  # (taken, claims lost so far) -> address
        self.claim_prefix = claim_prefix
        self.claim_value = claim_value
        self.attempt = attempt

    def run_idl(self, txn):
        row = self._pool_row()
        if row is None:
            return
        # An address with a claim key is taken even if it is not in the set (a key left
        # behind would make every later claim of it lose).
        keyed = set()
        for key, value in column_value(row, "external_ids").items():
            if not key.startswith(self.claim_prefix):
                continue
            if value == self.claim_value:
                # This claim's own key: a run before this one committed and its answer
                # was lost (the connection dropped). It holds the address already.
                self.result = key[len(self.claim_prefix):]
                return
            keyed.add(key[len(self.claim_prefix):])
        try:
            address = self.choose(frozenset(column_value(row, "addresses")) | keyed,
                                  self.attempt)
        except AllocationRefused as refusal:
            self.result = refusal  # as in AllocateCommand: the empty transaction commits
            return
        row.addvalue("addresses", address)
        insert_key(row, "external_ids", self.claim_prefix + address, self.claim_value)
        self.result = address
