"""Build dockovn as a Docker managed (v2) plugin: a folder with config.json and rootfs/,
ready for `docker plugin create`. No registry and no base image: the root file system
is this machine's own Debian Python (the python3.X the venv runs: 3.11 on Debian 12, 3.13 on
Debian 13, and its standard library), dockovn and
its Python dependencies installed from this checkout, and exactly the shared libraries
`ldd` says those need.

    python packaging/managed-plugin/build.py [--out build/plugin-py3.X] [--create NAME] [--docker-host H]

The folder is rebuilt only when its inputs changed (this checkout's sources, pyproject,
config template, this script, the Python): a stamp in the folder records them.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# Debian's Python of the same X.Y as the one running this (the venv's): its ABI matches
# the wheels pip picks for the venv (cp311 on Debian 12, cp313 on Debian 13).
PY_XY = "%d.%d" % sys.version_info[:2]
PYTHON = f"/usr/bin/python{PY_XY}"
STDLIB = f"/usr/lib/python{PY_XY}"
# One folder per Python: a checkout used on Debian 12 and 13 (tests/debian13) keeps both.
DEFAULT_OUT = os.path.join(ROOT, "build", f"plugin-py{PY_XY}")
SITE = "/opt/dockovn/lib"        # dockovn and its dependencies, inside the rootfs
# Not needed to run the driver, and a third of the standard library's size.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip",
               "dist-packages", "site-packages", "pydoc_data", f"config-{PY_XY}-x86_64-linux-gnu"}


FIREWALL_TOOLS = [f"{f}{t}" for f in ("iptables", "ip6tables") for t in ("", "-save", "-restore")]
APPCTL = "/usr/bin/ovs-appctl"
XTABLES = "/usr/lib/x86_64-linux-gnu/xtables"  # iptables' extensions (-m conntrack, MASQUERADE)


def inputs_digest() -> str:
    h = hashlib.sha256()
    files = [os.path.join(ROOT, "pyproject.toml"), os.path.join(HERE, "config.json"),
             os.path.abspath(__file__)]
    files += sorted(glob.glob(os.path.join(ROOT, "src", "dockovn", "**", "*.py"), recursive=True))
    for path in files:
        h.update(os.path.relpath(path, ROOT).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(subprocess.run([PYTHON, "--version"], capture_output=True, text=True).stdout.encode())
    return h.hexdigest()


def _copy(src: str, rootfs: str) -> None:
    """Copy a file to the same path in rootfs, following the symlink chain (libfoo.so.1 ->
    libfoo.so.1.2.3: both names exist in the rootfs)."""
    dest = os.path.join(rootfs, src.lstrip("/"))
    if os.path.lexists(dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.islink(src):
        target = os.readlink(src)
        os.symlink(target, dest)
        _copy(os.path.normpath(os.path.join(os.path.dirname(src), target)), rootfs)
    else:
        shutil.copy2(src, dest)


def shared_libraries(paths: list[str]) -> set[str]:
    libs = set()
    for path in paths:
        done = subprocess.run(["ldd", path], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                libs.add(parts[2])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])  # the dynamic loader
    return libs


def build_rootfs(rootfs: str) -> None:
    os.makedirs(rootfs)
    _copy(PYTHON, rootfs)
    shutil.copytree(STDLIB, os.path.join(rootfs, STDLIB.lstrip("/")), symlinks=True,
                    ignore=lambda d, names: [n for n in names if d == STDLIB and n in STDLIB_SKIP])
    # dockovn itself (not editable: a copy of this checkout) and its runtime dependencies.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile",
                    "--target", os.path.join(rootfs, SITE.lstrip("/")), ROOT], check=True)
    # iptables (the host's flavour, nft or legacy, through Debian's alternatives): the
    # driver's gateway ports NAT and publish through the host's firewall.
    for tool in FIREWALL_TOOLS:
        _copy(os.path.join("/usr/sbin", tool), rootfs)
    shutil.copytree(XTABLES, os.path.join(rootfs, XTABLES.lstrip("/")), symlinks=True)
    # ovs-appctl: the metrics ask OVS's and OVN's daemons for their counters with it.
    _copy(APPCTL, rootfs)
    objects = [PYTHON, APPCTL] + glob.glob(os.path.join(rootfs, "**", "*.so*"), recursive=True)
    objects += [os.path.realpath(os.path.join("/usr/sbin", t)) for t in FIREWALL_TOOLS]
    for lib in sorted(shared_libraries(objects)):
        _copy(lib, rootfs)
    # Mount points (config.json's mounts, and what runc mounts itself).
    for d in ("tmp", "run/openvswitch", "run/ovn", "host/run", "proc", "sys", "dev",
              "etc/dockovn", "var"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.symlink("../run", os.path.join(rootfs, "var", "run"))  # paths OVS records use /var/run
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)


def size_mb(path: str) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total / 1e6


def build(out: str) -> bool:
    """Build ``out`` (config.json + rootfs/) unless it is up to date; True if built."""
    digest = inputs_digest()
    stamp = os.path.join(out, ".inputs")
    if os.path.exists(stamp) and open(stamp).read() == digest:
        return False
    shutil.rmtree(out, ignore_errors=True)
    build_rootfs(os.path.join(out, "rootfs"))
    with open(os.path.join(HERE, "config.json")) as f:
        config = json.load(f)
    config["entrypoint"][0] = PYTHON  # the template names Debian 12's
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(stamp, "w") as f:
        f.write(digest)
    return True


def create(out: str, name: str, docker_host: str) -> None:
    """`docker plugin create NAME out`, replacing a disabled plugin of that name."""
    import docker
    client = docker.DockerClient(base_url=docker_host, timeout=300)
    try:
        try:
            existing = client.plugins.get(name)
            if existing.enabled:
                raise SystemExit(f"plugin {name} is enabled: `docker plugin disable {name}` first "
                                 "(with no network using it), then build again")
            existing.remove()
        except docker.errors.NotFound:
            pass
        client.api.create_plugin(name, out)
        # Every mount's source must exist when the plugin is enabled; this one holds the
        # certificate bundle `dockovn host setup --bundle` installs (none with `dockovn up`).
        os.makedirs("/etc/dockovn", exist_ok=True)
    finally:
        client.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--create", metavar="NAME", help="then `docker plugin create NAME` it")
    p.add_argument("--docker-host", default=os.environ.get("DOCKER_HOST",
                                                           "unix:///var/run/docker.sock"))
    args = p.parse_args(argv)
    built = build(args.out)
    print(f"{'built' if built else 'up to date'}: {args.out} "
          f"(rootfs {size_mb(os.path.join(args.out, 'rootfs')):.0f} MB)")
    if args.create:
        from dockovn.deploy.dockerd import answers
        if not answers(args.docker_host):
            print(f"no dockerd answers on {args.docker_host}: start it, then\n"
                  f"  docker plugin create {args.create} {args.out}")
            return 1
        create(args.out, args.create, args.docker_host)
        print(f"created plugin {args.create}; set it up and enable it:\n"
              f"  docker plugin set {args.create} DOCKOVN_NB=ssl:CENTRAL:6641   # if needed\n"
              f"  docker plugin enable {args.create}\n"
              f"  docker network create -d {args.create.split(':')[0]} --subnet 10.1.0.0/24 foo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
