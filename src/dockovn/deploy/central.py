"""OVN central: the Northbound and Southbound ovsdb-servers and ovn-northd.

File names match Debian's ovn-ctl, so `ovn-nbctl`/`ovn-sbctl` find the DBs
with no flags and a central started either way is recognised as running.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockovn.deploy import procs

SCHEMAS = {"nb": "/usr/share/ovn/ovn-nb.ovsschema", "sb": "/usr/share/ovn/ovn-sb.ovsschema"}
DB_NAMES = {"nb": "OVN_Northbound", "sb": "OVN_Southbound"}
GLOBAL_TABLES = {"nb": "NB_Global", "sb": "SB_Global"}
CTL = {"nb": "ovn-nbctl", "sb": "ovn-sbctl"}


@dataclass(frozen=True)
class CentralConfig:
    rundir: str = "/var/run/ovn"
    dbdir: str = "/var/lib/ovn"
    logdir: str = "/var/log/ovn"
    nb_addr: str = "127.0.0.1"
    nb_port: int = 6641
    sb_addr: str = "127.0.0.1"
    sb_port: int = 6642
    # With all three, NB and SB listen with SSL only (pssl:), keys made with ovs-pki.
    ssl_key: str | None = None
    ssl_cert: str | None = None
    ssl_ca: str | None = None

    @property
    def ssl(self) -> bool:
        return bool(self.ssl_key and self.ssl_cert and self.ssl_ca)

    def db(self, which: str) -> str:
        return os.path.join(self.dbdir, f"ovn{which}_db.db")

    def sock(self, which: str) -> str:
        return os.path.join(self.rundir, f"ovn{which}_db.sock")

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.rundir, f"{daemon}.pid")

    def listen(self, which: str) -> str:
        addr, port = (self.nb_addr, self.nb_port) if which == "nb" else (self.sb_addr, self.sb_port)
        host = f"[{addr}]" if ":" in addr else addr
        return f"{'pssl' if self.ssl else 'ptcp'}:{port}:{host}"

    @property
    def env(self) -> dict[str, str]:
        return {"OVN_RUNDIR": self.rundir, "OVS_RUNDIR": self.rundir}


def _start_db(cfg: CentralConfig, which: str) -> bool:
    pidfile = cfg.pidfile(f"ovn{which}_db")
    if procs.running(pidfile, "ovsdb-server"):
        return False
    procs.ensure_db(cfg.db(which), SCHEMAS[which], f"OVN {which.upper()}")
    procs.run([
        "ovsdb-server", cfg.db(which), "--detach", "--no-chdir",
        f"--pidfile={pidfile}",
        f"--log-file={os.path.join(cfg.logdir, f'ovsdb-server-{which}.log')}",
        f"--remote=punix:{cfg.sock(which)}",
        # Listening addresses live in the DB (NB_Global/SB_Global connections),
        # as with ovn-ctl, so set-connection keeps working.
        f"--remote=db:{DB_NAMES[which]},{GLOBAL_TABLES[which]},connections",
        f"--unixctl={os.path.join(cfg.rundir, f'ovn{which}_db.ctl')}",
        *([f"--private-key={cfg.ssl_key}", f"--certificate={cfg.ssl_cert}",
           f"--ca-cert={cfg.ssl_ca}"] if cfg.ssl else []),
    ], f"starting the OVN {which.upper()} database", env=cfg.env)
    return True


def _configure_db(cfg: CentralConfig, which: str) -> None:
    db = f"--db=unix:{cfg.sock(which)}"
    procs.run([CTL[which], db, "init"], f"initialising OVN {which.upper()}", env=cfg.env)
    procs.run([CTL[which], db, "set-connection", cfg.listen(which)],
              f"making OVN {which.upper()} listen on {cfg.listen(which)}", env=cfg.env)


def start(cfg: CentralConfig = CentralConfig()) -> bool:
    """Start what is not running and (re)apply the listening addresses. True if anything started."""
    for d in (cfg.rundir, cfg.logdir, cfg.dbdir):
        os.makedirs(d, exist_ok=True)
    started = _start_db(cfg, "nb")
    started = _start_db(cfg, "sb") or started
    for which in ("nb", "sb"):
        _configure_db(cfg, which)
    if not procs.running(cfg.pidfile("ovn-northd"), "ovn-northd"):
        procs.run([
            "ovn-northd", "--detach", "--no-chdir",
            f"--pidfile={cfg.pidfile('ovn-northd')}",
            f"--log-file={os.path.join(cfg.logdir, 'ovn-northd.log')}",
            f"--ovnnb-db=unix:{cfg.sock('nb')}", f"--ovnsb-db=unix:{cfg.sock('sb')}",
        ], "starting ovn-northd", env=cfg.env)
        started = True
    return started


def stop(cfg: CentralConfig = CentralConfig()) -> None:
    procs.stop(cfg.pidfile("ovn-northd"))
    procs.stop(cfg.pidfile("ovnsb_db"))
    procs.stop(cfg.pidfile("ovnnb_db"))


def status(cfg: CentralConfig = CentralConfig()) -> list[procs.Status]:
    return [
        procs.Status("OVN Northbound DB", procs.running(cfg.pidfile("ovnnb_db"), "ovsdb-server"),
                     cfg.listen("nb")),
        procs.Status("OVN Southbound DB", procs.running(cfg.pidfile("ovnsb_db"), "ovsdb-server"),
                     cfg.listen("sb")),
        procs.Status("ovn-northd", procs.running(cfg.pidfile("ovn-northd"), "ovn-northd")),
    ]
