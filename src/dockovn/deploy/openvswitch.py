"""Start and stop an Open vSwitch (ovsdb-server + ovs-vswitchd) with explicit folders.

The defaults are Debian's, so a system OVS started by ovs-ctl is found and
left alone; other folders give each simulated host its own switch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockovn.deploy import procs

VSWITCH_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


@dataclass(frozen=True)
class OvsPaths:
    rundir: str = "/var/run/openvswitch"
    dbdir: str = "/etc/openvswitch"
    logdir: str = "/var/log/openvswitch"

    @property
    def db(self) -> str:
        return os.path.join(self.dbdir, "conf.db")

    @property
    def sock(self) -> str:
        return os.path.join(self.rundir, "db.sock")

    @property
    def remote(self) -> str:
        return f"unix:{self.sock}"

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.rundir, f"{daemon}.pid")

    @property
    def env(self) -> dict[str, str]:
        return {"OVS_RUNDIR": self.rundir, "OVS_DBDIR": self.dbdir, "OVS_LOGDIR": self.logdir}


def status(paths: OvsPaths) -> list[procs.Status]:
    return [procs.Status(d, procs.running(paths.pidfile(d), d))
            for d in ("ovsdb-server", "ovs-vswitchd")]


def start(paths: OvsPaths = OvsPaths()) -> bool:
    """Start whatever of OVS is not running. True if something was started."""
    for d in (paths.rundir, paths.logdir):
        os.makedirs(d, exist_ok=True)
    started = False
    if not procs.running(paths.pidfile("ovsdb-server"), "ovsdb-server"):
        procs.ensure_db(paths.db, VSWITCH_SCHEMA, "Open vSwitch")
        procs.run([
            "ovsdb-server", paths.db, f"--remote=punix:{paths.sock}",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            f"--pidfile={paths.pidfile('ovsdb-server')}", "--detach", "--no-chdir",
            f"--log-file={os.path.join(paths.logdir, 'ovsdb-server.log')}",
            f"--unixctl={os.path.join(paths.rundir, 'ovsdb-server.ctl')}",
        ], "starting ovsdb-server", env=paths.env)
        procs.run(["ovs-vsctl", f"--db={paths.remote}", "--no-wait", "init"],
                  "initialising the Open vSwitch database", env=paths.env)
        started = True
    if not procs.running(paths.pidfile("ovs-vswitchd"), "ovs-vswitchd"):
        procs.run([
            "ovs-vswitchd", paths.remote,
            f"--pidfile={paths.pidfile('ovs-vswitchd')}", "--detach", "--no-chdir",
            f"--log-file={os.path.join(paths.logdir, 'ovs-vswitchd.log')}",
            f"--unixctl={os.path.join(paths.rundir, 'ovs-vswitchd.ctl')}",
        ], "starting ovs-vswitchd", env=paths.env)
        started = True
    return started


def stop(paths: OvsPaths = OvsPaths()) -> None:
    procs.stop(paths.pidfile("ovs-vswitchd"))
    procs.stop(paths.pidfile("ovsdb-server"))


def kernel_datapath_available() -> bool:
    """True where the openvswitch kernel module is loaded or can be loaded."""
    if not os.path.isdir("/sys/module/openvswitch"):
        try:
            procs.run(["modprobe", "-q", "openvswitch"], "loading openvswitch", timeout=10)
        except procs.SetupError:
            return False
    return os.path.isdir("/sys/module/openvswitch")
