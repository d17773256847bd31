"""Replies already made, served again for the same question from the same networks.

Parsing a query and rendering its reply with dnspython is most of a query's cost (a
third of a millisecond here, against tens of microseconds to pass a datagram). The
same few names are asked over and over (every container resolves its peers on each
connection), so a reply is kept, keyed by what decides it: the asking networks, the
name index it came from (a new index, after any NB change, starts afresh), UDP or TCP,
and the query's bytes after its ID; a hit is that reply with the new query's ID. A
reply lives MAX_AGE seconds at most (so the order of an alias's addresses, shuffled on
rendering, still changes) and the cache holds MAX_ENTRIES (a flood of distinct junk
cannot grow it).
"""

from __future__ import annotations

import threading
import time

MAX_ENTRIES = 4096
MAX_AGE = 5.0  # seconds, the answers' TTL


class AnswerCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._index = None  # the index the replies came from (kept: its id could be reused)
        self._replies: dict[tuple, tuple[float, bytes]] = {}

    def get(self, index, switches: set[str], tcp: bool, wire: bytes) -> bytes | None:
        key = (frozenset(switches), tcp, wire[2:])
        with self._lock:
            if index is not self._index:
                return None
            found = self._replies.get(key)
        if found is None or time.monotonic() - found[0] > MAX_AGE:
            return None
        return wire[:2] + found[1][2:]

    def put(self, index, switches: set[str], tcp: bool, wire: bytes, reply: bytes) -> None:
        key = (frozenset(switches), tcp, wire[2:])
        with self._lock:
            if index is not self._index:
                self._index, self._replies = index, {}
            if len(self._replies) >= MAX_ENTRIES:
                self._replies.clear()  # simpler than LRU, and as bounded
            self._replies[key] = (time.monotonic(), reply)
