"""A stand-in for the host's upstream DNS server (no internet here): answers
``*.example.test`` with 203.0.113.7 and NXDOMAIN (authoritative) for the rest.
Run in a namespace: ``python -m tests.support.upstream_dns ADDRESS``."""

from __future__ import annotations

import socket
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = "example.test."
ADDRESS = "203.0.113.7"


def reply_to(wire: bytes) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA
    question = query.question[0]
    if not question.name.to_text().lower().endswith(ZONE):
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A:
        reply.answer.append(dns.rrset.from_text(question.name, 60, dns.rdataclass.IN,
                                                dns.rdatatype.A, ADDRESS))
    return reply.to_wire()


def main(address: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))
    while True:
        wire, peer = sock.recvfrom(4096)
        reply = reply_to(wire)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main(sys.argv[1])
