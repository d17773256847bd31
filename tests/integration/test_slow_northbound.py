"""A Northbound that is connected but does not answer (its ovsdb-server stopped with
SIGSTOP, as a stalled or overloaded central looks to its clients): a write that
times out never lands afterwards, and reads do not wait behind writes."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from dockovn.deploy import procs
from dockovn.ovn.nb import Northbound, NorthboundError

from tests.support import wait
from tests.support.daemons import nb_server

pytestmark = pytest.mark.integration


@pytest.fixture
def stalled(workdir):
    """(NB server, stall(), resume()) on an NB of the test's own."""
    server = nb_server(os.path.join(workdir, f"stall-{uuid.uuid4().hex[:6]}"))
    pid = procs.read_pid(server.pidfile)
    yield server, (lambda: os.kill(pid, signal.SIGSTOP)), (lambda: os.kill(pid, signal.SIGCONT))
    os.kill(pid, signal.SIGCONT)
    server.stop()


def test_a_write_that_timed_out_before_it_was_sent_never_lands(stalled):
    server, stall, resume = stalled
    nb = Northbound(server.remote, timeout=2)
    checker = Northbound(server.remote)
    try:
        stall()
        first: dict[str, str] = {}

        def sent_write():
            try:
                nb.create_switch("sw-sent", {})
                first["outcome"] = "ok"
            except NorthboundError as exc:
                first["outcome"] = str(exc)

        writer = threading.Thread(target=sent_write)
        writer.start()
        time.sleep(0.5)  # let it go out; the next one queues behind it
        with pytest.raises(NorthboundError) as queued:
            nb.create_switch("sw-queued", {})
        writer.join(10)
        # Told apart: the one never sent will not apply; the one sent may.
        assert "nothing was changed" in str(queued.value)
        assert "may still apply" in first["outcome"]
        resume()
        # A later write on the same connection: once it is visible, everything queued
        # before it has been dealt with.
        nb.create_switch("sw-after", {})
        wait.until(lambda: checker.switch("sw-after") is not None, what="the later write")
        assert checker.switch("sw-queued") is None, "a write reported as failed was applied"
        # The one already sent did apply once the server woke, and was taken back: a
        # request answered "failed" leaves nothing behind.
        wait.until(lambda: checker.switch("sw-sent") is None,
                   what="the sent write, answered as failed, undone")
        log = procs.run(["ovsdb-tool", "show-log", "-m", server.db], "reading the NB log")
        assert log.count('"sw-sent"') >= 1, "the sent write never applied: nothing was undone"
    finally:
        resume()
        nb.close()
        checker.close()


def test_an_endpoint_whose_create_timed_out_after_it_was_sent_is_taken_back(stalled):
    """CreateEndpoint answered "failed" after its write went out: Docker releases the
    address and may give it to the next container, so the port must not stay (two
    ports would answer ARP for one address)."""
    server, stall, resume = stalled
    nb = Northbound(server.remote, timeout=2)
    checker = Northbound(server.remote)
    mac_ip = "0a:58:0a:00:00:05 10.0.0.5"
    try:
        nb.create_switch("sw-ep", {})
        wait.until(lambda: nb.switch("sw-ep") is not None, what="the switch in the cache")
        stall()
        with pytest.raises(NorthboundError, match="may still apply"):
            nb.add_port("sw-ep", "ep-sent", [mac_ip], [mac_ip], {"dockovn:endpoint-id": "ep-sent"})
        resume()
        wait.until(lambda: checker.switch("sw-ep") is not None, what="the checker's cache")
        wait.until(lambda: checker.port("ep-sent") is None and checker.ports("sw-ep") == [],
                   what="the port, answered as failed, undone")
        log = procs.run(["ovsdb-tool", "show-log", "-m", server.db], "reading the NB log")
        assert log.count('"ep-sent"') >= 1, "the sent write never applied: nothing was undone"
    finally:
        resume()
        nb.close()
        checker.close()


def test_reads_do_not_wait_behind_a_write_the_server_has_not_answered(stalled):
    server, stall, resume = stalled
    nb = Northbound(server.remote, timeout=5)
    try:
        nb.create_switch("sw-known", {})
        wait.until(lambda: nb.switch("sw-known") is not None)
        stall()
        def write():
            try:
                nb.create_switch("sw-w", {})
            except NorthboundError:
                pass  # timed out or not: only the reads matter here

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # the write is out, waiting for the server's answer
        read: dict[str, object] = {}
        reader = threading.Thread(target=lambda: read.update(
            switch=nb.switch("sw-known"), writer_waiting=writer.is_alive()))
        reader.start()
        reader.join(3)
        assert not reader.is_alive(), "a cache read waited behind the stalled write"
        assert read["switch"] is not None and read["writer_waiting"]
    finally:
        resume()
        writer.join(15)
        nb.close()
