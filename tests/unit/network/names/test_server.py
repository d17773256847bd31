"""The name server over real sockets on loopback: big answers, TCP framing, bounds, one
slow lookup not holding up the others, and garbage."""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest

from dockovn.network import external_ids
from dockovn.network.names import records, server
from dockovn.ovn.nb import LogicalPort, LogicalSwitch

SLOW_SOURCE = "127.0.0.9"  # its lookup takes 2 s (as Docker's listing can, mid-restart)


def _index(members: int) -> records.NameIndex:
    sw = LogicalSwitch("u-sw", "sw", {external_ids.NETWORK_ID: "sw",
                                      external_ids.NETWORK_NAME: "net"}, {})
    ports = [LogicalPort(f"u-p{i}", f"p{i}", "",
                         (f"0a:58:0a:00:{i // 256:02x}:{i % 256:02x} 10.0.{i // 256}.{i % 256 + 2}",),
                         {external_ids.ENDPOINT_ID: f"p{i}", external_ids.CONTAINER_NAME: f"c{i}",
                          external_ids.ALIASES: "big"})
             for i in range(members)]
    return records.build([sw], {"sw": ports}.get)


INDEX = _index(100)


def _lookup(source: str):
    if source == SLOW_SOURCE:
        time.sleep(2)
    return INDEX, {"sw"}


@pytest.fixture
def dns_server():
    s = server.DnsServer("127.0.0.1", _lookup, port=0)
    s.start()
    yield s
    s.stop()


def test_a_big_answer_is_cut_with_tc_over_udp_and_whole_over_tcp(dns_server):
    query = dns.message.make_query("big", dns.rdatatype.A)
    udp = dns.query.udp(query, "127.0.0.1", port=dns_server.port, timeout=3,
                        ignore_trailing=False, raise_on_truncation=False)
    assert udp.flags & dns.flags.TC
    assert 0 < len(udp.answer[0]) < 100 and len(udp.to_wire()) <= 512
    tcp = dns.query.tcp(query, "127.0.0.1", port=dns_server.port, timeout=3)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 100


def test_edns_buffer_size_is_honoured():
    query = dns.message.make_query("big", dns.rdatatype.A, use_edns=0, payload=1232)
    reply = dns.message.from_wire(server.answer(query.to_wire(), "x", _lookup))
    assert reply.flags & dns.flags.TC and len(reply.to_wire()) <= 1232
    assert len(reply.answer[0]) > 40  # more than fit in 512


def test_a_small_answer_has_no_tc():
    query = dns.message.make_query("c7", dns.rdatatype.A)
    reply = dns.message.from_wire(server.answer(query.to_wire(), "x", _lookup))
    assert not reply.flags & dns.flags.TC and [r.to_text() for r in reply.answer[0]] == ["10.0.0.9"]


def test_tcp_query_split_across_segments_is_answered(dns_server):
    wire = dns.message.make_query("c1", dns.rdatatype.A).to_wire()
    framed = struct.pack("!H", len(wire)) + wire
    with socket.create_connection(("127.0.0.1", dns_server.port), timeout=5) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(framed)):
            conn.sendall(framed[i:i + 1])
            time.sleep(0.01)
        size = struct.unpack("!H", _read(conn, 2))[0]
        reply = dns.message.from_wire(_read(conn, size))
    assert [r.to_text() for r in reply.answer[0]] == ["10.0.0.3"]


def _read(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, "closed"
        data += chunk
    return data


def test_a_slow_lookup_does_not_hold_up_other_queries(dns_server):
    slow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    slow.bind((SLOW_SOURCE, 0))
    slow.sendto(dns.message.make_query("c1", dns.rdatatype.A).to_wire(),
                ("127.0.0.1", dns_server.port))
    time.sleep(0.1)
    t0 = time.monotonic()
    for _ in range(20):
        reply = dns.query.udp(dns.message.make_query("c2", dns.rdatatype.A), "127.0.0.1",
                              port=dns_server.port, timeout=3)
        assert [r.to_text() for r in reply.answer[0]] == ["10.0.0.4"]
    assert time.monotonic() - t0 < 1.5, "answers waited for the slow lookup"
    slow.settimeout(5)
    assert dns.message.from_wire(slow.recv(4096)).answer  # and it got its answer too
    slow.close()


def test_tcp_connections_are_bounded_and_idle_ones_closed(dns_server, monkeypatch):
    monkeypatch.setattr(server, "TCP_IDLE", 1.0)
    threads = threading.active_count()
    conns = [socket.create_connection(("127.0.0.1", dns_server.port))
             for _ in range(server.MAX_TCP + 8)]
    time.sleep(0.3)
    assert threading.active_count() <= threads + server.MAX_TCP
    for c in conns:
        c.settimeout(3)
    # Past the limit a connection is closed at once; the served ones when idle.
    assert all(c.recv(1) == b"" for c in conns)
    for c in conns:
        c.close()
    time.sleep(0.3)
    assert threading.active_count() <= threads
    reply = dns.query.tcp(dns.message.make_query("c1", dns.rdatatype.A), "127.0.0.1",
                          port=dns_server.port, timeout=3)
    assert reply.answer  # slots were given back


def test_garbage_and_oddities_crash_nothing_and_grow_nothing(dns_server):
    rng = random.Random(7)
    odd = [b"", b"\x00", os.urandom(1), b"\xff" * 12, b"\x00" * 512]
    q = dns.message.make_query("c1", dns.rdatatype.A)
    q.flags |= dns.flags.QR                              # a response, not a query
    odd.append(q.to_wire())
    odd.append(dns.message.make_query("c1", dns.rdatatype.ANY).to_wire())
    odd.append(dns.message.make_query("x" * 60 + "." + "y" * 60, dns.rdatatype.TXT).to_wire())
    two = dns.message.make_query("c1", dns.rdatatype.A)
    two.question.append(two.question[0])                 # two questions
    odd.append(two.to_wire())
    odd += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600))) for _ in range(300)]
    wire = dns.message.make_query("c1", dns.rdatatype.A).to_wire()
    odd += [bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.1 else b for b in wire)
            for _ in range(300)]
    threads = threading.active_count()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for packet in odd:
        sock.sendto(packet or b"\x00", ("127.0.0.1", dns_server.port))
    for packet in odd[:50]:  # over TCP too, framed and not
        try:
            with socket.create_connection(("127.0.0.1", dns_server.port), timeout=2) as c:
                c.sendall(struct.pack("!H", len(packet)) + packet)
                c.recv(4096)
        except OSError:
            pass
    sock.close()
    time.sleep(0.5)
    assert threading.active_count() <= threads + server.UDP_WORKERS
    reply = dns.query.udp(dns.message.make_query("c1", dns.rdatatype.A), "127.0.0.1",
                          port=dns_server.port, timeout=3)
    assert [r.to_text() for r in reply.answer[0]] == ["10.0.0.3"]  # still answering


def test_a_cached_reply_carries_the_new_query_id_and_follows_the_index():
    from dockovn.network.names.answer_cache import AnswerCache
    cache, indexes = AnswerCache(), {"now": _index(3)}
    lookup = lambda source: (indexes["now"], {"sw"})  # noqa: E731
    first = dns.message.make_query("big", dns.rdatatype.A)
    again = dns.message.make_query("big", dns.rdatatype.A)
    assert first.id != again.id or again.id != 1
    one = dns.message.from_wire(server.answer(first.to_wire(), "x", lookup, cache=cache))
    two = dns.message.from_wire(server.answer(again.to_wire(), "x", lookup, cache=cache))
    assert two.id == again.id and len(two.answer[0]) == len(one.answer[0]) == 3
    indexes["now"] = _index(5)  # NB changed: a new index, the cache starts afresh
    three = dns.message.from_wire(server.answer(again.to_wire(), "x", lookup, cache=cache))
    assert len(three.answer[0]) == 5
