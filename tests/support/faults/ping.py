"""A ping between two long-lived containers, running in the background for as long as
a fault test lasts, and what it saw: how many were lost, and the longest run of them.

The ping runs inside the container (busybox `ping -i 0.2`, its output to a file there),
started and stopped with `docker exec`: no exec stays open while dockerd or the network
around it is disturbed. SIGINT makes it print its totals, as at the end of a count."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from tests.multihost.test_multihost import sh_in
from tests.support import multihost

INTERVAL = 0.2
LOG, PIDFILE = "/tmp/fault-ping.log", "/tmp/fault-ping.pid"


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    longest_gap: int      # most replies missed in a row (a missing tail counts too)
    output: str

    @property
    def loss(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 100.0

    def summary(self) -> str:
        return (f"ping {self.received}/{self.sent} ({self.loss:.1f}% lost, "
                f"longest gap {self.longest_gap} x {INTERVAL}s)")


def start(container, target: str) -> None:
    code, out = sh_in(container, f"rm -f {LOG}; ping -i {INTERVAL} {target} >{LOG} 2>&1 & "
                                 f"echo $! >{PIDFILE}")
    assert code == 0, out


def stop(container) -> PingResult:
    """Stop the ping (if its container still runs it) and read what it saw."""
    _, out = sh_in(container, f"kill -INT $(cat {PIDFILE}) 2>/dev/null; sleep 1; cat {LOG}")
    return parse(out)


def parse(out: str) -> PingResult:
    answered = sorted({int(n) for n in re.findall(r"seq=(\d+)", out)})
    sent = re.search(r"(\d+) packets transmitted", out)
    total = int(sent.group(1)) if sent else (answered[-1] + 1 if answered else 0)
    edges = [-1, *answered, total]
    gap = max((b - a - 1 for a, b in zip(edges, edges[1:])), default=0)
    return PingResult(total, len(answered), gap, out)


def explain(cluster, pinger, pinger_host: str, target, target_ip: str) -> str:
    """What the hosts say about the pinger's path, read right after a ping missed replies
    (a failure report carries it): whether a fresh ping (a new ICMP id, so new connection
    tracking entries) gets through, both containers' neighbour tables, each host's
    conntrack entries for the target, and `dockovn trace` from the pinger's host."""
    parts = []
    code, out = sh_in(pinger, f"ping -c 3 -w 3 {target_ip}")
    parts.append(f"fresh ping from {pinger.name}: exit {code}\n{out.strip()[-300:]}")
    for c in (pinger, target):
        parts.append(f"ip neigh in {c.name}:\n{sh_in(c, 'ip neigh')[1].strip()}")
    for h in cluster.hosts:
        ct = h.appctl("ovs-vswitchd.ctl", "dpctl/dump-conntrack", "-m")
        mine = [line for line in ct.splitlines() if target_ip in line]
        parts.append(f"{h.name} conntrack with {target_ip}:\n" + "\n".join(mine[:20]))
    host = cluster.host(pinger_host)
    traced = multihost.in_ns(host.ns, sys.executable, "-m", "dockovn", "trace", pinger.name,
                             target.name, "--icmp", "--wait", "0", "--ovs-db", host.ovs_db,
                             check=False, timeout=60)
    parts.append(f"dockovn trace {pinger.name} {target.name}: exit {traced.returncode}\n"
                 f"{(traced.stdout + traced.stderr).strip()[-2000:]}")
    return "\n".join(parts)
