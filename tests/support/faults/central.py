"""The Raft central as the fault suite sees it: each member's daemons and role, when the
cluster is whole again, and NB's rows as plain Python values.

Roles come from `ovs-appctl cluster/status` on each member's control socket, with a
short timeout: a member frozen with SIGSTOP never answers. NB is read with
`ovn-nbctl --format=json` through every live member's unix socket (leader only, the
default: a follower may lag a moment behind what the last request wrote)."""

from __future__ import annotations

import json
import os
import subprocess

from dockovn.deploy import procs

from tests.support import multihost, wait

NB, SB = "OVN_Northbound", "OVN_Southbound"
DAEMON = {NB: "ovnnb_db", SB: "ovnsb_db"}
# A member machine dying: its databases, ovn-northd, and the relays hosts talk to.
MEMBER_DAEMONS = ("ovn-northd", "ovnsb_db", "ovnnb_db", "ovnnb_relay", "ovnsb_relay")


def pid(member: multihost.Member, daemon: str) -> int | None:
    return procs.running(member.pidfile(daemon))


def status(member: multihost.Member, db: str) -> str:
    """`cluster/status` of ``db`` on ``member``; "" when it is down or does not answer."""
    if not pid(member, DAEMON[db]):
        return ""
    ctl = os.path.join(member.dir, ("ovnnb_db" if db == NB else "ovnsb_db") + ".ctl")
    try:
        done = multihost.in_ns(member.ns, "ovs-appctl", "--timeout=2", "-t", ctl,
                               "cluster/status", db, check=False, timeout=5)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout if done.returncode == 0 else ""


def servers(text: str) -> int:
    return text.split("Servers:")[-1].count(" at ")


def leader(cluster: multihost.Cluster, db: str = NB, timeout: float = 30) -> multihost.Member:
    def find():
        return next((m for m in cluster.members if "Role: leader" in status(m, db)), None)
    return wait.until(find, timeout, step=0.5, what=f"a {db} leader")


def whole(cluster: multihost.Cluster) -> bool:
    """Every member up in NB and SB, each knowing all the servers, one leader per DB, and
    one ovn-northd active."""
    for db in (NB, SB):
        texts = [status(m, db) for m in cluster.members]
        if not all(t and servers(t) == len(cluster.members) for t in texts):
            return False
        if sum("Role: leader" in t for t in texts) != 1:
            return False
    northd = []
    for m in cluster.members:
        done = multihost.in_ns(m.ns, "ovs-appctl", "--timeout=2", "-t",
                               os.path.join(m.dir, "ovn-northd.ctl"), "status", check=False,
                               timeout=5)
        northd.append(done.stdout.strip())
    return northd.count("Status: active") == 1


def wait_whole(cluster: multihost.Cluster, timeout: float = 60) -> None:
    wait.until(lambda: whole(cluster), timeout, step=0.5, what="the Raft central whole again")


def kill(member: multihost.Member, *daemons: str, signal: str = "KILL") -> None:
    for daemon in daemons:
        p = pid(member, daemon)
        if p:
            multihost.sh("kill", f"-{signal}", str(p), check=False)


def restart(cluster: multihost.Cluster, member: multihost.Member) -> None:
    """`dockovn central start` on the member again: it starts what is not running."""
    multihost.start_member(cluster, member, join=False)


# -- NB rows -------------------------------------------------------------------------------


def _value(v):
    """An OVSDB JSON value as Python: uuids as strings, sets as lists, maps as dicts."""
    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
        kind, inner = v
        if kind in ("uuid", "named-uuid"):
            return inner
        if kind == "set":
            return [_value(x) for x in inner]
        if kind == "map":
            return {_value(k): _value(x) for k, x in inner}
    return v


def as_list(v) -> list:
    """A set column's value as a list (OVSDB writes a one-element set as the element)."""
    return v if isinstance(v, list) else [v]


def nbctl(cluster: multihost.Cluster, *args: str) -> str:
    remotes = ",".join(f"unix:{m.dir}/ovnnb_db.sock" for m in cluster.members
                       if pid(m, "ovnnb_db"))
    return multihost.sh("ovn-nbctl", f"--db={remotes}", "--timeout=20", *args,
                        timeout=30).stdout


def nb_rows(cluster: multihost.Cluster, table: str) -> list[dict]:
    out = json.loads(nbctl(cluster, "--format=json", "list", table))
    return [{h: _value(v) for h, v in zip(out["headings"], row)} for row in out["data"]]
