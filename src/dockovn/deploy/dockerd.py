"""dockerd for `dockovn up` when none is running, and the busybox test image."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from typing import Callable

import docker

from dockovn.deploy import procs

LOG = logging.getLogger(__name__)

IMAGE = "dockovn/busybox"
BUSYBOX = "/bin/busybox"  # Debian's busybox-static: one static binary


@dataclass(frozen=True)
class DockerdConfig:
    host: str = "unix:///var/run/docker.sock"
    pidfile: str = "/var/run/docker.pid"
    logfile: str = "/var/log/dockovn/dockerd.log"
    storage_driver: str = "vfs"  # works everywhere, overlay-on-overlay included
    extra_args: tuple[str, ...] = ()
    start_timeout: float = 60.0  # for the new dockerd to answer
    # For a dockerd still shutting down: it first gives running containers up to its
    # --shutdown-timeout (15 s) to stop, and its pidfile makes a second one refuse to start.
    stop_wait: float = 60.0


def answers(host: str) -> bool:
    try:
        client = docker.DockerClient(base_url=host, timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def start(cfg: DockerdConfig = DockerdConfig(), say: Callable[[str], None] = LOG.info) -> bool:
    """Start dockerd unless one answers on ``cfg.host``. True if we started it.

    A dockerd that runs but does not answer is shutting down (or still starting):
    wait for it to exit (or answer) first, since a second one would refuse to start
    over its pidfile. A dockerd that exits before answering fails this at once, with
    its own last words from the log.
    """
    if answers(cfg.host):
        return False
    if _wait_for_previous(cfg, say):
        return False  # it was starting, not stopping, and answers now
    if procs.read_pid(cfg.pidfile) and not procs.running(cfg.pidfile, "dockerd"):
        os.unlink(cfg.pidfile)  # stale: dockerd refuses to start over it
    os.makedirs(os.path.dirname(cfg.logfile), exist_ok=True)
    if shutil.which("dockerd") is None:
        raise procs.SetupError("dockerd is not installed (apt-get install docker.io)")
    with open(cfg.logfile, "ab") as log:
        log_start = log.tell()  # the log is appended to: this run's lines start here
        proc = subprocess.Popen(
            ["dockerd", f"--storage-driver={cfg.storage_driver}", f"--pidfile={cfg.pidfile}",
             "-H", cfg.host, *cfg.extra_args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    _wait_answering(proc, cfg, log_start)
    return True


def _wait_for_previous(cfg: DockerdConfig, say: Callable[[str], None]) -> bool:
    """Wait while a dockerd of ours runs without answering. True if it came to answer."""
    pid = procs.running(cfg.pidfile, "dockerd") or _unanswering_dockerd(cfg.pidfile)
    if pid is None:
        return False
    say(f"dockerd (pid {pid}) is running but does not answer on {cfg.host} (shutting down?): "
        f"waiting up to {cfg.stop_wait:g}s for it to exit")
    deadline = time.monotonic() + cfg.stop_wait
    while procs.alive(pid):
        if answers(cfg.host):
            return True
        if time.monotonic() > deadline:
            raise procs.SetupError(
                f"dockerd (pid {pid}) neither answers on {cfg.host} nor exits after "
                f"{cfg.stop_wait:g}s; stop it (kill {pid}) and run this again")
        time.sleep(0.25)
    return False


def _unanswering_dockerd(pidfile: str) -> int | None:
    """A dockerd whose pidfile is ours although the file is gone (removed by a stop
    that gave up waiting, say): it still holds the data root and would make ours fail."""
    ours = os.path.realpath(pidfile)
    for pid, argv in procs.processes_named("dockerd"):
        if os.path.realpath(procs.pidfile_arg(argv) or DockerdConfig.pidfile) == ours:
            return pid
    return None


def _wait_answering(proc: subprocess.Popen, cfg: DockerdConfig, log_start: int) -> None:
    sock = cfg.host.removeprefix("unix://")
    deadline = time.monotonic() + cfg.start_timeout
    while not (os.path.exists(sock) and answers(cfg.host)):
        if proc.poll() is not None:
            raise procs.SetupError(
                f"dockerd exited (status {proc.returncode}) before answering on {cfg.host}: "
                f"{_log_tail(cfg.logfile, log_start)} (log: {cfg.logfile})")
        if time.monotonic() > deadline:
            raise procs.SetupError(
                f"timed out after {cfg.start_timeout:g}s waiting for dockerd to answer on "
                f"{cfg.host}; its log ends: {_log_tail(cfg.logfile, log_start)} "
                f"(log: {cfg.logfile})")
        time.sleep(0.25)


def _log_tail(logfile: str, offset: int, lines: int = 5) -> str:
    """The last lines this run of dockerd wrote (where it says why it failed)."""
    try:
        with open(logfile, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(nothing in its log)"


def stop(cfg: DockerdConfig = DockerdConfig()) -> None:
    procs.stop(cfg.pidfile, timeout=20)


def busybox_rootfs_tar() -> bytes:
    """A root file system with static busybox and its applet links, as a tar."""
    if not os.path.exists(BUSYBOX):
        raise procs.SetupError(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    applets = procs.run([BUSYBOX, "--list"], "listing busybox applets").split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return buf.getvalue()


def ensure_image(host: str, image: str = IMAGE) -> bool:
    """Import the busybox test image if Docker lacks it (no registry needed). True if imported."""
    client = docker.DockerClient(base_url=host, timeout=120)
    try:
        try:
            client.images.get(image)
            return False
        except docker.errors.ImageNotFound:
            pass
        repo, _, tag = image.partition(":")
        client.api.import_image_from_data(busybox_rootfs_tar(), repository=repo, tag=tag or "latest",
                                          changes=['CMD ["/bin/sh"]'])
        return True
    finally:
        client.close()
