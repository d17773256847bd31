"""A machine outside the harness's hosts ("the internet"): a namespace on the underlay
with an HTTP server that answers every request with the address it came from, so a
test sees which source address a container's traffic left its host with.

`python -m tests.support.outside ADDRESS PORT` is the server (run in that namespace).
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys

from tests.support import multihost, wait

NS = multihost.PREFIX + "inet"
IP = f"{multihost.UNDERLAY}.200"
PORT = 8082
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Outside:
    def __init__(self, cluster: multihost.Cluster):
        self.cluster = cluster
        self.ns, self.ip, self.port = NS, IP, PORT

    def start(self) -> "Outside":
        self.stop()  # what an earlier run left
        c = self.cluster
        multihost.sh("ip", "netns", "add", self.ns)
        multihost.sh("ip", "link", "add", "ul-inet", "netns", c.central_ns, "type", "veth",
                     "peer", "name", "eth0", "netns", self.ns)
        multihost.in_ns(c.central_ns, "ip", "link", "set", "ul-inet", "master", "ulbr", "up")
        multihost.in_ns(c.central_ns, "ethtool", "-K", "ul-inet", "tx", "off")
        multihost.in_ns(self.ns, "ip", "addr", "add", f"{self.ip}/24", "dev", "eth0")
        multihost.in_ns(self.ns, "ip", "link", "set", "eth0", "up")
        multihost.in_ns(self.ns, "ip", "link", "set", "lo", "up")
        subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-m",
                          "tests.support.outside", self.ip, str(self.port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
        wait.until(lambda: self.run("busybox", "wget", "-q", "-O", "-",
                                    f"http://{self.ip}:{self.port}/").returncode == 0,
                   10, what="the outside's server")
        return self

    def stop(self) -> None:
        for pid in multihost.sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            multihost.sh("kill", pid, check=False)
        multihost.sh("ip", "netns", "del", self.ns, check=False)

    def run(self, *cmd: str, timeout: float = 15) -> subprocess.CompletedProcess:
        return multihost.in_ns(self.ns, *cmd, check=False, timeout=timeout)

    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/"

    def fetch(self, url: str) -> str | None:
        """GET ``url`` from the outside; its body, or None."""
        # (timeout(1): Debian 12's busybox wget crashes with -T)
        done = self.run("timeout", "5", "busybox", "wget", "-q", "-O", "-", url)
        return done.stdout if done.returncode == 0 else None

    def route(self, subnet: str, via: str) -> None:
        """The outside knows ``subnet`` is behind ``via`` (a routed network)."""
        self.run("ip", "route", "replace", subnet, "via", via)


class _PeerHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = f"{self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), _PeerHandler).serve_forever()
