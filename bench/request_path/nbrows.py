"""What a container costs in OVN Northbound: row writes (inserts, updates, deletes).

A read-only NB client records the row changes the NB server reports to it while
a step runs: one per row per transaction, so a port inserted by one transaction
and updated by a second one counts twice (a before/after snapshot would show one
row). Only rows that belong to the container count: rows whose contents name its
endpoint or its network (ports and switches are named after Docker's IDs, and
dockovn's other rows carry them in external_ids), so another NB client writing
at the same time (a test suite, say) does not inflate the count. Left out, because
no driver writes them: NB_Global (ovn-northd and ovn-controller bump its *_cfg
counters), Connection (ovsdb-server updates its status) and Logical_Switch_Port
updates that only touch ``up`` (ovn-northd sets it when ovn-controller binds the
port).
"""

from __future__ import annotations

import contextlib

import json
import threading
import time
from collections import Counter
from typing import Iterator
from dataclasses import dataclass, field

from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch
from dockovn.ovn.nb import Northbound
from dockovn.ovsdb import internals

IGNORED_TABLES = {"NB_Global", "Connection"}
IGNORED_ONLY_COLUMNS = {"Logical_Switch_Port": {"up"}}  # updates touching only these


def nb_remote() -> str:
    """The NB both drivers use: local OVS' external_ids:ovn-nb (what the upstream
    driver reads, and dockovn's default)."""
    ovs = LocalSwitch(DEFAULT_OVS_DB, timeout=10)
    try:
        return ovs.host_config().get("ovn-nb", "tcp:127.0.0.1:6641")
    finally:
        ovs.close()


@dataclass
class RowWrites:
    inserted: Counter = field(default_factory=Counter)  # table -> row writes
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def describe(self) -> str:
        parts = []
        for sign, counter in (("+", self.inserted), ("~", self.updated), ("-", self.deleted)):
            parts += [f"{sign}{n} {table}" for table, n in sorted(counter.items())]
        return ", ".join(parts) or "none"

    def key(self) -> tuple:
        return tuple(tuple(sorted(c.items())) for c in (self.inserted, self.updated, self.deleted))


class NbWatcher:
    """A read-only NB client (its own connection, all tables) counting row writes."""

    def __init__(self, remote: str | None = None):
        self.nb = Northbound(remote or nb_remote(), timeout=10)
        self._lock = threading.Lock()
        self._seen: list[tuple[str, str, str]] = []  # (event, table, row contents as JSON)
        # ovs.db.idl.Idl calls self.notify(event, row, updates) for every row change
        # it applies, in the connection's thread; an instance attribute overrides it.
        self.nb.api.idl.notify = self._notify

    def close(self) -> None:
        self.nb.close()

    def _notify(self, event: str, row, updates=None) -> None:
        table = internals.row_table(row)
        if table in IGNORED_TABLES:
            return
        if event == "update" and updates is not None:
            changed = set(getattr(updates, "_data", {}) or {})
            if changed and changed <= IGNORED_ONLY_COLUMNS.get(table, set()):
                return
        contents = json.dumps(internals.row_json(row))
        with self._lock:
            self._seen.append((event, table, contents))

    def start(self) -> None:
        """Start recording afresh (call settle() first to let earlier writes arrive)."""
        with self._lock:
            self._seen = []

    def take(self, *ids: str) -> RowWrites:
        """The writes since start() to rows that name any of ``ids``, after waiting for
        the updates to arrive."""
        self.settle()
        with self._lock:
            seen, self._seen = self._seen, []
        writes = RowWrites()
        for event, table, contents in seen:
            if any(i and i in contents for i in ids):
                {"create": writes.inserted, "update": writes.updated,
                 "delete": writes.deleted}[event][table] += 1
        return writes

    def settle(self, quiet: float = 0.3, limit: float = 5.0) -> None:
        """Wait until this client has seen no change for ``quiet`` seconds: the updates of a
        transaction another client committed reach this client a little later."""
        idl = self.nb.api.idl
        deadline = time.monotonic() + limit
        seqno, since = idl.change_seqno, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if idl.change_seqno != seqno:
                seqno, since = idl.change_seqno, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return


@contextlib.contextmanager
def watching(remote: str | None = None) -> Iterator[NbWatcher]:
    """An NbWatcher open only for the block. An open one parses every NB update in this
    process (and serialises the rows it is told of), competing for the GIL with the
    replay's client: kept open through the timed containers it added ~1 ms to calls
    measured at 1,000 ports, of both drivers."""
    watcher = NbWatcher(remote)
    try:
        yield watcher
    finally:
        watcher.close()


def most_common(samples: list[RowWrites]) -> tuple[RowWrites, int]:
    """The count seen most often across samples (another writer on the same NB, say a
    test suite running alongside, can add rows to one sample), and how often."""
    counts = Counter(s.key() for s in samples)
    key, n = counts.most_common(1)[0]
    return next(s for s in samples if s.key() == key), n
