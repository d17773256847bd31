"""The faults, one function each: inject, wait the fault out, heal, and return once the
system has what it needs to recover (the Raft central whole again, the daemon back).

Each Fault also says what its victims may see: whose requests may fail (None: both
hosts') and what their errors may say. A request failing on another host, or saying
anything else, is a finding; so is one failing once the fault is over (see
invariants.errors_explained for the window).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from dockovn.deploy import procs

from tests.support import multihost, wait
from tests.support.faults import central, churn

# What a request may answer while central (or the way to it) is down: dockovn's own
# words for it (unreachable, no answer, may still apply, timed out), or the CLI's when it
# cannot connect at all.
CENTRAL_DOWN = ("unreachable", "no quorum", "no answer", "may still apply", "timed out",
                "cannot connect")
# dockerd's words when its driver is gone: the plugin socket refuses, is missing (between
# the restart's unlink and the new socket) or drops a request in flight. And the new
# driver's answer to dockerd's retry of a request the killed one never answered: dockerd's
# plugin client builds the HTTP request once and sends it again on a connection error,
# its body already read, so the retry arrives empty (dockerd.log: "Unable to connect to
# plugin ... EOF, retrying in 1s", then the driver's "request body must be a JSON object").
DRIVER_DOWN = ("connection refused", "no such file or directory", "eof",
               "connection reset", "broken pipe", "request body must be a json object")
# The docker SDK's when dockerd itself is down or stopping. And dockovn's when a command
# names a container that dockerd stopped with itself (it has no port on any network until
# it runs again): `dockovn service add --container HUB` while h1's dockerd is down.
DOCKERD_DOWN = ("connection refused", "no such file or directory", "connection aborted",
                "remotedisconnected", "connection reset", "no container")

RESTART_AFTER = 5      # seconds a killed central daemon stays down before it is restarted
FREEZE = 10            # seconds the NB leader stays stopped
CUT = 30               # seconds a host is cut off from the central
NO_QUORUM = 15         # seconds two of three members stay down
FAULT_TAG = "dockovn-fault"  # the iptables rules' comment (what heal deletes)


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[multihost.Cluster], None]
    hosts: tuple[str, ...] | None = None   # whose requests may fail (None: every host's)
    errors: tuple[str, ...] = CENTRAL_DOWN  # what they may say (lower case)
    ping_kept: bool = True  # the cross-host ping must keep flowing (datapath untouched)


def _kill_and_restart(cluster: multihost.Cluster, member: multihost.Member,
                      daemons: tuple[str, ...]) -> None:
    central.kill(member, *daemons)
    try:
        time.sleep(RESTART_AFTER)
    finally:
        central.restart(cluster, member)
    central.wait_whole(cluster)


def nb_leader_killed(cluster: multihost.Cluster) -> None:
    _kill_and_restart(cluster, central.leader(cluster, central.NB), ("ovnnb_db",))


def sb_leader_killed(cluster: multihost.Cluster) -> None:
    _kill_and_restart(cluster, central.leader(cluster, central.SB), ("ovnsb_db",))


def member_killed(cluster: multihost.Cluster) -> None:
    """The NB leader's whole member: NB, SB and ovn-northd at once, as a machine dies."""
    _kill_and_restart(cluster, central.leader(cluster, central.NB), central.MEMBER_DAEMONS)


def nb_leader_frozen(cluster: multihost.Cluster) -> None:
    """SIGSTOP: its connections stay open and silent (a hung machine, not a dead one)."""
    victim = central.leader(cluster, central.NB)
    central.kill(victim, "ovnnb_db", signal="STOP")
    try:
        time.sleep(FREEZE)
    finally:
        central.kill(victim, "ovnnb_db", signal="CONT")
    central.wait_whole(cluster)


def _iptables(host: multihost.Host, op: str, chain: str, way: str, ip: str) -> None:
    multihost.in_ns(host.ns, "iptables", "-w", "10", op, chain, way, ip, "-j", "DROP",
                    "-m", "comment", "--comment", FAULT_TAG)


def h1_cut_off(cluster: multihost.Cluster) -> None:
    """h1 loses the central (every member, both ways) but not h2: packets are dropped,
    so its connections hang rather than fail. Tunnel traffic to h2 is untouched."""
    host = cluster.host("h1")
    rules = [(chain, way, m.ip) for m in cluster.members
             for chain, way in (("INPUT", "-s"), ("OUTPUT", "-d"))]
    try:
        for rule in rules:
            _iptables(host, "-I", *rule)
        time.sleep(CUT)
    finally:
        for rule in rules:
            try:
                _iptables(host, "-D", *rule)
            except RuntimeError:
                pass  # never inserted
    central.wait_whole(cluster)


def h1_driver_killed(cluster: multihost.Cluster) -> None:
    host = cluster.host("h1")
    multihost.sh("kill", "-9", str(procs.read_pid(host.pidfile("driver"))))
    time.sleep(RESTART_AFTER)
    multihost.restart_driver(host)


def h1_dockerd_restarted(cluster: multihost.Cluster) -> None:
    """A clean restart (no live-restore here): its containers stop; those with a restart
    policy (the long-lived ones) start again."""
    host = cluster.host("h1")
    procs.stop(host.pidfile("docker"), timeout=30)
    multihost.start_dockerd(host.ns, host.dir, host.plugins, host.docker_host,
                            host.pidfile("docker"))
    client = host.docker()
    try:
        def back():
            return all(c.status == "running"
                       for c in client.containers.list(all=True,
                                                       filters={"label": churn.STAGE_LABEL}))
        wait.until(back, 60, step=0.5, what="h1's long-lived containers running again")
    finally:
        client.close()


def no_quorum(cluster: multihost.Cluster) -> None:
    """Two of three members down (the NB leader's and another): no majority, no writes."""
    first = central.leader(cluster, central.NB)
    second = next(m for m in cluster.members if m is not first)
    victims = (first, second)
    for m in victims:
        central.kill(m, *central.MEMBER_DAEMONS)
    try:
        time.sleep(NO_QUORUM)
    finally:
        for m in victims:
            central.restart(cluster, m)
    central.wait_whole(cluster)


def nothing(cluster: multihost.Cluster) -> None:
    """No fault: the same churn for as long as a fault lasts. The baseline that ping loss
    and request times under a fault are read against (on two busy cores the userspace
    datapath drops a packet now and then whatever the central does)."""
    time.sleep(10)


FAULTS = (
    Fault("none", nothing, hosts=()),
    Fault("nb-leader-kill", nb_leader_killed),
    Fault("sb-leader-kill", sb_leader_killed),
    Fault("member-kill", member_killed),
    Fault("nb-leader-freeze", nb_leader_frozen),
    Fault("h1-cut-off", h1_cut_off, hosts=("h1",)),
    Fault("h1-driver-kill", h1_driver_killed, hosts=("h1",), errors=DRIVER_DOWN),
    Fault("h1-dockerd-restart", h1_dockerd_restarted, hosts=("h1",), errors=DOCKERD_DOWN,
          ping_kept=False),  # its containers stop with it, the ping's target among them
    Fault("no-quorum", no_quorum),
)
