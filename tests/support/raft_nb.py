"""A three-member Raft cluster of OVN Northbound on this machine, for integration tests
about what a member that lags (frozen, then thawed) does to a client's reads.

Members talk Raft over TCP on 127.0.0.1 (free ports), clients use each member's unix
socket. The fault suite (tests/support/faults) has a whole central per member in its
own namespace; this one is just the databases, started in about a second."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from dataclasses import dataclass

from dockovn.deploy import procs
from dockovn.deploy.central import SCHEMAS

from tests.support import wait

DB = "OVN_Northbound"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Member:
    folder: str
    index: int
    raft_port: int

    def path(self, suffix: str) -> str:
        return os.path.join(self.folder, f"m{self.index}.{suffix}")

    @property
    def remote(self) -> str:
        return f"unix:{self.path('sock')}"

    @property
    def raft(self) -> str:
        return f"tcp:127.0.0.1:{self.raft_port}"

    def pid(self) -> int | None:
        return procs.running(self.path("pid"))

    def role(self) -> str:
        done = subprocess.run(["ovs-appctl", "--timeout=2", "-t", self.path("ctl"),
                               "cluster/status", DB], capture_output=True, text=True,
                              check=False)
        for line in done.stdout.splitlines():
            if line.startswith("Role:"):
                return line.split(":", 1)[1].strip()
        return ""

    def freeze(self) -> None:
        os.kill(self.pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)


class RaftNorthbound:
    def __init__(self, folder: str, size: int = 3):
        os.makedirs(folder, exist_ok=True)
        self.members = [Member(folder, i, _free_port()) for i in range(1, size + 1)]

    def start(self) -> "RaftNorthbound":
        first = self.members[0]
        procs.run(["ovsdb-tool", "create-cluster", first.path("db"), SCHEMAS["nb"], first.raft],
                  "creating a test NB cluster")
        for m in self.members[1:]:
            procs.run(["ovsdb-tool", "join-cluster", m.path("db"), DB, m.raft, first.raft],
                      "joining the test NB cluster")
        for m in self.members:
            procs.run(["ovsdb-server", "--detach", "--no-chdir", f"--pidfile={m.path('pid')}",
                       f"--unixctl={m.path('ctl')}", f"--log-file={m.path('log')}",
                       f"--remote=punix:{m.path('sock')}", m.path("db")],
                      "starting a test NB member")
        wait.until(lambda: [m.role() for m in self.members].count("follower") == len(self.members) - 1
                   and self.leader(), 30, what="the test NB cluster formed")
        procs.run(["ovn-nbctl", f"--db={self.remote()}", "init"], "initialising the test NB")
        return self

    def remote(self, *members: Member) -> str:
        return ",".join(m.remote for m in (members or self.members))

    def leader(self) -> Member | None:
        return next((m for m in self.members if m.role() == "leader"), None)

    def stop(self) -> None:
        for m in self.members:
            if m.pid():
                m.thaw()  # a stopped process does not act on SIGTERM until continued
            procs.stop(m.path("pid"))
