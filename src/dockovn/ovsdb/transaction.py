"""ovsdbapp transactions bounded by the request's deadline (the OVN layers' writes)."""

from __future__ import annotations

import logging
import queue
import threading
import time

from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import idlutils, transaction

from dockovn import deadline, metrics
from dockovn.ovsdb import internals

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
        self.tries = 0

    def pre_commit(self, txn):
        if self.cancelled.is_set():
            raise _Cancelled()  # do_commit aborts the IDL transaction and reports this
        # ovsdbapp calls this before each try: a second one is a "try again" answered
        self.tries += 1
        if self.tries > 1:
            metrics.TXN_RETRIES.labels(getattr(self.api, "db_label", "nb")).inc()
        # ovsdbapp has no hook around the wait for the answer: see internals
        internals.release_lock_while_waiting(txn, self.ovsdb_connection.lock, self.sent.set)

    def commit(self):
        left = deadline.remaining()
        if left is not None:
            if left <= 0:  # the request was answered already: change nothing behind it
                raise NotApplied(commands=self.commands, timeout=0,
                                 cause="the request's time is up")
            self.timeout = min(self.timeout, left)
        started = time.monotonic()
        try:
            # ovsdbapp's queue holds one transaction: queue_txn would wait the connection's
            # whole timeout for a place, whatever the request has left, then raise a bare
            # "TXN queue is full". While the central fails over, many requests queue here.
            self.ovsdb_connection.txns.put(self, timeout=self.timeout)
        except queue.Full:
            raise NotApplied(commands=self.commands, timeout=self.timeout,
                             cause="earlier transactions still wait for the database; "
                                   "not sent") from None
        left = max(0.0, self.timeout - (time.monotonic() - started))
        try:
            result = self.results.get(timeout=left)
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
            if internals.gave_up_retrying(result.ex):
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


class BoundedTransactions:
    """Mixin for the OVN API classes: every transaction is a ``BoundedTransaction``.
    (Local OVS keeps ovsdbapp's own, which knows how to wait for ovs-vswitchd.)"""

    def create_transaction(self, check_error=False, log_errors=True, **kwargs):
        return BoundedTransaction(self, self.ovsdb_connection, self.ovsdb_connection.timeout,
                                  check_error, log_errors)
