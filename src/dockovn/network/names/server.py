"""A small authoritative DNS server for the cluster's container names (dnspython).

It answers a query only for names on the networks of the container that asks:
A / AAAA / PTR with the addresses (an empty answer when the name has none of that
family), and REFUSED for every name it does not have, which makes Docker's
embedded DNS go on to the next server in the daemon's list (the host's usual
upstreams), at once and with nothing cached.

Every query gets an answer, soon, whatever else is going on: UDP queries are
answered by a few worker threads (one slow lookup never holds up the others; past
MAX_PENDING waiting, a query is dropped and the client asks again), and an answer too
big for the client's UDP buffer is cut to what fits with TC set, so it asks again over
TCP, where it goes whole. TCP reads whole messages whatever the segments, closes a
connection idle for TCP_IDLE seconds and serves MAX_TCP connections at most (a
container must not make the driver's process, which also serves Docker, start threads
without limit).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from dockovn import metrics
from dockovn.network.names.answer_cache import AnswerCache
from dockovn.network.names.records import NameIndex

LOG = logging.getLogger(__name__)

TTL = 5  # seconds: short, so a removed container's name does not linger in caches
UDP_LIMIT = 512        # bytes of a UDP answer to a query without EDNS (RFC 1035)
UDP_MAX = 4096         # the most we send over UDP, whatever EDNS offers
TCP_LIMIT = 65535
UDP_WORKERS = 4
MAX_PENDING = 256      # UDP queries waiting for a worker
MAX_TCP = 32           # TCP connections served at once
TCP_QUEUE_WAIT = 0.5   # seconds a new connection may wait for a slot (then it is closed)
TCP_IDLE = 5.0         # seconds a TCP connection may stay silent

# (index, switches of the asking address) for a query from ``source``
Lookup = Callable[[str], tuple[NameIndex, set[str]]]


def answer(wire: bytes, source: str, lookup: Lookup, tcp: bool = False,
           cache: AnswerCache | None = None) -> bytes | None:
    """The reply to one query from ``source``; None for what is not a DNS query."""
    if len(wire) < 12 or wire[2] & 0x80:
        return None  # no header, or a response (QR set): answering it could loop
    started = time.perf_counter()
    index, switches = lookup(source)
    if cache is not None and (hit := cache.get(index, switches, tcp, wire)) is not None:
        metrics.observe_dns(started, hit)
        return hit
    reply = _answer(wire, index, switches, tcp)
    if cache is not None and reply is not None:
        cache.put(index, switches, tcp, wire, reply)
    metrics.observe_dns(started, reply)
    return reply


def _answer(wire: bytes, index: NameIndex, switches: set[str], tcp: bool) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    reply = dns.message.make_response(query)
    if len(query.question) != 1 or query.opcode() != 0:
        reply.set_rcode(dns.rcode.REFUSED)
        return _fit(reply, [], None, _limit(query, tcp))
    question = query.question[0]
    if question.rdtype == dns.rdatatype.PTR:
        records = _reverse(reply, question, index, switches)
    else:
        records = _forward(reply, question, index, switches)
    return _fit(reply, records, question, _limit(query, tcp))


def _limit(query: dns.message.Message, tcp: bool) -> int:
    if tcp:
        return TCP_LIMIT
    if query.edns >= 0:
        return max(UDP_LIMIT, min(query.payload, UDP_MAX))
    return UDP_LIMIT


def _forward(reply, question, index: NameIndex, switches: set[str]) -> list[str]:
    addresses = index.lookup(question.name.to_text(), switches)
    if addresses is None:
        reply.set_rcode(dns.rcode.REFUSED)  # not ours: Docker asks the next server
        return []
    reply.flags |= dns.flags.AA
    wanted = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(question.rdtype)
    return sorted((a for a in addresses
                   if wanted is not None and ipaddress.ip_address(a).version == wanted),
                  key=ipaddress.ip_address)


def _reverse(reply, question, index: NameIndex, switches: set[str]) -> list[str]:
    try:
        address = dns.reversename.to_address(question.name)
    except Exception:
        address = None
    name = index.reverse(address, switches) if address else None
    if name is None:
        reply.set_rcode(dns.rcode.REFUSED)
        return []
    reply.flags |= dns.flags.AA
    return [name + "."]


def _fit(reply, records: list[str], question, limit: int) -> bytes:
    """The reply with as many of ``records`` as fit in ``limit`` bytes; TC when some
    were left out (RFC 2181 9: the client asks again over TCP)."""
    def wire(count: int) -> bytes:
        reply.answer = []
        if count:
            reply.answer.append(dns.rrset.from_text_list(
                question.name, TTL, dns.rdataclass.IN, question.rdtype, records[:count]))
        return reply.to_wire(max_size=limit)

    try:
        return wire(len(records))
    except dns.exception.TooBig:
        pass
    low, high = 0, len(records) - 1  # the most that fit: at least none
    while low < high:
        middle = (low + high + 1) // 2
        try:
            wire(middle)
            low = middle
        except dns.exception.TooBig:
            high = middle - 1
    reply.flags |= dns.flags.TC
    return wire(low)


class DnsServer:
    """UDP and TCP on ``address``:``port``."""

    def __init__(self, address: str, lookup: Lookup, port: int = 53):
        self.address, self.port, self.lookup = address, port, lookup
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((address, port))
        self.port = self.udp.getsockname()[1]  # port 0: the one the system chose
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((address, self.port))
        self.tcp.listen(64)
        self._cache = AnswerCache()
        self._workers = ThreadPoolExecutor(UDP_WORKERS, thread_name_prefix="dockovn-dns-udp")
        self._pending = threading.BoundedSemaphore(MAX_PENDING)
        self._connections = threading.BoundedSemaphore(MAX_TCP)
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._receive_udp, name="dockovn-dns-udp",
                                          daemon=True),
                         threading.Thread(target=self._accept_tcp, name="dockovn-dns-tcp",
                                          daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stopping.set()
        for sock in (self.udp, self.tcp):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            except OSError:
                pass
            sock.close()
        self._workers.shutdown(wait=False, cancel_futures=True)

    # -- UDP --

    def _receive_udp(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self.udp.recvfrom(UDP_MAX)
            except OSError:
                return  # closed
            if not self._pending.acquire(blocking=False):
                continue  # swamped: dropped; the client asks again
            try:
                self._workers.submit(self._answer_udp, wire, peer)
            except RuntimeError:  # shut down
                self._pending.release()
                return

    def _answer_udp(self, wire: bytes, peer) -> None:
        try:
            reply = answer(wire, peer[0], self.lookup, cache=self._cache)
            if reply is not None:
                self.udp.sendto(reply, peer)
        except Exception:  # one bad query must not stop the server
            LOG.exception("dns query from %s", peer[0])
        finally:
            self._pending.release()

    # -- TCP --

    def _accept_tcp(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, peer = self.tcp.accept()
            except OSError:
                return  # closed
            # At the limit, a short wait (most connections carry one query and close at
            # once), then the connection is closed: the client tries again later.
            if not self._connections.acquire(timeout=TCP_QUEUE_WAIT):
                conn.close()
                continue
            threading.Thread(target=self._serve_tcp, args=(conn, peer[0]),
                             name="dockovn-dns-conn", daemon=True).start()

    def _serve_tcp(self, conn: socket.socket, peer: str) -> None:
        conn.settimeout(TCP_IDLE)
        try:
            while True:
                head = _read_exactly(conn, 2)
                if head is None:
                    return
                wire = _read_exactly(conn, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = answer(wire, peer, self.lookup, tcp=True, cache=self._cache)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return  # idle too long, reset, or closed by stop()
        except Exception:
            LOG.exception("dns over tcp from %s", peer)
        finally:
            conn.close()
            self._connections.release()


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    """``size`` bytes however the segments cut them; None if the peer closed first."""
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
