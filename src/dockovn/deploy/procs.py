"""Daemons by pidfile: is it running, start it, stop it.

Used by the set-up commands only (central, host setup, up/down), never on the
plugin's request path, so forking the OVS/OVN tools here is fine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass


class SetupError(RuntimeError):
    """A set-up step failed; the message says which and why."""


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def read_file(path: str) -> str | None:
    """A small state file's text (a daemon's recorded arguments), None if there is none."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not running; neither is a pid reused by something else
    # after a crash (a stale pidfile left from an earlier run).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def running(pidfile: str, comm: str | None = None) -> int | None:
    """The pid in ``pidfile`` if that process runs (and is named ``comm``, if given).

    A pidfile left by a daemon that died may name a pid the kernel has since given
    to another process (after a reboot, to anything at all, this test run included).
    The daemon writes its pidfile after it starts, so a process that started after
    the pidfile was written is not the daemon: it is never reported nor signalled.
    """
    pid = read_pid(pidfile)
    if not alive(pid) or pid in self_and_ancestors():
        return None
    if not (_argv_names(pid, pidfile) or _started_before(pid, pidfile)):
        return None
    if comm is not None:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().strip().startswith(comm[:15]):
                    return None
        except OSError:
            return None
    return pid


def _argv_names(pid: int, pidfile: str) -> bool:
    """True if the process was started with ``--pidfile <pidfile>`` (the OVS/OVN daemons,
    dockerd and the driver are): that names the daemon without any clock. The start-time
    check below compares the kernel's boot-relative start time with the pidfile's
    wall-clock mtime, and a wall clock stepped forward since (NTP, a resumed VM) makes a
    live daemon look younger than its pidfile, so it would be neither stopped nor seen."""
    given = pidfile_arg(argv_of(pid))
    return given is not None and os.path.abspath(given) == os.path.abspath(pidfile)


def argv_of(pid: int) -> list[str]:
    """The process's command line ([] if it is gone, or still inside exec)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def pidfile_arg(argv: list[str]) -> str | None:
    """The pidfile a daemon's command line names (--pidfile=X, --pidfile X, -p X)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--pidfile="):
            return arg.split("=", 1)[1]
        if arg in ("--pidfile", "-p") and i + 1 < len(argv):
            return argv[i + 1]
    return None


# /proc/<pid>/stat's start time is in clock ticks since boot, /proc/stat's btime in
# whole seconds: a little slack absorbs that rounding.
_START_SLACK_S = 2.0


def _started_before(pid: int, pidfile: str) -> bool:
    try:
        written = os.stat(pidfile).st_mtime
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") <= written + _START_SLACK_S


def processes_named(comm: str) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the live processes named ``comm`` (for a daemon whose pidfile
    is gone); never this process or its ancestors, nor a process of another mount
    namespace (a container's dockerd, a chroot's: the paths in its argv are not ours)."""
    mine = self_and_ancestors()
    my_mounts = os.readlink("/proc/self/ns/mnt")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != comm[:15]:
                    continue
            if os.readlink(f"/proc/{entry}/ns/mnt") != my_mounts:
                continue
        except OSError:
            continue  # gone meanwhile
        if alive(int(entry)):
            out.append((int(entry), argv_of(int(entry))))
    return out


def self_and_ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 0:  # pid 1 too: in a pid namespace it may be our own parent
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def run(cmd: list[str], what: str, env: dict[str, str] | None = None,
        timeout: float = 60, cwd: str | None = None) -> str:
    """Run a tool to completion; SetupError with its stderr if it fails."""
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                              cwd=cwd)
    except FileNotFoundError:
        raise SetupError(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: {' '.join(cmd)} did not finish in {timeout:g}s") from None
    if done.returncode != 0:
        raise SetupError(f"{what}: {' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def stop(pidfile: str, timeout: float = 10.0, comm: str | None = None) -> bool:
    """SIGTERM the daemon in ``pidfile``, wait, SIGKILL if it lingers. True if one ran.

    Only the process the pidfile really names is signalled (see ``running``); the
    pidfile is removed either way.
    """
    pid = running(pidfile, comm)
    if pid:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break  # it ended (and was reaped) on its own meanwhile: seen on Debian 13
            # Gone only once the kernel has closed its files: a restart before that
            # finds its database's lock still held.
            deadline = time.monotonic() + timeout
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not alive(pid):
                break
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    return pid is not None


def wait_for(predicate, timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    if not predicate():
        raise SetupError(f"timed out after {timeout:g}s waiting for {what}")


@dataclass(frozen=True)
class Status:
    name: str
    pid: int | None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.pid is not None


def ensure_db(db: str, schema: str, what: str) -> None:
    """Create an OVSDB file from ``schema``, or convert it if the schema moved on."""
    os.makedirs(os.path.dirname(db), exist_ok=True)
    if not os.path.exists(db):
        run(["ovsdb-tool", "create", db, schema], f"creating {what} database")
        return
    needs = run(["ovsdb-tool", "needs-conversion", db, schema], f"checking {what} database")
    if needs.strip() == "yes":
        run(["ovsdb-tool", "convert", db, schema], f"upgrading {what} database")
