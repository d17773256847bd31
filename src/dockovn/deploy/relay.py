"""OVSDB relays in front of a clustered central: what hosts talk to.

One ovsdb-server process checks every SSL peer against one CA file, on its client
ports and its Raft ports alike. A member that accepted hosts' certificates would
therefore accept them as Raft peers too, and a member writes SB without the
``ovn-controller`` role's limits. So a member trusts only the central's CA and listens
for clients on its member port (NB 6645, SB 6646: ovn-northd of the other members and
the relays), and on every member a relay per database serves the hosts:

    host ──ssl:6641/6642──> relay (trusts the trusted-hosts file) ──ssl:6645/6646──> members

A relay reads its listeners from the replicated NB_Global/SB_Global ``connections``
(``pssl:6642`` with ``role=ovn-controller``): OVSDB enforces SB's role-based access on
the relay, and forwards writes to the members (any of them: a follower passes them on
to the leader).
"""

from __future__ import annotations

import os

from dockovn.deploy import procs, raft
from dockovn.ovsdb import SslFiles

MEMBER_PORT_OFFSET = 4  # 6641 -> 6645, 6642 -> 6646


def pidfile(rundir: str, which: str) -> str:
    return os.path.join(rundir, f"ovn{which}_relay.pid")


def ctl(rundir: str, which: str) -> str:
    return os.path.join(rundir, f"ovn{which}_relay.ctl")


def start(rundir: str, logdir: str, which: str, upstream: str, ssl: SslFiles,
          env: dict[str, str]) -> bool:
    """Start (or follow new members with) the relay of ``which``; True if started."""
    remotes_file = os.path.join(rundir, f"ovn{which}_relay.upstream")
    if procs.running(pidfile(rundir, which), "ovsdb-server"):
        if procs.read_file(remotes_file) == upstream:
            return False
        procs.stop(pidfile(rundir, which))  # members came or went
    name = raft.DB_NAMES[which]
    table = "NB_Global" if which == "nb" else "SB_Global"
    procs.run([
        "ovsdb-server", "--detach", "--no-chdir", f"--pidfile={pidfile(rundir, which)}",
        f"--log-file={os.path.join(logdir, f'ovsdb-relay-{which}.log')}",
        f"--unixctl={ctl(rundir, which)}",
        f"--remote=punix:{os.path.join(rundir, f'ovn{which}_relay.sock')}",
        f"--remote=db:{name},{table},connections",
        f"--private-key={ssl.key}", f"--certificate={ssl.cert}", f"--ca-cert={ssl.ca}",
        f"relay:{name}:{upstream}",
    ], f"starting the {which.upper()} relay", env=env)
    with open(remotes_file, "w") as f:
        f.write(upstream)
    return True


def stop(rundir: str) -> None:
    for which in ("nb", "sb"):
        procs.stop(pidfile(rundir, which))


def status(rundir: str) -> list[procs.Status]:
    return [procs.Status(f"OVN {which.upper()} relay",
                         procs.running(pidfile(rundir, which), "ovsdb-server"), "hosts' SSL port")
            for which in ("nb", "sb")]
