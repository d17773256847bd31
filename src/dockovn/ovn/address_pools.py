"""Address pools (NB Address_Set rows): the part of ``Northbound`` that creates them and
takes and returns their addresses. The commands that run inside those transactions,
and the answers they can give, are in ``pools``."""

from __future__ import annotations

import time
import uuid
from typing import Callable

from ovsdbapp.backend.ovs_idl import idlutils

from dockovn.ovn.errors import NorthboundError
from dockovn.ovn.mutations import DestroyIfExists, RemoveFromColumn
from dockovn.ovn.pools import (AddressPool, AllocateCommand, AllocationRefused, ClaimCommand,
                               PoolNotFound, pool_of)
from dockovn.ovn.undo import UndoClaim, UndoPool
from dockovn.ovn.writes import WRITE_ID, new_token, written_by
from dockovn.ovsdb import describe, map_value, reading, set_has, wait_connected

CLAIM_ROUNDS = 64  # tries of a claim that other hosts keep winning
# Seconds a write waits for a lost NB session to come back before answering "unreachable"
# (a Raft leader change is over in about one; see ovsdb.open_api's reconnect back-off).
RECONNECT_GRACE = 3.0


class AddressPools:
    """Mixed into ``Northbound``: uses its ``api``, ``remote``, ``_commit`` and
    ``_undo_if_unknown``."""

    @reading
    def pools(self) -> list[AddressPool]:
        return [pool_of(r) for r in self.api.tables["Address_Set"].rows.values()]

    @reading
    def pool(self, name: str) -> AddressPool | None:
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", name, None)
        return pool_of(row) if row is not None else None

    @reading
    def pool_settings(self, name: str, *keys: str) -> dict[str, str] | None:
        """These external_ids of a pool (those it has), None if there is no such pool: a
        look-up per key, where ``pool()`` converts every address and claim."""
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", name, None)
        if row is None:
            return None
        found = {key: map_value(row, "external_ids", key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    def create_pool(self, name: str, external_ids: dict[str, str]) -> None:
        """Create an empty pool; fails if one of that name exists (the name is an index),
        unless this very call made it (a re-run after a lost answer finds its own token)."""
        ids = {**external_ids, WRITE_ID: new_token()}
        try:
            self._commit(f"creating address pool {name}",
                         self.api.db_create("Address_Set", name=name, addresses=[],
                                            external_ids=ids))
        except NorthboundError as exc:
            with self.api.ovsdb_connection.lock:
                row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", name, None)
                if row is not None and written_by(row.external_ids, ids[WRITE_ID]):
                    return
            self._undo_if_unknown(exc, f"address pool {name}", UndoPool(self.api, name, ids))
            raise

    def delete_pool(self, name: str) -> None:
        pool = self.pool(name)
        if pool is None:
            return
        self._commit(f"deleting address pool {name}", DestroyIfExists(self.api, "Address_Set", pool.uuid))

    def claim(self, pool_name: str, choose: Callable[[frozenset[str], int], str],
              claim_prefix: str) -> str:
        """Take ``choose(taken)`` from the pool, marked ``claim_prefix + address`` =
        "<unix time> <claim>" in its external_ids, with no conflict with other writers
        (see ``pools.ClaimCommand``); an address another host claimed at the same moment
        is passed over and the choice made again (``choose(taken, claims lost so far)``,
        which raises AllocationRefused to refuse).
        Whoever adds to the pool otherwise sets the key too, and whoever removes an
        address removes its key."""
        value = f"{int(time.time())} {uuid.uuid4().hex[:12]}"
        for attempt in range(CLAIM_ROUNDS):
            try:
                address = self._pool_transaction(
                    ClaimCommand(self.api, pool_name, choose, claim_prefix, value, attempt),
                    pool_name)
            except NorthboundError as exc:
                self._undo_if_unknown(exc, f"a claim in {pool_name}",
                                      UndoClaim(self.api, pool_name, claim_prefix, value))
                raise
            with self.api.ovsdb_connection.lock:
                row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", pool_name,
                                            None)
                if row is None:
                    raise PoolNotFound(f"address pool {pool_name} does not exist")
                if map_value(row, "external_ids", claim_prefix + address) == value:
                    return address
        raise NorthboundError(f"allocating from {pool_name}: other hosts took each address "
                              f"tried ({CLAIM_ROUNDS} tries); try again")

    def allocate(self, pool_name: str, choose: Callable[[frozenset[str]], str],
                 note: Callable[[str], dict[str, str]] | None = None,
                 done: Callable[[dict[str, str]], str | None] | None = None) -> str:
        """Add ``choose(taken)`` to the pool in one transaction conditional on the whole
        set; return it. ``note(address)`` gives external_ids to set on the pool in the
        same transaction (e.g. which address is the gateway). ``choose`` raises
        AllocationRefused to refuse (pool full, address taken); it reaches the caller
        unchanged and nothing is written. ``done(pool's external_ids)`` gives the address
        when what ``note`` would write is there already (an earlier run of this
        allocation whose answer was lost, or another writer with the same intent): then
        nothing is written and that address is the answer."""
        return self._pool_transaction(AllocateCommand(self.api, pool_name, choose, note, done),
                                      pool_name)

    def _pool_transaction(self, command, pool_name: str) -> str:
        if not wait_connected(self.api, RECONNECT_GRACE):
            raise NorthboundError(f"allocating from {pool_name}: OVN central is unreachable "
                                  f"(Northbound {self.remote} not connected)")
        try:
            with self.api.transaction(check_error=True) as txn:
                txn.add(command)
        except (PoolNotFound, AllocationRefused):
            raise
        except Exception as exc:
            raise NorthboundError(f"allocating from {pool_name}: {describe(exc)}") from exc
        if isinstance(command.result, (AllocationRefused, PoolNotFound)):
            raise command.result
        return command.result

    def release(self, pool_name: str, address: str, forget: tuple[str, ...] = ()) -> None:
        """Return an address to the pool (a set mutate: no conflict to check), and
        drop the ``forget`` external_ids keys in the same transaction."""
        row = idlutils.row_by_value(self.api.idl, "Address_Set", "name", pool_name, None)
        if row is None or not set_has(row, "addresses", address):
            return
        commands = [RemoveFromColumn(self.api, "Address_Set", str(row.uuid), "addresses",
                                     address, if_exists=True)]
        if forget:
            commands.append(RemoveFromColumn(self.api, "Address_Set", str(row.uuid),
                                             "external_ids", *forget, if_exists=True))
        self._commit(f"releasing {address} to {pool_name}", *commands)
