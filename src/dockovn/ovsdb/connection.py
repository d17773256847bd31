"""Opening, closing and using ovsdbapp APIs: the connection side of dockovn.ovsdb."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time

from dataclasses import dataclass

from ovs.stream import Stream
from ovsdbapp.backend.ovs_idl import connection, idlutils

from dockovn import deadline
from dockovn.ovsdb import internals
from dockovn.ovsdb.transaction import NotApplied, OutcomeUnknown

LOG = logging.getLogger(__name__)


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


# (python-ovs raises a back-off under 1 s to 1 s: the minimum is 1 s in effect)
CLUSTER_MIN_BACKOFF_MS, CLUSTER_MAX_BACKOFF_MS = 200, 1000


class ThreadedIdl(connection.OvsdbIdl):
    """ovsdbapp's IDL without its per-row ``time.sleep(0)``.

    ovsdbapp yields after every row of an update for eventlet's sake. Under threads it
    buys nothing (the connection lock, which every cache read takes, stays held while an
    update is parsed) and costs a GIL hand-off per row: the thread parsing the update
    that answers a request's transaction queues behind every other thread, once per row.
    ``cooperative_yield`` is python-ovs's documented hook for this; internals.check()
    makes sure ovsdbapp's sleep is still in it.
    """

    def cooperative_yield(self):
        pass


SCHEMA_TIMEOUT = 3.0  # seconds to wait for a server's schema before using the local file


def _schema_helper(remote: str, schema_name: str, timeout: float):
    """ovsdbapp's get_schema_helper, bounded: it opens each remote with python-ovs's
    blocking calls, which have no timeout, so an unreachable or frozen central (a host
    cut off, a leader stopped) would hang a command or the driver's start for as long as
    it lasts. The fetch runs in a thread of its own; one that does not answer in time is
    left to finish or fail by itself (it holds nothing of ours)."""
    box: dict = {}

    def fetch():
        try:
            box["helper"] = idlutils.get_schema_helper(remote, schema_name)
        except Exception as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=fetch, name="dockovn-schema", daemon=True)
    worker.start()
    worker.join(timeout)
    if "helper" in box:
        return box["helper"]
    if "error" in box:
        raise box["error"]
    raise TimeoutError(f"no answer within {timeout:g}s")


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
    fallback = bool(schema_file and os.path.exists(schema_file))
    try:
        # With a local schema to fall back on, the server gets a few seconds only.
        helper = _schema_helper(remote, schema_name,
                                min(timeout, SCHEMA_TIMEOUT) if fallback else timeout)
    except Exception as exc:
        if not fallback:
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
        internals.set_reconnect_backoff(idl, CLUSTER_MIN_BACKOFF_MS, CLUSTER_MAX_BACKOFF_MS)
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


def connected(api) -> bool:
    """Whether the IDL's session to the server is up right now."""
    return internals.session_connected(api.idl)  # python-ovs 3.6's Idl has no is_connected()


def connections_made(api) -> int:
    """Sessions the IDL has made to the server so far (a reconnection adds one)."""
    return internals.connections_made(api.idl)


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
