"""Real TCP and UDP traffic between containers, from inside their network namespaces.

The busybox image has no UDP client or server, so the probes are small Python
programs run with `nsenter -n` in a container's network namespace: the packets
leave through the container's own eth0, as the container's would.
"""

from __future__ import annotations

import subprocess
import sys
import time

SERVER = r"""
import socket, sys, threading
proto, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if len(sys.argv) > 3 else socket.AF_INET
if proto == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(b"ok:" + data, peer)
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", port))
s.listen(64)
print("ready", flush=True)
def echo(c):
    with c:
        while True:
            data = c.recv(2048)
            if not data:
                return
            c.sendall(b"ok:" + data)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"""

PROBE = r"""
import socket, sys
proto, ip, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
try:
    s = socket.socket(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.settimeout(timeout)
    if proto == "udp":
        s.sendto(b"hi", (ip, port))
        data, _ = s.recvfrom(2048)
        print("yes" if data == b"ok:hi" else "no")
    else:  # the handshake completed: the server's SYN-ACK came through
        s.connect((ip, port))
        print("yes")
except OSError as exc:
    print("no", exc)
"""

# One TCP connection kept open: a line on stdin is sent, the answer (or "lost") printed.
CONNECTION = r"""
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((ip, port), timeout=3)
print("connected", flush=True)
for line in sys.stdin:
    s.settimeout(2)
    try:
        s.sendall(line.strip().encode())
        print("answered" if s.recv(2048).startswith(b"ok:") else "lost", flush=True)
    except OSError:
        print("lost", flush=True)
"""


def pid_of(container) -> int:
    container.reload()
    return container.attrs["State"]["Pid"]


def _in_netns(pid: int, code: str, *args: str, **popen) -> list[str]:
    return ["nsenter", "-t", str(pid), "-n", sys.executable, "-c", code, *args]


class Server:
    """An echo server (TCP or UDP) in a container's network namespace."""

    def __init__(self, container, proto: str, port: int, ipv6: bool = False):
        self.proc = subprocess.Popen(
            _in_netns(pid_of(container), SERVER, proto, str(port), *(["6"] if ipv6 else [])),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"{proto} server on {port} did not start: {self.proc.stderr.read()}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def reaches(container, ip: str, proto: str, port: int, timeout: float = 1.5) -> bool:
    """Whether ``container`` gets an answer from ``ip:port``: one attempt."""
    done = subprocess.run(_in_netns(pid_of(container), PROBE, proto, ip, str(port), str(timeout)),
                          capture_output=True, text=True, timeout=timeout + 10)
    return done.stdout.startswith("yes")


def settles(container, ip: str, proto: str, port: int, want: bool, within: float = 10) -> float:
    """Probe until the answer is ``want``; the seconds it took. AssertionError if it never is."""
    t0 = time.monotonic()
    while True:
        if reaches(container, ip, proto, port, timeout=0.5 if not want else 1.0) == want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > within:
            raise AssertionError(f"{proto} {ip}:{port} still {'un' if want else ''}reachable "
                                 f"after {within}s")
        time.sleep(0.1)


class Connection:
    """One established TCP connection from a container; ``exchange()`` sends on it."""

    def __init__(self, container, ip: str, port: int):
        self.proc = subprocess.Popen(_in_netns(pid_of(container), CONNECTION, ip, str(port)),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "connected":
            raise AssertionError(f"could not connect to {ip}:{port}: {self.proc.stderr.read()}")

    def exchange(self) -> bool:
        self.proc.stdin.write("ping\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == "answered"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
