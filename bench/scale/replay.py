"""Containers without dockerd, for the scale benchmark: dockerd's plugin calls replayed on
each host's driver socket, and the sandbox work dockerd does after Join done with `ip`.

One network on every host, as `docker network create --ipam-driver dockovn` on one host
and the driver's replication on the others would make it: RequestPool, the gateway's
RequestAddress and CreateNetwork on h1; on every other host the same three calls with
``dockovn.network=<h1's NetworkID>`` (the replicated network's IPAM and driver option).
A container is RequestAddress, CreateEndpoint and Join on its host's driver (what
`docker run -d --net=X` sends), then the Join reply's interface is moved into a network
namespace of its own (``dksc-c<N>``), renamed eth0, given its address and brought up.

A prober is a Python loop in a container's namespace on another host sending ICMP echo
requests to the targets it is given, every few milliseconds, and printing the
CLOCK_MONOTONIC time of each target's first reply.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from bench.protocol import PluginClient, create_endpoint_body, join_body, new_id

NETNS_PREFIX = "dksc-"
ADOPT = "dockovn.network"
GATEWAY_REQUEST = {"RequestAddressType": "com.docker.network.gateway"}


def sh(*cmd: str, stdin: str | None = None, timeout: float = 60) -> str:
    done = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Container:
    index: int
    host: str           # h1, h2, ...
    endpoint_id: str
    address: str        # "ip/prefix", from the IPAM
    mac: str
    netns: str
    timings: dict[str, float]

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


class Network:
    """The benchmark's network on every host of ``cluster``, and its containers."""

    def __init__(self, cluster, subnet: str):
        self.cluster = cluster
        self.subnet = ipaddress.ip_network(subnet)
        self.hosts = {h.name: h for h in cluster.hosts}
        self.ids: dict[str, str] = {}   # host -> this host's NetworkID for it
        self.pool_id = ""
        self._next = 0
        self._lock = threading.Lock()
        self.containers: list[Container] = []

    def client(self, host: str) -> PluginClient:
        """One keep-alive connection, as each dockerd keeps to its plugin."""
        return PluginClient(unix_path=os.path.join(self.hosts[host].plugins, "dockovn.sock"),
                            timeout=60)

    def create(self) -> None:
        first = self.cluster.hosts[0].name
        for host in self.hosts:
            client = self.client(host)
            try:
                for method in ("Plugin.Activate", "NetworkDriver.GetCapabilities",
                               "IpamDriver.GetCapabilities"):
                    client.call(method, {})
                adopt = {ADOPT: self.ids[first]} if host != first else {}
                _, pool = client.call("IpamDriver.RequestPool", {
                    "AddressSpace": "dockovn", "Pool": str(self.subnet), "SubPool": "",
                    "Options": adopt, "V6": False})
                self.pool_id = pool["PoolID"]
                _, gateway = client.call("IpamDriver.RequestAddress", {
                    "PoolID": self.pool_id, "Address": "", "Options": GATEWAY_REQUEST})
                self.ids[host] = new_id()
                client.call("NetworkDriver.CreateNetwork", {
                    "NetworkID": self.ids[host],
                    "Options": {"com.docker.network.enable_ipv6": False,
                                "com.docker.network.generic": adopt},
                    "IPv4Data": [{"AddressSpace": "dockovn", "Gateway": gateway["Address"],
                                  "Pool": str(self.subnet)}],
                    "IPv6Data": []})
            finally:
                client.close()

    def run(self, client: PluginClient, host: str, before_join=None) -> Container:
        """One container on ``host``: the calls, then its sandbox. ``before_join(c)`` runs
        between CreateEndpoint and Join (a prober starts probing it there)."""
        with self._lock:
            index = self._next
            self._next += 1
        t: dict[str, float] = {}
        t["RequestAddress"], reply = client.call("IpamDriver.RequestAddress", {
            "PoolID": self.pool_id, "Address": "", "Options": {}})
        address = reply["Address"]
        eid = new_id()
        t["CreateEndpoint"], reply = client.call(
            "NetworkDriver.CreateEndpoint", create_endpoint_body(self.ids[host], eid, address))
        mac = (reply.get("Interface") or {}).get("MacAddress", "")
        c = Container(index, host, eid, address, mac, f"{NETNS_PREFIX}c{index}", t)
        if before_join is not None:
            before_join(c)
        t["Join"], reply = client.call("NetworkDriver.Join", join_body(self.ids[host], eid))
        t["joined_at"] = time.monotonic()
        self._sandbox(host, reply["InterfaceName"]["SrcName"], c)
        t["ready_at"] = time.monotonic()
        t["sandbox"] = t["ready_at"] - t["joined_at"]
        with self._lock:
            self.containers.append(c)
        return c

    def _sandbox(self, host: str, src: str, c: Container) -> None:
        """What dockerd does with the Join reply: the interface into the container's
        namespace, named eth0 (DstPrefix "eth"), with its address, up."""
        sh("ip", "netns", "add", c.netns)
        sh("ip", "-n", self.hosts[host].ns, "link", "set", src, "netns", c.netns)
        sh("ip", "-n", c.netns, "-batch", "-", stdin=(
            f"link set {src} name eth0\naddr add {c.address} dev eth0\n"
            "link set eth0 up\nlink set lo up\n"))

    def fill(self, per_host: dict[str, int]) -> float:
        """``per_host[h]`` more containers on each host, each host's in sequence and the
        hosts in parallel (one dockerd each). Seconds taken."""
        errors: list[BaseException] = []

        def work(host: str, n: int) -> None:
            client = self.client(host)
            try:
                for _ in range(n):
                    self.run(client, host)
            except BaseException as exc:
                errors.append(exc)
            finally:
                client.close()

        t0 = time.monotonic()
        threads = [threading.Thread(target=work, args=(h, n)) for h, n in per_host.items() if n]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return time.monotonic() - t0


PROBER = r"""
import os, select, socket, struct, sys, time
interval = float(sys.argv[1])
ident = os.getpid() & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setblocking(False)
pending, seq, next_send, buf = set(), 0, 0.0, b""

def checksum(b):
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    total = (total >> 16) + (total & 0xffff)
    return ~(total + (total >> 16)) & 0xffff

def echo(ip):
    global seq
    seq = (seq + 1) & 0xffff
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"dksc"
    packet = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    try:
        s.sendto(packet, (ip, 0))
    except OSError:
        pass

print("ready", flush=True)
while True:
    if pending and time.monotonic() >= next_send:
        for ip in list(pending):
            echo(ip)
        next_send = time.monotonic() + interval
    wait = max(0.0, next_send - time.monotonic()) if pending else None
    ready, _, _ = select.select([0, s], [], [], wait)
    if s in ready:
        while True:
            try:
                data, addr = s.recvfrom(2048)
            except BlockingIOError:
                break
            at = time.monotonic()
            ihl = (data[0] & 0x0F) * 4
            kind, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind == 0 and rid == ident and addr[0] in pending:
                pending.discard(addr[0])
                print(f"{addr[0]} {at:.6f}", flush=True)
    if 0 in ready:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            command, _, ip = line.decode().partition(" ")
            if command == "add":
                pending.add(ip)
                next_send = 0.0
            elif command == "drop":
                pending.discard(ip)
"""


class Prober:
    """ICMP echo from container ``c``'s namespace to the targets it is given."""

    def __init__(self, c: Container, interval: float = 0.005):
        self.container = c
        self.replies: dict[str, float] = {}
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", c.netns, sys.executable, "-c", PROBER, str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"prober in {c.netns} did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            ip, _, at = line.strip().partition(" ")
            with self._cond:
                self.replies[ip] = float(at)
                self._cond.notify_all()

    def add(self, target: Container) -> None:
        """Probe ``target`` from now on. Its MAC goes into this namespace's neighbour
        table first: the probe then measures the port, not the kernel's ARP retries
        (one a second) nor OVN's ARP responder answering on the port's behalf."""
        sh("ip", "-n", self.container.netns, "neigh", "replace", target.ip, "lladdr",
           target.mac, "dev", "eth0", "nud", "permanent")
        self.proc.stdin.write(f"add {target.ip}\n")
        self.proc.stdin.flush()

    def first_reply(self, target: Container, timeout: float) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: target.ip in self.replies, timeout)
            found = self.replies.get(target.ip)
        if found is None:
            self.proc.stdin.write(f"drop {target.ip}\n")
            self.proc.stdin.flush()
        return found

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def remove_namespaces() -> int:
    """Delete every ``dksc-`` namespace (ours: this run's or an interrupted one's)."""
    names = [line.split()[0] for line in sh("ip", "netns", "list").splitlines()
             if line.startswith(NETNS_PREFIX)]
    if names:
        subprocess.run(["ip", "-force", "-batch", "-"], input="".join(
            f"netns del {n}\n" for n in names), capture_output=True, text=True, timeout=600)
    return len(names)
