"""Pidfiles: only the process a pidfile really names is reported or signalled."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dockovn.deploy import procs


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"])


def _write(path, pid: int, written: float | None = None) -> str:
    path.write_text(f"{pid}\n")
    if written is not None:
        os.utime(path, (written, written))
    return str(path)


def test_a_live_daemon_is_found_and_stopped(tmp_path):
    proc = _sleeper()
    pidfile = _write(tmp_path / "d.pid", proc.pid)
    assert procs.running(pidfile, "sleep") == proc.pid
    assert procs.stop(pidfile, timeout=5)
    assert proc.wait(timeout=5) != 0
    assert not os.path.exists(pidfile)


def test_a_pid_reused_after_the_pidfile_was_written_is_left_alone(tmp_path):
    # As after a reboot: the pidfile is an hour old, the process with that pid is new.
    proc = _sleeper()
    try:
        pidfile = _write(tmp_path / "d.pid", proc.pid, written=time.time() - 3600)
        assert procs.running(pidfile) is None
        assert procs.stop(pidfile, timeout=1) is False
        assert proc.poll() is None, "a process that merely reuses the pid was signalled"
        assert not os.path.exists(pidfile)
    finally:
        proc.kill()
        proc.wait()


def test_a_daemon_named_by_its_argv_is_found_after_the_clock_stepped_forward(tmp_path):
    # The wall clock stepped an hour forward after the daemon wrote its pidfile: by the
    # clocks it started after the pidfile, but it was started with --pidfile=<that file>.
    pidfile = tmp_path / "d.pid"
    proc = subprocess.Popen([sys.executable, "-c", "import time; print(flush=True); time.sleep(60)",
                             f"--pidfile={pidfile}"], stdout=subprocess.PIPE)
    try:
        # As a daemon does, the pidfile is written once it runs: Popen may return while
        # the child is still inside exec, with no command line to read yet.
        proc.stdout.readline()
        _write(pidfile, proc.pid, written=time.time() - 3600)
        assert procs.running(str(pidfile)) == proc.pid
        assert procs.stop(str(pidfile), timeout=5)
        assert proc.wait(timeout=5) != 0
    finally:
        proc.kill()
        proc.wait()


def test_a_daemon_that_ignores_sigterm_is_gone_when_stop_returns(tmp_path):
    # A restart right after stop must not find the old daemon still holding its files.
    proc = subprocess.Popen([sys.executable, "-c",
                             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                             "print(flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    proc.stdout.readline()  # SIGTERM is ignored from here on
    pidfile = _write(tmp_path / "d.pid", proc.pid)
    assert procs.stop(pidfile, timeout=0.5)
    assert not procs.alive(proc.pid)
    proc.wait(timeout=5)


def test_a_stale_pidfile_naming_this_process_or_its_parent_is_never_signalled(tmp_path):
    for pid in (os.getpid(), os.getppid()):
        pidfile = _write(tmp_path / "d.pid", pid)
        assert procs.running(pidfile) is None
        assert procs.stop(pidfile, timeout=1) is False


def test_wrong_name_is_not_the_daemon(tmp_path):
    proc = _sleeper()
    try:
        pidfile = _write(tmp_path / "d.pid", proc.pid)
        assert procs.running(pidfile, "ovsdb-server") is None
    finally:
        proc.kill()
        proc.wait()


def test_a_process_of_another_mount_namespace_is_not_taken_for_ours():
    # A dockerd in a container or a chroot of this machine is visible here, and its
    # --pidfile names a file of its own file system: never ours to wait for or kill.
    here = subprocess.Popen(["sleep", "30"])
    there = subprocess.Popen(["unshare", "--mount", "sleep", "30"])
    try:
        def found():
            return {pid for pid, _ in procs.processes_named("sleep")}
        procs.wait_for(lambda: here.pid in found(), 5, "the sleep of this namespace")
        time.sleep(0.3)  # unshare has exec'd sleep by now
        assert there.pid not in found()
    finally:
        for p in (here, there):
            p.kill()
            p.wait()
