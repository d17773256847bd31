"""A TCP proxy in front of an ovsdb-server that can lose the answer to one transaction
(or refuse every write for a while).

The failure it makes: a client's transaction reaches the server and commits, and the
connection drops before the client reads the reply (what a Raft leader change or a
network blip does). python-ovs then reports "try again" and ovsdbapp re-runs the
commands on its refreshed cache, where the first run's rows already are.

OVSDB's JSON-RPC (RFC 7047) is a stream of JSON objects with no delimiter between
them, so each direction is cut into messages with ``raw_decode``; a message is passed
on as the very bytes it came as.
"""

from __future__ import annotations

import codecs
import json
import socket
import threading
from typing import Callable

# Transact operations that change nothing: a transaction made of these only is a read.
READ_OPS = frozenset({"select", "wait", "comment", "assert"})
MAX_CONNECTIONS = 16
MAX_MESSAGE = 64 << 20  # bytes buffered for one message before the connection is dropped

Match = Callable[[list], bool]


def is_write(params: list) -> bool:
    """Whether a transact's params (``[db, op, op, ...]``) change something."""
    return any(isinstance(op, dict) and op.get("op") not in READ_OPS for op in params[1:])


def _connect(remote: str) -> socket.socket:
    kind, _, where = remote.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(where)
        return sock
    if kind == "tcp":
        host, _, port = where.rpartition(":")
        return socket.create_connection((host, int(port)), timeout=5)
    raise ValueError(f"unsupported remote {remote!r} (unix: or tcp:)")


class _Pair:
    """One client connection and its own connection to the server."""

    def __init__(self, number: int, client: socket.socket, server: socket.socket):
        self.number = number
        self.client = client
        self.server = server
        self.pending = None  # id of the request whose reply is to be lost
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other pump's recv()
            except OSError:
                pass
            sock.close()


class OvsdbProxy:
    """Passes an OVSDB session through; ``arm()`` loses the answer to the next write."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.cut = 0                            # answers lost (and connections closed)
        self.cut_happened = threading.Event()
        self.accepted = 0                       # client connections taken
        # (connection number, request id) of each write forwarded: a re-run shows up as
        # a write on a later connection.
        self.writes: list[tuple[int, object]] = []
        self._match: Match | None = None
        self._refusing = False                  # drop every write (see refuse_writes)
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)  # so the accept loop sees stop() soon
        self.port = self._listener.getsockname()[1]

    @property
    def remote(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def start(self) -> "OvsdbProxy":
        self._spawn(self._accept_loop, "accept")
        return self

    def arm(self, match: Match | None = None) -> None:
        """Lose the reply to the next transact whose params ``match`` (default: any
        write), then close that connection. Later connections pass through."""
        with self._lock:
            self._match = match or is_write

    def disarm(self) -> None:
        with self._lock:
            self._match = None

    def refuse_writes(self, on: bool = True) -> None:
        """While on, no write reaches the server: the request is dropped with its
        connection, as when the server is unreachable; reads still pass."""
        with self._lock:
            self._refusing = on

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            pairs, threads = list(self._pairs), list(self._threads)
        for pair in pairs:
            pair.close()
        for thread in threads:
            thread.join(timeout=5)
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise AssertionError(f"ovsdb proxy threads did not stop: {alive}")

    # -- inside --------------------------------------------------------------------------

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=f"ovsdb-proxy-{name}",
                                  daemon=True)  # never keeps the test process alive
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed by stop()
            client.settimeout(None)
            with self._lock:
                live = sum(not p.closed.is_set() for p in self._pairs)
            if live >= MAX_CONNECTIONS:
                client.close()
                continue
            try:
                server = _connect(self.upstream)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.accepted += 1
                pair = _Pair(self.accepted, client, server)
                self._pairs.append(pair)
            self._spawn(self._pump, f"{pair.number}-up", pair, True)
            self._spawn(self._pump, f"{pair.number}-down", pair, False)

    def _pump(self, pair: _Pair, upward: bool) -> None:
        """Copy one direction message by message, until either side closes."""
        src, dst = (pair.client, pair.server) if upward else (pair.server, pair.client)
        decoder = codecs.getincrementaldecoder("utf-8")()
        parser = json.JSONDecoder()
        text = ""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                text += decoder.decode(data)
                while True:
                    text = text.lstrip()
                    if not text:
                        break
                    try:
                        message, end = parser.raw_decode(text)
                    except json.JSONDecodeError:
                        if len(text) > MAX_MESSAGE:
                            return  # not OVSDB, or runaway: drop the connection
                        break  # the rest of this message is still on its way
                    raw, text = text[:end], text[end:]
                    keep = self._upward(pair, message) if upward else \
                        self._downward(pair, message)
                    if not keep:
                        return
                    dst.sendall(raw.encode())
        except OSError:
            return  # the pair was closed under us
        finally:
            pair.close()

    def _upward(self, pair: _Pair, message) -> bool:
        if not isinstance(message, dict) or message.get("method") != "transact":
            return True  # monitor, echo, get_schema, lock and replies to the server
        params = message.get("params") or []
        with self._lock:
            if self._refusing and is_write(params):
                return False  # never forwarded: _pump closes both sides
            if is_write(params):
                self.writes.append((pair.number, message.get("id")))
            if self._match is not None and self._match(params):
                self._match = None
                pair.pending = message.get("id")  # before the request can be answered
        return True

    def _downward(self, pair: _Pair, message) -> bool:
        if pair.pending is None or not isinstance(message, dict) or "method" in message:
            return True
        if message.get("id") != pair.pending:
            return True
        with self._lock:
            self.cut += 1  # counted before the close: the client cannot be answered first
        self.cut_happened.set()
        return False  # the reply is dropped and _pump closes both sides
