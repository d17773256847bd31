"""A clustered (Raft) OVN central: NB and SB replicated over 3 or 5 members, each
running its own ovn-northd (an SB lock keeps one active, the others standby).

- The first member creates the clustered databases (``ovsdb-tool create-cluster``), the
  others join through any member (``join-cluster``); the Raft ports are 6643 (NB) and
  6644 (SB), over SSL with the central's certificates (members share one CA: copy the
  first member's PKI folder to the others before they join).
- Clients' listeners live in the replicated NB_Global/SB_Global rows, so every member
  listens on all its addresses (``pssl:6641``, SB with ``role=ovn-controller``).
- ``status`` reads ``cluster/status`` from the member's control socket; ``leave`` takes
  the member out of the cluster cleanly, so the others stop counting it.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from dockovn.deploy import procs

RAFT_PORTS = {"nb": 6643, "sb": 6644}
DB_NAMES = {"nb": "OVN_Northbound", "sb": "OVN_Southbound"}


def raft_address(scheme: str, address: str, which: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}:{host}:{RAFT_PORTS[which]}"


def is_clustered(db: str) -> bool:
    return subprocess.run(["ovsdb-tool", "db-is-clustered", db], capture_output=True,
                          timeout=30).returncode == 0


def ensure_db(db: str, schema: str, which: str, scheme: str, local: str, join: str | None,
              election_timer_ms: int | None) -> bool:
    """Create this member's copy of a clustered DB (new cluster, or joining ``join``).
    True if made now; a standalone DB already there is refused, never converted."""
    if os.path.exists(db):
        if not is_clustered(db):
            raise procs.SetupError(f"{db} is a standalone database: a member needs a "
                                   "clustered one (move the file away to start afresh)")
        return False
    os.makedirs(os.path.dirname(db), exist_ok=True)
    me = raft_address(scheme, local, which)
    if join:
        peers = [raft_address(scheme, p.strip(), which) for p in join.split(",") if p.strip()]
        procs.run(["ovsdb-tool", "join-cluster", db, DB_NAMES[which], me, *peers],
                  f"joining the {which.upper()} cluster through {', '.join(peers)}")
    else:
        timer = [f"--election-timer={election_timer_ms}"] if election_timer_ms else []
        procs.run(["ovsdb-tool", *timer, "create-cluster", db, schema, me],
                  f"creating the {which.upper()} cluster at {me}")
    return True


@dataclass
class ClusterStatus:
    database: str
    role: str = "?"
    term: str = "?"
    leader: str = "?"
    status: str = "?"
    server_id: str = "?"
    servers: list[str] = field(default_factory=list)  # "sid at ssl:a:6643" (+ " (self)")


def parse_status(database: str, text: str) -> ClusterStatus:
    """``cluster/status`` output -> the fields people look at."""
    out = ClusterStatus(database)
    keys = {"Role": "role", "Term": "term", "Leader": "leader", "Status": "status",
            "Server ID": "server_id"}
    in_servers = False
    for line in text.splitlines():
        if line.startswith("Servers:"):
            in_servers = True
            continue
        if in_servers:
            match = re.match(r"\s+(\S+) \((\S+) at (\S+)\)( \(self\))?", line)
            if match:
                out.servers.append(f"{match.group(1)} at {match.group(3)}"
                                   + (" (self)" if match.group(4) else ""))
                continue
            if line and not line.startswith(" "):
                in_servers = False
        key, sep, value = line.partition(":")
        if sep and key in keys:
            setattr(out, keys[key], value.strip())
    # "Leader: 99df" (or "self"): say where it is.
    where = next((s for s in out.servers if s.split(" ")[0] == out.leader), None)
    if out.leader == "self":
        where = next((s for s in out.servers if s.endswith("(self)")), None)
    if where:
        out.leader = where.removesuffix(" (self)").split(" at ", 1)[1]
    return out


def status(ctl: str, which: str) -> ClusterStatus:
    text = procs.run(["ovs-appctl", "-t", ctl, "cluster/status", DB_NAMES[which]],
                     f"asking the {which.upper()} member for its cluster status", timeout=10)
    return parse_status(DB_NAMES[which], text)


def leave(ctl: str, which: str) -> None:
    procs.run(["ovs-appctl", "-t", ctl, "cluster/leave", DB_NAMES[which]],
              f"leaving the {which.upper()} cluster", timeout=10)


def northd_state(ctl: str) -> str:
    """"active" or "standby" (or "paused"), as ovn-northd says of itself."""
    text = procs.run(["ovs-appctl", "-t", ctl, "status"], "asking ovn-northd", timeout=10)
    return text.split(":", 1)[-1].strip() or "?"
