"""What each OVN central server says of itself, asked over its client port.

Doctor runs on hosts, which reach the central only through the client ports the host's
set-up recorded (a member's control socket is on that member's machine). Two questions
are answered there without changing anything:

- **Raft roles.** Every ovsdb-server serves a ``_Server`` database whose Database table
  says, for each database it holds, its model (standalone, clustered), whether it is
  connected to its cluster and whether it is the leader. Asking every member in the
  host's remote list gives the cluster's roles from outside.
- **One active ovn-northd.** Each ovn-northd asks for the SB lock ``ovn_northd``; the one
  holding it is the active one, and an OVSDB lock has one holder at most. So doctor asks
  for that lock too: "locked": false means an ovn-northd holds it. If doctor got it, no
  ovn-northd holds it (none runs, or none reaches SB), and it is given back at once.
  In a cluster each server keeps its own locks and ovn-northd talks to the leader, so
  the leader is asked.

Each question is one JSON-RPC request on a connection of its own, bounded in time
(python-ovs' own ``transact_block`` waits forever; a central that drops packets must not
hang doctor).
"""

from __future__ import annotations

import errno
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ovs.poller
from ovs import jsonrpc
from ovs.stream import Stream

NORTHD_LOCK = "ovn_northd"  # ovn-northd.c: ovsdb_idl_set_lock(ovnsb_idl, "ovn_northd")


@dataclass(frozen=True)
class MemberView:
    """One server's answer about one database ("" error: it answered)."""
    remote: str
    error: str = ""
    model: str = ""        # "standalone", "clustered", "relay"
    connected: bool = False  # clustered: in touch with the cluster (a quorum)
    leader: bool = False
    sid: str = ""          # clustered: the server's Raft ID

    @property
    def answered(self) -> bool:
        return not self.error


def remotes_of(connection: str) -> list[str]:
    """``tcp:a:6641,tcp:b:6641`` -> each member's connection string."""
    return [part.strip() for part in connection.split(",") if part.strip()]


class _Rpc:
    """One connection, requests answered before a deadline."""

    def __init__(self, remote: str, timeout: float):
        self.deadline = time.monotonic() + timeout
        error, stream = Stream.open_block(Stream.open(remote), int(timeout * 1000))
        if error:
            raise OSError(error, _strerror(error))
        self.rpc = jsonrpc.Connection(stream)

    def call(self, method: str, params: list):
        request = jsonrpc.Message.create_request(method, params)
        error = self.rpc.send(request)
        if error:
            raise OSError(error, _strerror(error))
        while True:
            self.rpc.run()
            error, msg = self.rpc.recv()
            if error == errno.EAGAIN:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer in time")
                poller = ovs.poller.Poller()
                self.rpc.wait(poller)
                self.rpc.recv_wait(poller)
                poller.timer_wait(int(left * 1000) + 1)
                poller.block()
                continue
            if error:
                raise OSError(error, _strerror(error))
            if msg.type == jsonrpc.Message.T_REQUEST and msg.method == "echo":
                self.rpc.send(jsonrpc.Message.create_reply(msg.params, msg.id))
                continue
            if msg.id != request.id:
                continue  # a notification ("locked", "update"): not our answer
            if msg.type == jsonrpc.Message.T_ERROR:
                raise RuntimeError(str(msg.error))
            return msg.result

    def close(self) -> None:
        self.rpc.close()


def _strerror(error: int) -> str:
    return "connection closed" if error == jsonrpc.EOF else os.strerror(error)


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def ask_member(remote: str, database: str, timeout: float) -> MemberView:
    """What the server at ``remote`` says of ``database`` (its _Server row)."""
    try:
        rpc = _Rpc(remote, timeout)
    except Exception as exc:
        return MemberView(remote, error=_describe(exc))
    try:
        result = rpc.call("transact", ["_Server", {
            "op": "select", "table": "Database", "where": [["name", "==", database]],
            "columns": ["model", "connected", "leader", "sid"]}])
    except Exception as exc:
        return MemberView(remote, error=_describe(exc))
    finally:
        rpc.close()
    rows = result[0].get("rows", []) if result and isinstance(result[0], dict) else []
    if not rows:
        return MemberView(remote, error=f"this server does not serve {database}")
    row = rows[0]
    sid = row.get("sid")
    return MemberView(remote, model=row.get("model", ""), connected=bool(row.get("connected")),
                      leader=bool(row.get("leader")),
                      sid=sid[1] if isinstance(sid, list) and sid[0] == "uuid" else "")


def ask_members(connection: str, database: str, timeout: float) -> list[MemberView]:
    """Every member of ``connection`` asked at once (a dead one costs ``timeout`` once)."""
    remotes = remotes_of(connection)
    if not remotes:
        return []
    with ThreadPoolExecutor(max_workers=len(remotes)) as pool:
        return list(pool.map(lambda r: ask_member(r, database, timeout), remotes))


def northd_lock_held(remote: str, timeout: float) -> tuple[bool | None, str]:
    """(True: an ovn-northd holds the SB lock; False: none does; None: could not tell,
    with the reason). Asks for the lock and gives it back, whichever answer came."""
    try:
        rpc = _Rpc(remote, timeout)
    except Exception as exc:
        return None, _describe(exc)
    try:
        answer = rpc.call("lock", [NORTHD_LOCK])
        try:
            rpc.call("unlock", [NORTHD_LOCK])  # give it back, or leave the queue
        except Exception:
            pass  # closing the connection releases it as well
        return not bool((answer or {}).get("locked")), ""
    except Exception as exc:
        return None, _describe(exc)
    finally:
        rpc.close()
