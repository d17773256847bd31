"""Deletes (and refusals) that find nothing to act on: make the server confirm it.

A client of a Raft cluster may read from any member (see ``ovsdb/connection.py``), and a
member can lag behind the log: a follower by a moment, a leader that was frozen (hung,
SIGSTOP) and is thawing by the whole time it was away. A delete that reads "no such row"
from such a cache would change nothing and answer "done", while the row (made meanwhile
through another member) stays: a deleted policy that still filters traffic.

So when the cache has no row of that name, the transaction carries two operations
instead of nothing:

- ``wait`` (timeout 0) for "no row named so": fails with "timed out" if the server has
  one, which python-ovs reports as "try again"; ovsdbapp then re-runs the commands on
  a cache that by then holds the row, and the delete goes ahead;
- a barrier: a fresh value in NB_Global's external_ids. A transaction that changes
  nothing is answered by the member from its own copy, stale or not; one that changes
  something goes through the Raft log, and a member that lags re-executes it once it
  has caught up, so the ``wait`` is judged against the cluster's current state.
  (Measured here: a frozen leader, thawed, answered the bare ``wait`` "no such row" for
  a row made while it was stopped; with the barrier it answered "timed out".)

The same goes for an answer "not there" that is not a delete: `dockovn service remove`
of an instance registered meanwhile through another member would answer "is not an
instance" and leave it registered (``NoneMatch``).

Only the "nothing to delete" path pays this (one Raft commit); a delete of a row the
cache holds is judged by its row UUID on the server already.
"""

from __future__ import annotations

from ovsdbapp.backend.ovs_idl import command as ovs_command

from dockovn.ovn.writes import new_token

BARRIER_KEY = "dockovn:barrier"


def absent_ops(table: str, *wheres: list) -> list[dict]:
    """The raw OVSDB operations: no row of ``table`` matches any of ``wheres`` (each an
    OVSDB where clause), judged fresh."""
    waits = [{"op": "wait", "table": table, "timeout": 0, "where": where,
              "columns": ["_uuid"], "until": "==", "rows": []} for where in wheres]
    return waits + [
        {"op": "mutate", "table": "NB_Global", "where": [],
         "mutations": [["external_ids", "delete", ["set", [BARRIER_KEY]]],
                       ["external_ids", "insert", ["map", [[BARRIER_KEY, new_token()]]]]]},
    ]


def _named(name: str) -> list:
    return [["name", "==", name]]


class DeleteNamed(ovs_command.BaseCommand):
    """Delete the row of a root table named ``name`` if there is one; ``result`` says
    whether there was. It stays True once a run found the row: a run re-made after a
    lost answer finds nothing because the first one deleted it."""

    def __init__(self, api, table: str, name: str):
        super().__init__(api)
        self.table, self.name = table, name

    def run_idl(self, txn):
        row = self.api.lookup(self.table, self.name, default=None)
        self.result = bool(self.result) or row is not None
        if row is not None:
            row.delete()
        else:
            for op in absent_ops(self.table, _named(self.name)):
                txn.add_op(op)


class RemovePort(ovs_command.BaseCommand):
    """Take a logical switch port out of its switch (OVSDB then deletes it, unreferenced);
    a port that is gone already is confirmed gone by the server."""

    def __init__(self, api, switch_name: str, port_name: str):
        super().__init__(api)
        self.switch_name, self.port_name = switch_name, port_name

    def run_idl(self, txn):
        port = self.api.lookup("Logical_Switch_Port", self.port_name, default=None)
        switch = self.api.lookup("Logical_Switch", self.switch_name, default=None)
        self.result = bool(self.result) or port is not None
        if port is None:
            for op in absent_ops("Logical_Switch_Port", _named(self.port_name)):
                txn.add_op(op)
        elif switch is not None:
            switch.delvalue("ports", port.uuid)


class NoneMatch(ovs_command.BaseCommand):
    """Whether no row of ``table`` has all of ``includes`` in its map column ``column``
    (among the rows named ``names``, if given); ``result``: True when none has, confirmed
    by the server; False when the cache holds one (the caller reads it and acts)."""

    def __init__(self, api, table: str, column: str, includes: dict[str, str],
                 names: tuple[str, ...] | None = None):
        super().__init__(api)
        self.table, self.column, self.includes, self.names = table, column, includes, names

    def _matches(self, row) -> bool:
        have = getattr(row, self.column)
        return all(have.get(k) == v for k, v in self.includes.items())

    def run_idl(self, txn):
        rows = (self.api.tables[self.table].rows.values() if self.names is None else
                [r for n in self.names
                 if (r := self.api.lookup(self.table, n, default=None)) is not None])
        self.result = not any(map(self._matches, rows))
        if not self.result:
            return
        includes = [self.column, "includes", ["map", sorted(self.includes.items())]]
        wheres = ([[["name", "==", n], includes] for n in self.names]
                  if self.names is not None else [[includes]])
        for op in absent_ops(self.table, *wheres):
            txn.add_op(op)
