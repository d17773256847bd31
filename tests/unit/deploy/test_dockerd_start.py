"""`dockerd.start` against stand-ins for dockerd (small scripts named `dockerd` on PATH):
one that fails at start, one that answers Docker's ping, and an old one that takes its
time to shut down. The system's dockerd is never touched: every path is the test's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dockovn.deploy import dockerd, procs

FAILING = """#!/bin/sh
echo 'level=info msg="Starting up"'
echo 'failed to start daemon: pid file found, ensure docker is not running or delete x' >&2
exit 1
"""

# Answers what docker's client asks for a ping (/version, then /_ping) on `-H unix://...`,
# writes its pidfile like dockerd, and says whether the old dockerd was gone when it started.
ANSWERING = f"""#!{sys.executable}
import http.server, os, socketserver, sys, threading
args = sys.argv[1:]
sock = args[args.index("-H") + 1].removeprefix("unix://")
pidfile = next(a.split("=", 1)[1] for a in args if a.startswith("--pidfile="))
print("old gone:", os.path.exists(os.environ["OLD_GONE"]), flush=True)
with open(pidfile, "w") as f:
    f.write(str(os.getpid()))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{{"ApiVersion": "1.41", "Version": "20.10"}}' if self.path.endswith("/version") \\
            else b"OK" if self.path.endswith("/_ping") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

threading.Timer(30, lambda: os._exit(0)).start()  # never outlives the test for long
Server(sock, Handler).serve_forever()
"""

# An old dockerd shutting down: it runs for $1 seconds, then leaves a mark and exits.
LINGERING = """#!/bin/sh
sleep "$1"
touch "$OLD_GONE"
"""


def script(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("OLD_GONE", str(tmp_path / "old-gone"))
    config = dockerd.DockerdConfig(host=f"unix://{tmp_path}/docker.sock",
                                   pidfile=str(tmp_path / "docker.pid"),
                                   logfile=str(tmp_path / "log" / "dockerd.log"),
                                   start_timeout=20, stop_wait=10)
    yield config
    pid = procs.running(config.pidfile, "dockerd")  # an answering stand-in
    if pid:
        os.kill(pid, signal.SIGKILL)


def on_path(monkeypatch, tmp_path, text: str) -> None:
    script(tmp_path / "bin" / "dockerd", text)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")


def old_dockerd(tmp_path, seconds: float, pidfile: str, write_pidfile: bool = True):
    proc = subprocess.Popen([script(tmp_path / "old" / "dockerd", LINGERING), str(seconds),
                             f"--pidfile={pidfile}"])
    # Popen may return (vfork) a moment before the kernel renames the child after its
    # executable, and the name comes a moment before its command line (empty until exec
    # has laid out the new arguments; seen on Debian 13): wait for both, as a real dockerd
    # has them.
    def exec_done():
        with open(f"/proc/{proc.pid}/comm") as f, open(f"/proc/{proc.pid}/cmdline") as g:
            return f.read().strip() == "dockerd" and "--pidfile" in g.read()
    procs.wait_for(exec_done, 5, "the old dockerd's name and command line", step=0.01)
    if write_pidfile:  # after it started, as dockerd does
        with open(pidfile, "w") as f:
            f.write(f"{proc.pid}\n")
    return proc


def test_a_dockerd_failing_at_start_is_reported_at_once_with_its_own_error(
        cfg, tmp_path, monkeypatch):
    on_path(monkeypatch, tmp_path, FAILING)
    os.makedirs(os.path.dirname(cfg.logfile))
    with open(cfg.logfile, "w") as f:
        f.write("an earlier run's last words\n")
    t0 = time.monotonic()
    with pytest.raises(procs.SetupError) as failed:
        dockerd.start(cfg)
    assert time.monotonic() - t0 < 5  # not the 20 s start_timeout
    message = str(failed.value)
    assert "exited (status 1) before answering" in message
    assert "pid file found, ensure docker is not running" in message
    assert "earlier run" not in message and cfg.logfile in message


def test_a_stopping_dockerd_is_waited_for_then_a_new_one_starts(cfg, tmp_path, monkeypatch):
    on_path(monkeypatch, tmp_path, ANSWERING)
    old = old_dockerd(tmp_path, 1.5, cfg.pidfile)
    said = []
    try:
        t0 = time.monotonic()
        assert dockerd.start(cfg, say=said.append) is True
        assert time.monotonic() - t0 >= 1.0
    finally:
        old.kill()
        old.wait()
    assert len(said) == 1 and f"pid {old.pid}" in said[0] and "waiting up to 10s" in said[0]
    assert dockerd.answers(cfg.host)
    with open(cfg.logfile) as f:
        assert "old gone: True" in f.read()  # started only once the old one had exited


def test_a_dockerd_whose_pidfile_is_gone_is_found_by_its_command_line(
        cfg, tmp_path, monkeypatch):
    on_path(monkeypatch, tmp_path, FAILING)
    old = old_dockerd(tmp_path, 1.0, cfg.pidfile, write_pidfile=False)
    said = []
    try:
        with pytest.raises(procs.SetupError, match="pid file found"):
            dockerd.start(cfg, say=said.append)
    finally:
        old.kill()
        old.wait()
    assert len(said) == 1 and f"pid {old.pid}" in said[0]
    assert os.path.exists(os.environ["OLD_GONE"])  # the new one came after it exited


def test_a_dockerd_that_neither_answers_nor_exits_is_named_after_stop_wait(
        cfg, tmp_path, monkeypatch):
    on_path(monkeypatch, tmp_path, FAILING)
    old = old_dockerd(tmp_path, 30, cfg.pidfile)
    try:
        t0 = time.monotonic()
        with pytest.raises(procs.SetupError, match=f"kill {old.pid}"):
            dockerd.start(dockerd.DockerdConfig(**{**cfg.__dict__, "stop_wait": 1}))
        assert 1 <= time.monotonic() - t0 < 5
    finally:
        old.kill()
        old.wait()


def test_other_dockerds_are_not_ours(cfg, tmp_path):
    other = old_dockerd(tmp_path, 30, str(tmp_path / "elsewhere.pid"), write_pidfile=False)
    try:
        assert dockerd._unanswering_dockerd(str(tmp_path / "elsewhere.pid")) == other.pid
        assert dockerd._unanswering_dockerd(cfg.pidfile) is None
    finally:
        other.kill()
        other.wait()
