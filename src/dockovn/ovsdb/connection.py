"""Opening ovsdbapp APIs: shared by the OVN (NB, SB) and host (local OVS) layers."""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time

from dataclasses import dataclass

import ovs.db.data
import ovs.poller
from ovs.stream import Stream
from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import connection, idlutils, transaction

from dockovn import deadline

LOG = logging.getLogger(__name__)


class _TimedOut(ovsdbapp_exceptions.TimeoutException):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout = kwargs["timeout"]


class NotApplied(_TimedOut):
    """The transaction timed out before it was sent: it never will be."""


class OutcomeUnknown(_TimedOut):
    """The transaction was sent and no answer came in time: it may still commit."""


class _Cancelled(Exception):
    pass


class BoundedTransaction(transaction.Transaction):
    """ovsdbapp's transaction, with two changes for a request path:

    - A timeout means what it says. ovsdbapp keeps a timed-out transaction queued and
      commits it later, after the caller was told it failed. Here a transaction that
      times out is cancelled: if it has not been sent yet it never will be
      (``NotApplied``); if it is already on its way, the caller waits a short grace for
      the server's answer and gets it, or ``OutcomeUnknown``.
    - Reads do not wait behind writes. ovsdbapp holds the connection lock (which our
      cache reads take) while it waits for the server's answer; here the lock is let go
      during that wait, so a slow NB delays writes only. The cache does not change
      meanwhile (only this thread runs the IDL); readers may see this transaction's
      own pending rows, never half-made ones.
    """

    GRACE = deadline.ANSWER_GRACE  # seconds to wait for the answer to a sent transaction

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cancelled = threading.Event()
        self.sent = threading.Event()

    def pre_commit(self, txn):
        if self.cancelled.is_set():
            raise _Cancelled()  # do_commit aborts the IDL transaction and reports this
        lock = self.ovsdb_connection.lock

        def commit_block():
            while True:
                status = txn.commit()
                if status != txn.INCOMPLETE:
                    return status
                self.sent.set()
                txn.idl.run()
                poller = ovs.poller.Poller()
                txn.idl.wait(poller)
                txn.wait(poller)
                lock.release()  # held once, by this (the connection's) thread
                try:
                    poller.block()
                finally:
                    lock.acquire()

        txn.commit_block = commit_block

    def commit(self):
        left = deadline.remaining()
        if left is not None:
            if left <= 0:  # the request was answered already: change nothing behind it
                raise NotApplied(commands=self.commands, timeout=0,
                                 cause="the request's time is up")
            self.timeout = min(self.timeout, left)
        self.ovsdb_connection.queue_txn(self)
        try:
            result = self.results.get(timeout=self.timeout)
        except queue.Empty:
            self.cancelled.set()
            try:
                result = self.results.get(timeout=self.GRACE if self.sent.is_set() else 0.5)
            except queue.Empty:
                if self.sent.is_set():
                    raise OutcomeUnknown(commands=self.commands, timeout=self.timeout,
                                         cause="sent, no answer yet: it may still apply"
                                         ) from None
                raise NotApplied(commands=self.commands, timeout=self.timeout,
                                 cause="not sent; it will not be") from None
        if isinstance(result, idlutils.ExceptionResult):
            if isinstance(result.ex, _Cancelled):
                raise NotApplied(commands=self.commands, timeout=self.timeout,
                                 cause="not sent; it will not be")
            if _gave_up_retrying(result.ex):
                # Every try came back "try again" (no Raft leader, say). A try that went
                # out just as the connection dropped may still have applied on the old
                # leader: only a transaction never sent is known not to have.
                unknown = OutcomeUnknown if self.sent.is_set() else NotApplied
                raise unknown(commands=self.commands, timeout=self.timeout,
                              cause="the database kept asking to try again")
            # The caller reports the failure (a refused write is often expected, e.g. a
            # unique name taken by another host): the traceback only at debug level.
            LOG.debug("transaction failed: %s", result.tb)
            if self.check_error:
                raise result.ex
        return result


def _gave_up_retrying(exc: Exception) -> bool:
    """ovsdbapp's own ways of saying it stopped re-running a TRY_AGAIN transaction."""
    return isinstance(exc, ovsdbapp_exceptions.TimeoutException) \
        or (isinstance(exc, RuntimeError) and str(exc) == "OVS transaction timed out")


class BoundedTransactions:
    """Mixin for the OVN API classes: every transaction is a ``BoundedTransaction``.
    (Local OVS keeps ovsdbapp's own, which knows how to wait for ovs-vswitchd.)"""

    def create_transaction(self, check_error=False, log_errors=True, **kwargs):
        return BoundedTransaction(self, self.ovsdb_connection, self.ovsdb_connection.timeout,
                                  check_error, log_errors)


class OwnConnection:
    """Mixin for ovsdbapp Backend classes: one connection per instance.

    ovsdbapp stores the connection on the *class*, and the first instance made
    in a process wins: a second API object of the same class for another DB
    would silently read the first one's. Tools and tests open several.
    """

    @property
    def ovsdb_connection(self):
        return self.__dict__.get("_own_ovsdb_connection")

    @ovsdb_connection.setter
    def ovsdb_connection(self, conn):
        self.__dict__["_own_ovsdb_connection"] = conn


@dataclass(frozen=True)
class SslFiles:
    """Private key, certificate and CA certificate for ssl: remotes (made with ovs-pki)."""

    key: str
    cert: str
    ca: str


def use_ssl(files: SslFiles | None) -> None:
    """python-ovs keeps SSL settings process-wide: set them before opening ssl: remotes."""
    if files is None:
        return
    for path in (files.key, files.cert, files.ca):
        if not os.path.exists(path):
            raise FileNotFoundError(f"SSL file {path} does not exist")
    Stream.ssl_set_private_key_file(files.key)
    Stream.ssl_set_certificate_file(files.cert)
    Stream.ssl_set_ca_cert_file(files.ca)


CLUSTER_MIN_BACKOFF_MS, CLUSTER_MAX_BACKOFF_MS = 200, 1000


class ThreadedIdl(connection.OvsdbIdl):
    """ovsdbapp's IDL without its per-row ``time.sleep(0)``.

    ovsdbapp yields after every row of an update for eventlet's sake. Under threads it
    buys nothing (the connection lock, which every cache read takes, stays held while an
    update is parsed) and costs a GIL hand-off per row: the thread parsing the update
    that answers a request's transaction queues behind every other thread, once per row.
    """

    def cooperative_yield(self):
        pass


def open_api(api_class, remote: str, schema_name: str, timeout: float,
             tables: tuple[str, ...] | None = None, schema_file: str | None = None,
             ssl: SslFiles | None = None, cluster_client: bool = False):
    """Connect ``api_class`` (an OwnConnection ovsdbapp Backend) to ``remote``.

    The schema comes from the server; if it cannot be asked yet and a local
    ``schema_file`` exists, that is used and the IDL connects once the server is up.
    """
    if "ssl:" in remote:
        if ssl is None:
            raise ValueError(f"{remote} needs SSL key, certificate and CA files")
        use_ssl(ssl)
    try:
        helper = idlutils.get_schema_helper(remote, schema_name)
    except Exception as exc:
        if not (schema_file and os.path.exists(schema_file)):
            raise
        LOG.warning("%s at %s not answering (%s); using %s", schema_name, remote, exc, schema_file)
        from ovs.db import idl as ovs_idl

        helper = ovs_idl.SchemaHelper(schema_file)
    if tables:
        for table in tables:
            helper.register_table(table)
    else:
        helper.register_all()
    idl = ThreadedIdl(remote, helper, leader_only=not cluster_client)
    if cluster_client:
        # python-ovs backs off up to 8 s between attempts and, leader-only, keeps landing
        # on followers while an election runs (measured: 15 s to write again after the
        # leader died). Any member will do (followers pass writes on to the leader, and a
        # conditional write made on a stale read is re-run), and 1 s at most between tries.
        idl._session.reconnect.set_backoff(CLUSTER_MIN_BACKOFF_MS, CLUSTER_MAX_BACKOFF_MS)
    conn = connection.Connection(idl, timeout=timeout)
    return api_class(conn)


def close_api(api) -> None:
    try:
        api.ovsdb_connection.stop(timeout=2)
    except Exception:  # never started or already stopped
        pass


def commit(api, error_class: type[Exception], what: str, *commands) -> None:
    """Run ``commands`` as one transaction; any failure raises ``error_class`` naming ``what``."""
    try:
        with api.transaction(check_error=True) as txn:
            for command in commands:
                txn.add(command)
    except Exception as exc:
        raise error_class(f"{what}: {describe(exc)}") from exc


def reading(method):
    """Decorator for cache reads: hold the connection's (reentrant) lock so the
    IDL thread cannot change rows halfway through the read. Without it a read
    racing a transaction sees half-built rows (no ``ofport`` yet, say)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.api.ovsdb_connection.lock:
            return method(self, *args, **kwargs)

    return wrapper


def column_value(row, column: str):
    """``getattr(row, column)`` for a cached row, in time proportional to its size only.

    python-ovs's ``Row.__getattr__`` rebuilds a set or map column through
    ``Datum.from_python`` (re-validating every element) before converting it: ~3 ms for
    a pool of 1,000 addresses, read several times per RequestAddress. A row with no
    change pending in a transaction of ours is converted straight from its datum; one
    with changes pending is left to python-ovs, which merges them in."""
    data = row._data  # python-ovs keeps them private; Row.__getattr__ reads the same
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


def connected(api) -> bool:
    """Whether the IDL's session to the server is up right now."""
    session = getattr(api.idl, "_session", None)  # python-ovs keeps it private
    return session is None or session.is_connected()


def wait_connected(api, seconds: float) -> bool:
    """Whether the session is up, waiting up to ``seconds`` (never past the request's
    deadline) for a reconnection in progress: a Raft leader change takes about a second,
    a central that is down much longer."""
    left = deadline.remaining()
    end = time.monotonic() + (seconds if left is None else max(0.0, min(seconds, left - 1)))
    while not connected(api):
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


def describe(exc: BaseException) -> str:
    """str(exc), or its class name when its __str__ fails (some ovsdbapp exceptions
    raise AttributeError from their own __str__); a timeout says what became of the change."""
    if isinstance(exc, NotApplied):
        return f"no answer from the database within {exc.timeout:g}s; nothing was changed"
    if isinstance(exc, OutcomeUnknown):
        return (f"no answer from the database within {exc.timeout:g}s; the change was sent "
                "and may still apply (if it does, `dockovn gc` removes what nobody uses)")
    try:
        return str(exc) or type(exc).__name__
    except Exception:
        return type(exc).__name__
