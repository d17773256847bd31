"""Real daemons for tests: a private NB ovsdb-server and drivers under test."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from dockovn.deploy import procs
from dockovn.deploy.central import SCHEMAS
from dockovn.deploy.driver_daemon import socket_answers

from tests.support import wait


@dataclass
class OvsdbServer:
    """An ovsdb-server with one database, on a unix socket in ``folder``."""

    folder: str
    schema: str

    @property
    def sock(self) -> str:
        return os.path.join(self.folder, "db.sock")

    @property
    def remote(self) -> str:
        return f"unix:{self.sock}"

    @property
    def db(self) -> str:
        return os.path.join(self.folder, "db.db")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.folder, "ovsdb-server.pid")

    def start(self) -> "OvsdbServer":
        os.makedirs(self.folder, exist_ok=True)
        db = self.db
        procs.ensure_db(db, self.schema, "test")
        procs.run(["ovsdb-server", db, f"--remote=punix:{self.sock}", f"--pidfile={self.pidfile}",
                   "--detach", "--no-chdir", f"--log-file={self.folder}/ovsdb-server.log",
                   f"--unixctl={self.folder}/ovsdb-server.ctl"], "starting test ovsdb-server")
        return self

    def stop(self) -> None:
        procs.stop(self.pidfile)


def nb_server(folder: str) -> OvsdbServer:
    """An OVN Northbound as a central has it: initialised (its NB_Global row exists)."""
    server = OvsdbServer(folder, SCHEMAS["nb"]).start()
    procs.run(["ovn-nbctl", f"--db={server.remote}", "init"], "initialising the test NB")
    return server


@dataclass
class DriverProcess:
    """`dockovn driver` from this checkout, in its own process, as users run it."""

    plugin_dir: str
    log_path: str
    args: tuple[str, ...]
    proc: subprocess.Popen | None = None
    log_start: int = 0  # the log is appended to: this run's lines start here

    @property
    def socket(self) -> str:
        return os.path.join(self.plugin_dir, "dockovn.sock")

    def start(self) -> "DriverProcess":
        if socket_answers(self.socket):
            raise AssertionError(f"another driver already answers on {self.socket}")
        os.makedirs(self.plugin_dir, exist_ok=True)
        log = open(self.log_path, "ab")
        self.log_start = log.tell()
        # Metrics off unless asked for: drivers of different tests share this machine's
        # loopback, and a test reading the default port must read its own driver's.
        metrics = () if "--metrics-address" in self.args else ("--metrics-address", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockovn", "-v", "driver", "--plugin-dir", self.plugin_dir,
             *metrics, *self.args], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"driver exited {self.proc.returncode}:\n{self.log()}")
            return socket_answers(self.socket)

        wait.until(ready, 30, what=f"driver socket {self.socket}")
        return self

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Until this run of the driver has logged ``text``."""
        def logged() -> bool:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_start)
                return text.encode() in f.read()
        wait.until(logged, timeout, what=f"{self.log_path}: {text!r}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
