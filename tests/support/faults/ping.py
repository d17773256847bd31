"""A ping between two long-lived containers, running in the background for as long as
a fault test lasts, and what it saw: how many were lost, and the longest run of them.

The ping runs inside the container (busybox `ping -i 0.2`, its output to a file there),
started and stopped with `docker exec`: no exec stays open while dockerd or the network
around it is disturbed. SIGINT makes it print its totals, as at the end of a count."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
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
    parts += _datapaths_during_a_ping(cluster, pinger, target_ip)
    host = cluster.host(pinger_host)
    traced = multihost.in_ns(host.ns, sys.executable, "-m", "dockovn", "trace", pinger.name,
                             target.name, "--icmp", "--wait", "0", "--ovs-db", host.ovs_db,
                             check=False, timeout=60)
    parts.append(f"dockovn trace {pinger.name} {target.name}: exit {traced.returncode}\n"
                 f"{(traced.stdout + traced.stderr).strip()[-2000:]}")
    return "\n".join(parts)


def _datapaths_during_a_ping(cluster, pinger, target_ip: str) -> list[str]:
    """Each host's side of the path while a ping runs: the userspace tunnels' neighbour
    cache (a tunnel packet leaves only once its peer's MAC is there), the datapath flows
    carrying the target's address or a tunnel (where a packet is dropped, and whether the
    target's host sees it come in at all), its br-int interfaces as OVN left them, and
    its tunnel ports and the end of its ovn-controller log."""
    pinging = threading.Thread(target=sh_in, args=(pinger, f"ping -c 4 -w 4 {target_ip}"))
    pinging.start()
    time.sleep(1.5)  # the ping is under way
    parts = []
    for h in cluster.hosts:
        neigh = h.appctl("ovs-vswitchd.ctl", "tnl/neigh/show")
        flows = h.appctl("ovs-vswitchd.ctl", "dpctl/dump-flows", "-m")
        carried = [f for f in flows.splitlines() if target_ip in f or "tunnel(" in f]
        ifaces = h.vsctl("--columns=name,ofport,external_ids", "find", "Interface",
                         "external_ids:iface-id!=[]")
        # A host takes in only the Geneve packets of peers it has a tunnel port for.
        tunnels = h.vsctl("--columns=name,ofport,options", "find", "Interface", "type=geneve")
        log = os.path.join(h.dir, "ovn-controller.log")
        try:
            with open(log, errors="replace") as f:
                tail = f.readlines()[-12:]
        except OSError as exc:
            tail = [f"({exc})"]
        parts.append(f"{h.name} during a ping: tunnel neighbours:\n{neigh.strip()}\n"
                     f"{h.name} datapath flows with {target_ip} or a tunnel:\n"
                     + "\n".join(line[:400] for line in carried[:12])
                     + f"\n{h.name} br-int interfaces:\n{ifaces.strip()[-1500:]}\n"
                     f"{h.name} tunnel ports:\n{tunnels.strip()[-800:]}\n"
                     f"{h.name} ovn-controller.log, last lines:\n{''.join(tail).strip()}")
    pinging.join(10)
    return parts
