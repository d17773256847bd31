"""Starting and stopping a host's peer sync (``peers.PeerSync``) as a daemon of its own,
beside ovn-controller: `dockovn host wireguard-peers`, started by `host join`."""

from __future__ import annotations

import os
import subprocess
import sys

from dockovn.deploy import procs
from dockovn.deploy.encryption.datapath import Endpoint
from dockovn.ovsdb import SslFiles


def pidfile(ep: Endpoint) -> str:
    return os.path.join(ep.rundir, "dockovn-wireguard.pid")


def args(ep: Endpoint, sb_remote: str, ssl: SslFiles, chassis: str, underlay: str) -> list[str]:
    return ["--sb", sb_remote, "--ssl-key", ssl.key, "--ssl-cert", ssl.cert, "--ssl-ca", ssl.ca,
            "--chassis", chassis, "--underlay", underlay, "--address", ep.address,
            "--network", ep.network, "--namespace", ep.namespace, "--rundir", ep.rundir,
            "--pidfile", pidfile(ep)]


def start(ep: Endpoint, sb_remote: str, ssl: SslFiles, chassis: str, underlay: str) -> bool:
    """Started, or restarted when its arguments changed; True if started now."""
    wanted = args(ep, sb_remote, ssl, chassis, underlay)
    pid = procs.running(pidfile(ep))
    if pid and procs.argv_of(pid)[-len(wanted):] == wanted:
        return False
    procs.stop(pidfile(ep))
    log_path = os.path.join(ep.rundir, "dockovn-wireguard.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dockovn", "host", "wireguard-peers",
                                 *wanted], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)

    def ready() -> bool:
        if proc.poll() is not None:
            raise procs.SetupError(f"the WireGuard peer sync exited ({proc.returncode}); see "
                                   f"{log_path}")
        return procs.running(pidfile(ep)) is not None

    procs.wait_for(ready, 30, "the WireGuard peer sync")
    return True


def stop(ep: Endpoint) -> None:
    procs.stop(pidfile(ep))
