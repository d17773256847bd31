"""Run `dockovn driver` in the background for `dockovn up`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from dockovn.deploy import procs


@dataclass(frozen=True)
class DriverDaemonConfig:
    pidfile: str = "/var/run/dockovn/driver.pid"
    logfile: str = "/var/log/dockovn/driver.log"
    socket: str = "/run/docker/plugins/dockovn.sock"
    args: tuple[str, ...] = ()  # extra `dockovn driver` options


def socket_answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start(cfg: DriverDaemonConfig = DriverDaemonConfig()) -> bool:
    if socket_answers(cfg.socket):
        if procs.running(cfg.pidfile):
            return False
        raise procs.SetupError(f"a driver not started by dockovn answers on {cfg.socket}; "
                               "stop it first")
    for path in (cfg.pidfile, cfg.logfile):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(cfg.logfile, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockovn", "driver", "--pidfile", cfg.pidfile, *cfg.args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)

    def ready() -> bool:
        if proc.poll() is not None:
            raise procs.SetupError(f"the driver exited with {proc.returncode}; see {cfg.logfile}")
        return socket_answers(cfg.socket)

    procs.wait_for(ready, 30, f"the driver's socket {cfg.socket}")
    return True


def stop(cfg: DriverDaemonConfig = DriverDaemonConfig()) -> bool:
    return procs.stop(cfg.pidfile)
