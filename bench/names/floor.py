"""The floor of bench/names/load.py: a trivial responder in place of dockovn's name server.

``capture`` asks dockovn's server once from each source, over UDP and over TCP, the
queries the generators will send (the same bytes but their id) and keeps its replies as
they came. ``Responder`` then serves those replies from a host's network namespace on
another port of the same address: for a query it looks up (source address, the query
without its id) and sends the reply kept for it with the query's id in front, nothing
else (a query none was kept for gets REFUSED). So the answers are dockovn's own, TC over
UDP for the big one included, and what is left is what the machine, the generators and
the path to the host can do at best. One thread answers UDP; another accepts TCP
connections and serves each one inline: one query, its answer, closed (the generators,
dnspython, send one query per connection).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

PORT = 5353  # the floor's port, on the name server's address

# In a source's namespace: argv server port name rdtype [name rdtype...]; prints
# [[source address, query, reply over UDP, reply over TCP], ...] (hex), or fails.
CAPTURE = r"""
import json, socket, struct, sys
import dns.message
server, port, asked = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def read(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("closed by the server")
        data += chunk
    return data

rows = []
for name, rdtype in zip(asked[::2], asked[1::2]):
    query = dns.message.make_query(name, rdtype).to_wire()  # as the generators make it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.connect((server, port))
        udp.send(query)
        over_udp, source = udp.recv(65535), udp.getsockname()[0]
    with socket.create_connection((server, port), timeout=2) as tcp:
        tcp.sendall(struct.pack("!H", len(query)) + query)
        over_tcp = read(tcp, struct.unpack("!H", read(tcp, 2))[0])
    if not over_udp[:2] == over_tcp[:2] == query[:2]:
        sys.exit("a reply to another query")
    rows.append([source, query.hex(), over_udp.hex(), over_tcp.hex()])
print(json.dumps(rows))
"""

# The responder: argv address port table (a JSON file of CAPTURE's rows). It says "ready"
# once listening and stops when its stdin closes.
RESPONDER = r"""
import json, socket, struct, sys, threading
address, port, table = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(table) as f:
    rows = json.load(f)
# (source, the query without its id) -> the reply without its id
UDP = {(s, bytes.fromhex(q)[2:]): bytes.fromhex(u)[2:] for s, q, u, t in rows}
TCP = {(s, bytes.fromhex(q)[2:]): bytes.fromhex(t)[2:] for s, q, u, t in rows}

def refused(query):  # the query's header flagged QR with REFUSED, its question kept
    return bytes((query[2] | 0x80, 5)) + query[4:]

def serve_udp(sock):
    receive, send, kept = sock.recvfrom, sock.sendto, UDP.get
    while True:
        query, peer = receive(4096)
        if len(query) < 12:
            continue
        try:
            send(query[:2] + (kept((peer[0], query[2:])) or refused(query)), peer)
        except OSError:
            pass

def read(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data

def serve_tcp(sock):
    while True:
        conn, peer = sock.accept()
        try:
            conn.settimeout(2.0)
            head = read(conn, 2)
            query = head and read(conn, struct.unpack("!H", head)[0])
            if query and len(query) >= 12:
                reply = query[:2] + (TCP.get((peer[0], query[2:])) or refused(query))
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()

family = socket.AF_INET6 if ":" in address else socket.AF_INET
udp = socket.socket(family, socket.SOCK_DGRAM)
udp.bind((address, port))
tcp = socket.socket(family, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((address, port))
tcp.listen(1024)
for serve, sock in ((serve_udp, udp), (serve_tcp, tcp)):
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def capture(prefix: list[str], server: str, port: int,
            asked: list[tuple[str, str]]) -> list[list[str]] | None:
    """CAPTURE's rows for ``asked`` (name, rdtype) from the namespace ``prefix`` enters;
    None if a query went unanswered (poll it)."""
    done = subprocess.run([*prefix, sys.executable, "-c", CAPTURE, server, str(port),
                           *(word for pair in asked for word in pair)],
                          capture_output=True, text=True, timeout=30)
    return json.loads(done.stdout) if done.returncode == 0 else None


class Responder:
    """RESPONDER in the namespace ``prefix`` enters (a host's), answering with
    ``replies`` (capture's rows) on ``address``:``port`` until ``stop()``."""

    def __init__(self, prefix: list[str], replies: list[list[str]], work: str,
                 address: str, port: int = PORT):
        table = os.path.join(work, f"floor-{uuid.uuid4().hex[:6]}.json")
        with open(table, "w") as f:
            json.dump(replies, f)
        self.err = open(table + ".err", "w")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", RESPONDER, address, str(port), table],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)

    def ready(self) -> None:
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            with open(self.err.name) as f:
                raise RuntimeError(f"floor responder did not start: {f.read()[-2000:]}")

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
