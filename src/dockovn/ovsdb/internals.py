"""Every python-ovs and ovsdbapp internal dockovn relies on, and ``check()`` for them.

dockovn pins ovs==3.6.0 and ovsdbapp==3.0.0 (pyproject.toml) and reaches past their
public APIs in this module only (tests/unit/ovsdb/test_internals.py fails on a private
field used anywhere else). A changed internal seldom raises: it drops a claim or calls a
sent transaction unsent without a word. So ``check()``, run when the driver starts,
tries each one against the installed versions and names those that changed.

What is used, why no public API does it, and what breaks if it changes:

``Row._data``, ``Row._changes``, ``Row._mutations``, ``Row._uuid_to_row`` (python-ovs)
    column_value, map_value, set_has read a cached row's committed datum. Row's public
    getattr rebuilds a whole set or map column through Datum.from_python first (~3 ms
    for a pool of 1,000 addresses, read several times per RequestAddress; about 10x the
    datum read, bench/request_path/hotpaths.py); nothing public hands out the datum.
    If they change: AttributeError on every switch and pool read, or, were pending
    changes kept elsewhere, reads that miss this transaction's own writes.

``Row._idl.txn._txn_rows``, ``Row._mutations["_inserts"]`` (python-ovs)
    insert_key records OVSDB's mutate "insert" of one map key, which leaves a key the
    row has already alone. Row.setkey records a delete of the key first (the later
    writer wins); nothing public records the insert alone. Address claims rely on the
    first writer keeping its key. If Transaction.commit stops sending ``_inserts`` as an
    "insert" mutation, claims vanish without an error and two hosts can hand out one
    address.

``Idl._session.reconnect.set_backoff`` (python-ovs)
    set_reconnect_backoff: Idl takes no back-off setting and its Session waits up to
    8 s between tries. If it changes: opening a cluster client fails, or (the call
    ignored) writes wait up to 8 s more after a Raft leader dies (15 s measured).

``Idl._session.reconnect`` statistics (python-ovs) connections_made: counting
    reconnections, for the driver's metrics (dockovn_ovsdb_reconnects_total) and tests.
    Nothing public gives them. If they change: a scrape of the metrics fails (check()
    names it at start), the plugin itself is not affected.

``Row._table.name``, ``Row._data`` as JSON (python-ovs; used by benchmarks only)
    row_table, row_json: counting the rows a request writes. Nothing public gives them.
    If they change: those benchmarks fail; the driver is not affected.

``Idl._session.is_connected()`` (python-ovs)
    session_connected: python-ovs 3.6's Idl has no is_connected() of its own, only
    has_ever_connected(), which stays true through an outage. If it changes: requests
    wait out their whole timeout while central is down instead of failing at once
    with "unreachable", and the background syncs work against a dead connection.

``Transaction.commit_block``, replaced on the instance (python-ovs and ovsdbapp)
    release_lock_while_waiting: ovsdbapp's Connection.run holds Connection.lock, which
    every cache read takes, around do_commit, and python-ovs's commit_block waits for
    the server's answer inside it, so a slow NB would stall every read. ovsdbapp's one
    hook is pre_commit(txn), called just before do_commit calls txn.commit_block(); the
    replacement is python-ovs's loop with the lock let go while it blocks, and it says
    when the transaction went out. Relies on: do_commit calling txn.commit_block() on
    the txn pre_commit got; Connection.run holding its (reentrant) lock once around
    do_commit; the loop being python-ovs's. If they change: reads wait behind writes
    again and a timed-out transaction already sent is reported "nothing was changed"
    though it may still apply; or, the lock not held, every transaction fails.

``Transaction.get_error() == "no error details available"`` (python-ovs)
    refused_whole: python-ovs turns a JSON-RPC error answered to a whole "transact"
    (not an error of one of its operations) into status ERROR and keeps nothing of it.
    An OVSDB relay answers so ("canceled") when it loses the member it forwarded the
    transaction to: the outcome is unknown, exactly as when the connection drops, so
    the replaced commit_block answers "try again" and ovsdbapp re-runs the commands on
    the refreshed cache (every dockovn write is idempotent). If it changes: such writes
    fail with "OVSDB Error" during a central member's failure instead of being re-run.

``RuntimeError("OVS transaction timed out")`` (ovsdbapp)
    gave_up_retrying: how do_commit says it stopped re-running a transaction the server
    kept answering "try again" (a Raft election); there is no exception class for it.
    If it changes: that case reads as a plain failure, not as "may still apply".

``Idl.cooperative_yield`` (a documented python-ovs hook; ovsdbapp sleeps in it)
    ThreadedIdl (connection.py) overrides the hook, which is public; it is checked here
    because what the override removes is ovsdbapp's per-row ``time.sleep(0)``. If that
    moves: nothing breaks, but the per-row GIL hand-off returns to the request path.
"""

from __future__ import annotations

import inspect
import re
import threading
import uuid
from typing import Callable

import ovs.db.data
import ovs.jsonrpc
import ovs.poller
import ovs.timeval
from ovs.db import idl as ovs_idl
from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import connection as ovsdbapp_connection
from ovsdbapp.backend.ovs_idl import transaction as ovsdbapp_transaction


class InternalsChanged(RuntimeError):
    """An internal of python-ovs or ovsdbapp that dockovn relies on is not as expected."""


# -- reading cached rows ---------------------------------------------------------------

def column_value(row, column: str):
    """``getattr(row, column)`` for a cached row, in time proportional to its size only.

    python-ovs's ``Row.__getattr__`` rebuilds a set or map column through
    ``Datum.from_python`` (re-validating every element) before converting it. A row with
    no change pending in a transaction of ours is converted straight from its datum; one
    with changes pending is left to python-ovs, which merges them in."""
    data = row._data  # Row.__getattr__ reads the same
    if row._changes or row._mutations or data is None or column not in data:
        return getattr(row, column)
    return data[column].to_python(row._uuid_to_row)


def map_value(row, column: str, key: str) -> str | None:
    """``getattr(row, column).get(key)`` for a cached row's map of strings, in constant
    time: one key looked up in the datum, the map not converted (see column_value)."""
    data = row._data
    if row._changes or row._mutations or data is None or column not in data:
        return getattr(row, column).get(key)
    atom = data[column].values.get(ovs.db.data.Atom.new(key))
    return None if atom is None else atom.value


def set_has(row, column: str, value: str) -> bool:
    """``value in getattr(row, column)`` for a cached row's set of strings, in constant
    time (see column_value)."""
    data = row._data
    if row._changes or row._mutations or data is None or column not in data:
        return value in getattr(row, column)
    return ovs.db.data.Atom.new(value) in data[column].values


# -- writing ---------------------------------------------------------------------------

def insert_key(row, column: str, key: str, value: str) -> None:
    """Add ``key=value`` to a map column of ``row`` in the transaction under way, unless
    the server's row has the key already: OVSDB's mutate "insert" leaves an existing key
    alone. (python-ovs's ``setkey`` deletes the key first, so the later of two writers
    would win instead.) It records the mutation the way ``setkey`` does, without the
    delete."""
    row._idl.txn._txn_rows[row.uuid] = row
    row._mutations.setdefault("_inserts", {}).setdefault(column, {})[key] = value


def release_lock_while_waiting(txn, lock, on_sent: Callable[[], None]) -> None:
    """Make ``txn.commit_block()``, which ovsdbapp's do_commit calls right after
    ``pre_commit(txn)``, python-ovs's own loop except that ``lock`` (the connection's,
    held once by this, the connection's, thread) is let go while it waits for the
    server, that ``on_sent()`` is called once the transaction is on its way, and that a
    transaction refused whole (``refused_whole``) comes back "try again". The IDL does
    not change meanwhile: only this thread runs it."""

    def commit_block():
        while True:
            status = txn.commit()
            if status == txn.ERROR and refused_whole(txn):
                return txn.TRY_AGAIN
            if status != txn.INCOMPLETE:
                return status
            on_sent()
            txn.idl.run()
            poller = ovs.poller.Poller()
            txn.idl.wait(poller)
            txn.wait(poller)
            lock.release()
            try:
                poller.block()
            finally:
                lock.acquire()

    txn.commit_block = commit_block  # an instance attribute shadows the method


_NO_DETAILS = "no error details available"  # get_error() of a JSON-RPC error reply


def refused_whole(txn) -> bool:
    """The server (a relay, say) answered the transaction with a JSON-RPC error rather
    than with results: nothing says whether it applied."""
    return txn.get_error() == _NO_DETAILS


_GAVE_UP = "OVS transaction timed out"  # do_commit's RuntimeError, its only sign


def gave_up_retrying(exc: Exception) -> bool:
    """ovsdbapp's own ways of saying it stopped re-running a TRY_AGAIN transaction."""
    return isinstance(exc, ovsdbapp_exceptions.TimeoutException) \
        or (isinstance(exc, RuntimeError) and str(exc) == _GAVE_UP)


# -- the session -----------------------------------------------------------------------

def set_reconnect_backoff(idl, min_ms: int, max_ms: int) -> None:
    """Bound the wait between connection attempts (python-ovs raises either to 1 s)."""
    idl._session.reconnect.set_backoff(min_ms, max_ms)


def session_connected(idl) -> bool:
    """Whether the IDL's session to the server is up right now. An IDL without a
    python-ovs session (a stand-in) counts as connected."""
    session = getattr(idl, "_session", None)
    return session is None or session.is_connected()


def connections_made(idl) -> int:
    """How many times the IDL's session has connected (tests and benchmarks count
    reconnections with it)."""
    return idl._session.reconnect.get_stats(ovs.timeval.msec()).n_successful_connections


# -- rows as Idl.notify hands them over (benchmarks count row writes) ------------------

def row_table(row) -> str:
    return row._table.name


def row_json(row) -> dict:
    """The row's committed columns in OVSDB's JSON, without converting them to Python."""
    return {column: datum.to_json() for column, datum in (row._data or {}).items()}


# -- check() ---------------------------------------------------------------------------

class _Changed(Exception):
    pass


# A database of one table, enough to make real python-ovs rows without a server.
_SCHEMA = {
    "name": "DockovnInternalsCheck", "version": "1.0.0",
    "tables": {"T": {"columns": {
        "name": {"type": "string"},
        "addresses": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
        "external_ids": {"type": {"key": "string", "value": "string",
                                  "min": 0, "max": "unlimited"}}}}},
}
_NOWHERE = "unix:/nonexistent/dockovn-internals-check.sock"  # never connected to


def _scratch_idl():
    helper = ovs_idl.SchemaHelper(schema_json=_SCHEMA)
    helper.register_all()
    return ovs_idl.Idl(_NOWHERE, helper)


def _row(idl):
    table = idl.tables["T"]
    values = {"name": "n", "addresses": ["a"], "external_ids": {"k": "old"}}
    data = {column: ovs.db.data.Datum.from_python(table.columns[column].type, value,
                                                  lambda row: row)
            for column, value in values.items()}
    return ovs_idl.Row(idl, table, uuid.uuid4(), data)


def _check_row_fields(idl) -> None:
    row = _row(idl)
    fields = vars(row)  # not getattr: Row.__getattr__ would recurse on a missing field
    expected = {"_data": lambda v: isinstance(v, dict) and all(
                    isinstance(d, ovs.db.data.Datum) for d in v.values()),
                "_changes": lambda v: v == {}, "_mutations": lambda v: v == {}}
    for name, fits in expected.items():
        if name not in fields:
            raise _Changed(f"Row.{name} is missing")
        if not fits(fields[name]):
            raise _Changed(f"Row.{name} of a new row is {fields[name]!r}")
    if not callable(getattr(type(row), "_uuid_to_row", None)):
        raise _Changed("Row._uuid_to_row is missing")
    for column in ("name", "addresses", "external_ids"):
        if column_value(row, column) != getattr(row, column):
            raise _Changed(f"column_value(row, {column!r}) differs from Row's getattr")
    if (map_value(row, "external_ids", "k") != "old"
            or map_value(row, "external_ids", "absent") is not None
            or not set_has(row, "addresses", "a") or set_has(row, "addresses", "b")):
        raise _Changed("map_value or set_has differs from Row's getattr")
    txn = ovs_idl.Transaction(idl)
    try:  # a pending change must show in _mutations or _changes, and so be merged in
        row.addvalue("addresses", "b")
        if not vars(row)["_mutations"]:
            raise _Changed("Row.addvalue no longer records into Row._mutations")
        row.name = "m"
        if not vars(row)["_changes"]:
            raise _Changed("a column set in a transaction is no longer in Row._changes")
        if sorted(column_value(row, "addresses")) != ["a", "b"] \
                or column_value(row, "name") != "m":
            raise _Changed("column_value misses a change pending in the transaction")
    finally:
        txn.abort()


class _Recorder:
    """Stands in for the IDL's session: keeps what Transaction.commit sends."""

    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)
        return 0


def _check_insert_key(idl) -> None:
    if "_session" not in vars(idl):
        raise _Changed("not checked: it needs Idl._session (see below)")
    row = _row(idl)
    recorder = _Recorder()
    session, state = idl._session, idl.state
    txn = ovs_idl.Transaction(idl)
    idl._session, idl.state = recorder, idl.IDL_S_MONITORING  # commit() sends only then
    try:
        insert_key(row, "external_ids", "k", "new")
        insert_key(row, "external_ids", "n", "v")
        if row.uuid not in vars(txn).get("_txn_rows", {}):
            raise _Changed("Transaction._txn_rows is missing or not keyed by row uuid")
        txn.commit()
    finally:
        idl._session, idl.state = session, state
        if idl.txn is txn:
            txn.abort()
    ops = recorder.sent[0].params[1:] if recorder.sent else []
    sent = [m for op in ops if op.get("op") == "mutate" for m in op.get("mutations", [])]
    if (len(sent) != 1 or sent[0][:2] != ["external_ids", "insert"]
            or dict(map(tuple, sent[0][2][1])) != {"k": "new", "n": "v"}):
        raise _Changed("Transaction.commit no longer sends Row._mutations['_inserts'] as "
                       f"one mutate insert (it sent {sent or 'nothing'})")


def _check_session_connected(idl) -> None:
    if not isinstance(vars(idl).get("_session"), ovs.jsonrpc.Session):
        raise _Changed("Idl._session is missing or not an ovs.jsonrpc.Session")
    if session_connected(idl) is not False:
        raise _Changed("Idl._session.is_connected() is not False before connecting")


def _check_connections_made(idl) -> None:
    if connections_made(idl) != 0:
        raise _Changed("reconnect.get_stats().n_successful_connections is not 0 before "
                       "connecting")


def _check_backoff(idl) -> None:
    set_reconnect_backoff(idl, 1000, 2000)
    reconnect = idl._session.reconnect
    if (reconnect.get_min_backoff(), reconnect.get_max_backoff()) != (1000, 2000):
        raise _Changed("Idl._session.reconnect.set_backoff no longer sets the back-off")


def _in_order(where: str, source: str, *patterns: str) -> None:
    at = 0
    for pattern in patterns:
        found = re.compile(pattern).search(source, at)
        if found is None:
            raise _Changed(f"{where} no longer has {pattern!r} where expected")
        at = found.end()


def _check_commit_block(idl) -> None:
    _in_order("ovsdbapp's Transaction.do_commit",
              inspect.getsource(ovsdbapp_transaction.Transaction.do_commit),
              r"self\.pre_commit\(txn\)", r"txn\.commit_block\(\)")
    _in_order("ovsdbapp's Connection.run", inspect.getsource(ovsdbapp_connection.Connection.run),
              r"with self\.lock:\s*\n\s*txn\.results\.put\(txn\.do_commit\(\)\)")
    _in_order("ovsdbapp's Connection.__init__",
              inspect.getsource(ovsdbapp_connection.Connection.__init__),
              r"self\.lock = threading\.RLock\(\)")
    # the loop release_lock_while_waiting copies, step by step
    _in_order("python-ovs's Transaction.commit_block",
              inspect.getsource(ovs_idl.Transaction.commit_block),
              r"while True:", r"self\.commit\(\)", r"Transaction\.INCOMPLETE",
              r"self\.idl\.run\(\)", r"ovs\.poller\.Poller\(\)", r"self\.idl\.wait\(poller\)",
              r"self\.wait\(poller\)", r"poller\.block\(\)")
    txn = ovs_idl.Transaction(idl)
    try:
        release_lock_while_waiting(txn, threading.RLock(), lambda: None)
        if vars(txn).get("commit_block") is None:
            raise _Changed("Transaction.commit_block cannot be replaced on the instance")
    finally:
        txn.abort()


def _check_refused_whole(idl) -> None:
    txn = ovs_idl.Transaction(idl)
    try:
        txn._process_reply(ovs.jsonrpc.Message.create_error("canceled", 1))
        if not refused_whole(txn):
            raise _Changed("a JSON-RPC error answered to a transaction no longer reads "
                           f"as ERROR with {_NO_DETAILS!r}")
    finally:
        txn.abort()


def _check_gave_up(idl) -> None:
    _in_order("ovsdbapp's Transaction.do_commit",
              inspect.getsource(ovsdbapp_transaction.Transaction.do_commit),
              r"raise RuntimeError\([\"']" + re.escape(_GAVE_UP) + r"[\"']\)")


def _check_cooperative_yield(idl) -> None:
    _in_order("python-ovs's Idl (its update parsing)", inspect.getsource(ovs_idl),
              r"self\.cooperative_yield\(\)")
    hook = vars(ovsdbapp_connection.OvsdbIdl).get("cooperative_yield")
    if hook is None or "time.sleep(0)" not in inspect.getsource(hook):
        raise _Changed("ovsdbapp's OvsdbIdl no longer yields in cooperative_yield")


# (the internal, as the module docstring names it; what it serves; its check)
_CHECKS = (
    ("Row._data/_changes/_mutations/_uuid_to_row", "column_value, map_value, set_has",
     _check_row_fields),
    ("Row._idl.txn._txn_rows, Row._mutations['_inserts']", "insert_key", _check_insert_key),
    ("Idl._session.is_connected()", "connected", _check_session_connected),
    ("Idl._session.reconnect.set_backoff", "cluster reconnect back-off", _check_backoff),
    ("Idl._session.reconnect.get_stats()", "connections_made (metrics)",
     _check_connections_made),
    ("Transaction.commit_block replacement", "BoundedTransaction", _check_commit_block),
    ("Transaction.get_error() of a JSON-RPC error", "BoundedTransaction (try again)",
     _check_refused_whole),
    ("RuntimeError('OVS transaction timed out')", "BoundedTransaction", _check_gave_up),
    ("Idl.cooperative_yield", "ThreadedIdl", _check_cooperative_yield),
)


def check() -> None:
    """Raise InternalsChanged, naming each internal above that the installed python-ovs
    and ovsdbapp no longer provide as this module uses it. Builds a python-ovs IDL that
    never connects and reads a little of their source: a few milliseconds."""
    problems = []
    try:
        idl = _scratch_idl()
    except Exception as exc:
        problems.append(f"an ovs.db.idl.Idl from SchemaHelper(schema_json=...): "
                        f"{type(exc).__name__}: {exc}")
    else:
        try:
            for internal, user, probe in _CHECKS:
                try:
                    probe(idl)
                except _Changed as exc:
                    problems.append(f"{internal} (used by {user}): {exc}")
                except Exception as exc:
                    problems.append(f"{internal} (used by {user}): "
                                    f"{type(exc).__name__}: {exc}")
                if getattr(idl, "txn", None) is not None:  # left by a probe that failed
                    idl.txn = None
        finally:
            try:
                idl.close()
            except Exception:  # already named above (its session is gone)
                pass
    if problems:
        raise InternalsChanged(
            "python-ovs/ovsdbapp internals dockovn relies on have changed "
            f"(installed: {_versions()}):\n" + "\n".join(f"  - {p}" for p in problems)
            + "\nInstall the pinned versions, or adapt src/dockovn/ovsdb/internals.py.")


def _versions() -> str:
    """The installed versions, and the pins dockovn was tested with (only on failure:
    reading package metadata costs more than the whole check)."""
    from importlib import metadata

    def installed(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        pins = [r for r in metadata.requires("dockovn") or []
                if re.match(r"(ovs|ovsdbapp)\s*[=<>!~]", r)]
    except metadata.PackageNotFoundError:
        pins = []
    return (f"ovs {installed('ovs')}, ovsdbapp {installed('ovsdbapp')}"
            + (f"; dockovn pins {', '.join(pins)}" if pins else ""))
