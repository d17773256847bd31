"""Networks Docker has dropped whose delete did not reach NB.

Docker gives a driver no veto on DeleteNetwork: whatever the answer, its view of the
network is gone. If the NB delete failed (central unreachable, no quorum, no answer),
the switch stays, and network replication, which gives this host every network of the
cluster it lacks, would bring the network back for good. So the delete is kept here and
retried in the background until NB takes it, and replication leaves these switches
alone meanwhile. A switch that gains containers meanwhile (another host uses the
network) is kept: then the network stays in the cluster, as a delete that finds
containers leaves it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from dockovn.ovn.errors import NorthboundError

LOG = logging.getLogger(__name__)

PATIENCE = 600.0  # seconds to keep retrying one delete
RETRY_EVERY = 2.0


class PendingDeletes:
    def __init__(self, delete: Callable[[str], None], in_use: Callable[[str], bool]):
        self._delete = delete  # switch name -> the NB delete (raises NorthboundError)
        self._in_use = in_use  # switch name -> whether containers are on it now
        self._pending: dict[str, float] = {}  # switch name -> when given up
        self._lock = threading.Lock()

    def __contains__(self, switch_name: str) -> bool:
        with self._lock:
            return switch_name in self._pending

    def add(self, switch_name: str) -> None:
        with self._lock:
            if switch_name in self._pending:
                return
            self._pending[switch_name] = time.monotonic() + PATIENCE
        threading.Thread(target=self._retry, args=(switch_name,), daemon=True,
                         name="dockovn-pending-delete").start()

    def _retry(self, switch_name: str) -> None:
        try:
            while True:
                time.sleep(RETRY_EVERY)
                with self._lock:
                    give_up_at = self._pending[switch_name]
                try:
                    if self._in_use(switch_name):
                        LOG.info("network %s has containers again: it stays", switch_name[:12])
                        return
                    self._delete(switch_name)
                    LOG.info("network %s deleted (retried after the central came back)",
                             switch_name[:12])
                    return
                except NorthboundError as exc:
                    if time.monotonic() >= give_up_at:
                        LOG.warning("network %s: delete still failing (%s); `dockovn gc` "
                                    "removes it", switch_name[:12], exc)
                        return
        finally:
            with self._lock:
                self._pending.pop(switch_name, None)
