"""dockerd for `dockovn up` when none is running, and the busybox test image."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass

import docker

from dockovn.deploy import procs

IMAGE = "dockovn/busybox"
BUSYBOX = "/bin/busybox"  # Debian's busybox-static: one static binary


@dataclass(frozen=True)
class DockerdConfig:
    host: str = "unix:///var/run/docker.sock"
    pidfile: str = "/var/run/docker.pid"
    logfile: str = "/var/log/dockovn/dockerd.log"
    storage_driver: str = "vfs"  # works everywhere, overlay-on-overlay included
    extra_args: tuple[str, ...] = ()


def answers(host: str) -> bool:
    try:
        client = docker.DockerClient(base_url=host, timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def start(cfg: DockerdConfig = DockerdConfig()) -> bool:
    """Start dockerd unless one answers on ``cfg.host``. True if we started it."""
    if answers(cfg.host):
        return False
    if procs.read_pid(cfg.pidfile) and not procs.running(cfg.pidfile, "dockerd"):
        os.unlink(cfg.pidfile)  # stale: dockerd refuses to start over it
    os.makedirs(os.path.dirname(cfg.logfile), exist_ok=True)
    if shutil.which("dockerd") is None:
        raise procs.SetupError("dockerd is not installed (apt-get install docker.io)")
    sock = cfg.host.removeprefix("unix://")
    with open(cfg.logfile, "ab") as log:
        subprocess.Popen(
            ["dockerd", f"--storage-driver={cfg.storage_driver}", f"--pidfile={cfg.pidfile}",
             "-H", cfg.host, *cfg.extra_args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    procs.wait_for(lambda: os.path.exists(sock) and answers(cfg.host), 60,
                   f"dockerd to answer on {cfg.host} (log: {cfg.logfile})", step=0.25)
    return True


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
