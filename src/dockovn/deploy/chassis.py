"""One-time host set-up: point this host's Open vSwitch at OVN and start ovn-controller.

Re-running it changes nothing that is already right (the system-id in
particular is kept: it is the chassis' identity in the Southbound DB).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from dockovn.deploy import openvswitch, procs
from dockovn.deploy.pki import certs
from dockovn.deploy.openvswitch import OvsPaths
from dockovn.host.ovs import LocalSwitch
from dockovn.ovsdb import SslFiles


LOCAL = "local"  # --central local: the central on this machine, through its unix sockets
LOCAL_SOCKETS = {6641: "ovnnb_db.sock", 6642: "ovnsb_db.sock"}


def connection_string(central: str, port: int, scheme: str = "tcp") -> str:
    """``a,b`` -> ``tcp:a:PORT,tcp:b:PORT`` (or ssl:); full connection strings pass through."""
    remotes = []
    for part in (p.strip() for p in central.split(",") if p.strip()):
        if part.startswith(("tcp:", "ssl:", "unix:")):
            remotes.append(part)
        else:
            host = f"[{part}]" if ":" in part else part
            remotes.append(f"{scheme}:{host}:{port}")
    if not remotes:
        raise procs.SetupError("--central needs at least one address")
    return ",".join(remotes)


@dataclass(frozen=True)
class HostConfig:
    central: str = LOCAL
    encap_ip: str = "127.0.0.1"
    encap_type: str = "geneve"
    nb: str | None = None  # full NB connection string; default from --central
    sb: str | None = None
    ovs: OvsPaths = field(default_factory=OvsPaths)
    ovn_rundir: str = "/var/run/ovn"
    ovn_logdir: str = "/var/log/ovn"
    bridge: str = "br-int"
    hostname: str | None = None  # the chassis' name in OVN (default: the machine's)
    ssl: SslFiles | None = None  # talk to central over SSL with these files
    chassis: str | None = None   # the OVS system-id to use (a bundle's certificate CN)
    insecure_tcp: bool = False   # bare --central addresses mean plain TCP
    central_rundir: str = "/var/run/ovn"  # where a local central's sockets are
    # OVN forms tunnels only between chassis sharing a zone (none: the default zone), so
    # hosts with encrypted tunnels and hosts without never exchange a packet.
    transport_zones: str = ""

    @property
    def scheme(self) -> str:
        return "ssl" if self.ssl else "tcp"

    def _remote(self, port: int) -> str:
        if self.central == LOCAL:
            return f"unix:{os.path.join(self.central_rundir, LOCAL_SOCKETS[port])}"
        bare = [p for p in self.central.split(",")
                if p.strip() and not p.strip().startswith(("tcp:", "ssl:", "unix:"))]
        if bare and not self.ssl and not self.insecure_tcp:
            raise procs.SetupError(
                "the central listens on SSL: join it with `dockovn host join TOKEN CENTRAL` "
                "(the token from `dockovn central join-token`), or pass a bundle from "
                "`dockovn central issue-cert HOST` with --bundle (or --central local on the "
                "central's own machine; --insecure-tcp only for a central started with it)")
        return connection_string(self.central, port, self.scheme)

    @property
    def nb_remote(self) -> str:
        return self.nb or self._remote(6641)

    @property
    def sb_remote(self) -> str:
        return self.sb or self._remote(6642)

    @property
    def controller_pidfile(self) -> str:
        return os.path.join(self.ovn_rundir, "ovn-controller.pid")

    @property
    def env(self) -> dict[str, str]:
        # ovn-controller 23.03 rejects --unixctl: OVN_RUNDIR is how its socket moves.
        return {**self.ovs.env, "OVN_RUNDIR": self.ovn_rundir}


@dataclass(frozen=True)
class SetupResult:
    settings: dict[str, str]
    controller_started: bool


def setup(cfg: HostConfig) -> SetupResult:
    """Configure OVS for OVN and start ovn-controller."""
    sb_remote, nb_remote = cfg.sb_remote, cfg.nb_remote  # refuse bad input before any change
    # Over SSL the chassis is named after its certificate: the Southbound's RBAC lets a
    # chassis write only the rows of the chassis its certificate's CN names.
    chassis = cfg.chassis or (certs.certificate_cn(cfg.ssl.cert) if cfg.ssl else None)
    openvswitch.start(cfg.ovs)
    if cfg.ssl:
        # ovn-controller takes its SSL files from OVS's SSL row; so does dockovn's driver.
        procs.run(["ovs-vsctl", f"--db={cfg.ovs.remote}", "set-ssl", cfg.ssl.key, cfg.ssl.cert,
                   cfg.ssl.ca], "configuring SSL", env=cfg.env)
    ovs = LocalSwitch(cfg.ovs.remote, cfg.bridge)
    try:
        current = ovs.host_config()
        datapath = "system" if openvswitch.kernel_datapath_available() else "netdev"
        wanted = {
            # A bundle names the chassis: OVN's RBAC matches it with the certificate.
            "system-id": chassis or current.get("system-id") or str(uuid.uuid4()),
            "ovn-remote": sb_remote,
            "ovn-nb": nb_remote,  # not read by OVN: where dockovn's driver finds NB
            "ovn-encap-ip": cfg.encap_ip,
            "ovn-encap-type": cfg.encap_type,
            "ovn-bridge": cfg.bridge,
            "ovn-bridge-datapath-type": datapath,
            "ovn-transport-zones": cfg.transport_zones,
            # ovn-controller names the chassis after this; dockovn shows it.
            "hostname": (cfg.hostname or chassis or current.get("hostname")
                         or socket.gethostname()),
        }
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            ovs.set_host_config(changed)
    finally:
        ovs.close()
    return SetupResult(wanted, start_controller(cfg))


def start_controller(cfg: HostConfig) -> bool:
    os.makedirs(cfg.ovn_rundir, exist_ok=True)
    os.makedirs(cfg.ovn_logdir, exist_ok=True)
    started = False
    if not procs.running(cfg.controller_pidfile, "ovn-controller"):
        procs.run([
            "ovn-controller", cfg.ovs.remote, "--detach", "--no-chdir",
            f"--pidfile={cfg.controller_pidfile}",
            f"--log-file={os.path.join(cfg.ovn_logdir, 'ovn-controller.log')}",
        ], "starting ovn-controller", env=cfg.env)
        started = True
    # ovn-controller creates the integration bridge; the driver needs it.
    ovs = LocalSwitch(cfg.ovs.remote, cfg.bridge)
    try:
        procs.wait_for(ovs.has_bridge, 20, f"ovn-controller to create {cfg.bridge}")
    finally:
        ovs.close()
    return started


def stop_controller(cfg: HostConfig) -> None:
    procs.stop(cfg.controller_pidfile)


def status(cfg: HostConfig) -> list[procs.Status]:
    return openvswitch.status(cfg.ovs) + [
        procs.Status("ovn-controller", procs.running(cfg.controller_pidfile, "ovn-controller"))]
