"""The bounded JSON-RPC questions doctor asks OVSDB servers, against a fake server that
answers like ovsdb-server (the wire format: one JSON object after another)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

from dockovn.diagnose.doctor import servers


class FakeOvsdb:
    """Answers _Server selects with ``row``, and "lock" with ``locked``; ``silent``: never."""

    def __init__(self, row=None, locked=False, silent=False):
        self.row, self.locked, self.silent = row, locked, silent
        self.requests: list[dict] = []
        self.dir = tempfile.mkdtemp(prefix="dkfake")
        self.path = os.path.join(self.dir, "db.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def remote(self) -> str:
        return f"unix:{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        buf, decoder = "", json.JSONDecoder()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data.decode()
                while buf.strip():
                    try:
                        msg, end = decoder.raw_decode(buf.lstrip())
                    except ValueError:
                        break
                    buf = buf.lstrip()[end:]
                    self.requests.append(msg)
                    if not self.silent:
                        for reply in self._answer(msg):
                            conn.sendall(json.dumps(reply).encode())

    def _answer(self, msg: dict) -> list[dict]:
        if msg["method"] == "transact":
            rows = [self.row] if self.row is not None else []
            return [{"id": msg["id"], "result": [{"rows": rows}], "error": None}]
        if msg["method"] == "lock":
            # ovsdb-server may send notifications on the same session: not the answer.
            return [{"id": None, "method": "locked", "params": ["other"]},
                    {"id": msg["id"], "result": {"locked": self.locked}, "error": None}]
        if msg["method"] == "unlock":
            return [{"id": msg["id"], "result": {}, "error": None}]
        return [{"id": msg["id"], "result": None, "error": "unknown method"}]

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake():
    made = []

    def make(**kwargs) -> FakeOvsdb:
        made.append(FakeOvsdb(**kwargs))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_a_members_raft_view(fake):
    server = fake(row={"model": "clustered", "connected": True, "leader": False,
                       "sid": ["uuid", "4c44d1d0-5d63-4d6f-9c1e-222222222222"]})
    view = servers.ask_member(server.remote, "OVN_Northbound", timeout=2)
    assert view.answered and view.model == "clustered" and view.connected and not view.leader
    assert view.sid.startswith("4c44")
    select = server.requests[0]["params"]
    assert select[0] == "_Server" and select[1]["where"] == [["name", "==", "OVN_Northbound"]]


def test_members_that_do_not_serve_the_database_or_do_not_answer(fake):
    empty = fake(row=None)
    assert "does not serve" in servers.ask_member(empty.remote, "OVN_Southbound", 2).error
    silent = fake(silent=True)
    t0 = time.monotonic()
    view = servers.ask_member(silent.remote, "OVN_Southbound", 0.5)
    assert not view.answered and "no answer" in view.error
    assert time.monotonic() - t0 < 3  # bounded, unlike python-ovs' transact_block
    gone = servers.ask_member("unix:/nonexistent/db.sock", "OVN_Southbound", 0.5)
    assert not gone.answered


def test_every_member_of_a_connection_string_is_asked(fake):
    a = fake(row={"model": "clustered", "connected": True, "leader": True, "sid": ["set", []]})
    b = fake(row={"model": "clustered", "connected": True, "leader": False, "sid": ["set", []]})
    views = servers.ask_members(f"{a.remote},{b.remote}", "OVN_Northbound", 2)
    assert [v.leader for v in views] == [True, False]


def test_who_holds_northds_lock_is_asked_and_the_lock_given_back(fake):
    held_by_northd = fake(locked=False)
    assert servers.northd_lock_held(held_by_northd.remote, 2) == (True, "")
    nobody = fake(locked=True)
    assert servers.northd_lock_held(nobody.remote, 2) == (False, "")
    assert [m["method"] for m in nobody.requests] == ["lock", "unlock"]
    held, why = servers.northd_lock_held("unix:/nonexistent/db.sock", 0.5)
    assert held is None and why
