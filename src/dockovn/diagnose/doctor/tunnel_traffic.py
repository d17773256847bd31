"""Whether a tunnel works, judged from its packet counters.

An OVS tunnel interface has no liveness of its own: without BFD nothing says whether the
far end gets what this end sends. OVN enables BFD only toward HA gateway chassis and
ovn-controller resets ``bfd:enable`` on every other tunnel, so doctor cannot switch it on
(and BFD needs both ends). A probe packet of doctor's own would not come back either: the
only packets that return through a tunnel are a container's answers (a chassis never
sends a packet received from a tunnel back out of one), so it would need an answering
container on each end and no policy in the way. iptables is no guide on the userspace
datapath: OVS sends and receives the underlay frames on the uplink through AF_PACKET,
below netfilter.

What OVS does keep is per-tunnel packet counters: the tunnel's OpenFlow port stats,
live (`ovs-ofctl dump-ports`; the Interface table's statistics are refreshed only every
5 s). Traffic to a reachable peer brings answers back (replies, TCP ACKs), so doctor
reads the counters twice, a few seconds apart: a tunnel that sent packets and received
none in that window loses its traffic on the way (UDP 6081/4789 blocked by a firewall,
a security group, a drop on the underlay bridge) or its far end is down. An idle tunnel
proves nothing either way and is reported as idle. A peer that only ever receives
one-way UDP with no reply looks the same as a blocked one: the finding says so.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from dockovn.diagnose.doctor.facts import TunnelTraffic

# Fewer packets than this, unanswered, may be a stray broadcast (an ARP for an address
# nobody has is flooded to every chassis and never answered): not enough to call it.
MIN_UNANSWERED = 5
OFCTL_TIMEOUT = 10.0
_PORT_STATS = re.compile(r"port\s+(\S+?):\s*rx pkts=(\d+|\?)[^\n]*\n\s*tx pkts=(\d+|\?)")
_ANY_VERSION = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"


class CounterError(RuntimeError):
    """ovs-ofctl could not read the bridge's port counters."""


@dataclass(frozen=True)
class Counters:
    received: int | None
    sent: int | None


def parse_dump_ports(text: str) -> dict[str, Counters]:
    """`ovs-ofctl --no-names dump-ports BRIDGE` -> OpenFlow port number ("LOCAL") -> counters."""
    out = {}
    for port, rx, tx in _PORT_STATS.findall(text):
        out[port] = Counters(None if rx == "?" else int(rx), None if tx == "?" else int(tx))
    return out


def read_counters(bridge: str, ovs_rundir: str) -> dict[str, Counters]:
    """The bridge's port counters now (its management socket is in ``ovs_rundir``)."""
    cmd = ["ovs-ofctl", "-O", _ANY_VERSION, "--no-names", "dump-ports", bridge]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=OFCTL_TIMEOUT,
                              env={**os.environ, "OVS_RUNDIR": ovs_rundir})
    except FileNotFoundError:
        raise CounterError("ovs-ofctl is not installed (Debian: openvswitch-common)") from None
    except subprocess.TimeoutExpired:
        raise CounterError(f"ovs-ofctl dump-ports {bridge}: no answer in "
                           f"{OFCTL_TIMEOUT:g}s") from None
    if done.returncode != 0:
        raise CounterError(f"ovs-ofctl dump-ports {bridge}: "
                           f"{(done.stderr or done.stdout).strip()}")
    return parse_dump_ports(done.stdout)


def traffic(before: dict[str, Counters], after: dict[str, Counters]) -> dict[int, TunnelTraffic]:
    """Per OpenFlow port number, what was sent and received between two readings
    (ports missing from either reading, or without counters, are left out)."""
    out = {}
    for port, now in after.items():
        then = before.get(port)
        if then is None or not port.isdigit() or None in (now.sent, now.received,
                                                          then.sent, then.received):
            continue
        out[int(port)] = TunnelTraffic(sent=max(0, now.sent - then.sent),
                                       received=max(0, now.received - then.received))
    return out


def unanswered(t: TunnelTraffic) -> bool:
    """Sent enough to expect an answer, and nothing at all came back."""
    return t.sent >= MIN_UNANSWERED and t.received == 0
