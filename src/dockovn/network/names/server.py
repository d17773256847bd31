"""A small authoritative DNS server for the cluster's container names (dnspython).

It answers a query only for names on the networks of the container that asks:
A / AAAA / PTR with the addresses (an empty answer when the name has none of that
family), and REFUSED for every name it does not have, which makes Docker's
embedded DNS go on to the next server in the daemon's list (the host's usual
upstreams), at once and with nothing cached. UDP and TCP, one thread each.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import struct
import threading
from typing import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from dockovn.network.names.records import NameIndex

LOG = logging.getLogger(__name__)

TTL = 5  # seconds: short, so a removed container's name does not linger in caches

# (index, switches of the asking address) for a query from ``source``
Lookup = Callable[[str], tuple[NameIndex, set[str]]]


def answer(wire: bytes, source: str, lookup: Lookup) -> bytes | None:
    """The reply to one query from ``source``; None for what is not a DNS query."""
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    reply = dns.message.make_response(query)
    if len(query.question) != 1 or query.opcode() != 0:
        reply.set_rcode(dns.rcode.REFUSED)
        return reply.to_wire()
    question = query.question[0]
    index, switches = lookup(source)
    if question.rdtype == dns.rdatatype.PTR:
        return _reverse(reply, question, index, switches)
    addresses = index.lookup(question.name.to_text(), switches)
    if addresses is None:
        reply.set_rcode(dns.rcode.REFUSED)  # not ours: Docker asks the next server
        return reply.to_wire()
    reply.flags |= dns.flags.AA
    wanted = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(question.rdtype)
    chosen = sorted(a for a in addresses
                    if wanted is not None and ipaddress.ip_address(a).version == wanted)
    if chosen:
        reply.answer.append(dns.rrset.from_text_list(
            question.name, TTL, dns.rdataclass.IN, question.rdtype, chosen))
    return reply.to_wire()


def _reverse(reply, question, index: NameIndex, switches: set[str]) -> bytes:
    try:
        address = dns.reversename.to_address(question.name)
    except Exception:
        address = None
    name = index.reverse(address, switches) if address else None
    if name is None:
        reply.set_rcode(dns.rcode.REFUSED)
        return reply.to_wire()
    reply.flags |= dns.flags.AA
    reply.answer.append(dns.rrset.from_text_list(
        question.name, TTL, dns.rdataclass.IN, dns.rdatatype.PTR, [name + "."]))
    return reply.to_wire()


class DnsServer:
    """UDP and TCP on ``address``:``port``, each served by a thread of its own."""

    def __init__(self, address: str, lookup: Lookup, port: int = 53):
        self.address, self.port, self.lookup = address, port, lookup
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((address, port))
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                server._serve_tcp(self.request, self.client_address[0])

        class TcpServer(socketserver.ThreadingTCPServer):
            address_family = family
            allow_reuse_address = True
            daemon_threads = True

        self.tcp = TcpServer((address, port), Handler)
        self._threads = [threading.Thread(target=self._serve_udp, name="dockovn-dns-udp",
                                          daemon=True),
                         threading.Thread(target=self.tcp.serve_forever, name="dockovn-dns-tcp",
                                          daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()
        self.udp.close()

    def _serve_udp(self) -> None:
        while True:
            try:
                wire, peer = self.udp.recvfrom(4096)
            except OSError:
                return  # closed
            try:
                reply = answer(wire, peer[0], self.lookup)
                if reply is not None:
                    self.udp.sendto(reply, peer)
            except Exception:  # one bad query must not stop the server
                LOG.exception("dns query from %s", peer[0])

    def _serve_tcp(self, conn: socket.socket, peer: str) -> None:
        conn.settimeout(5)
        try:
            while True:
                head = conn.recv(2, socket.MSG_WAITALL)
                if len(head) < 2:
                    return
                wire = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                reply = answer(wire, peer, self.lookup)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
