"""OVN central: the Northbound and Southbound ovsdb-servers and ovn-northd.

File names match Debian's ovn-ctl, so `ovn-nbctl`/`ovn-sbctl` find the DBs
with no flags and a central started either way is recognised as running.

Secure by default: NB and SB listen with SSL only (``pssl:``) with the central's
certificate (``deploy/pki``, made on first start), and accept only the hosts in the
central's trust list (and the central itself). The SB listener carries
``role=ovn-controller``: a chassis may change only its own rows. ovn-northd and
local tools use the unix sockets. Plain TCP only with ``insecure_tcp``. Beside them
runs the identity service: it keeps the trust list's file current and lets hosts
join (``deploy/pki/service.py``).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

import sys

from dockovn.deploy import procs, raft, relay
from dockovn.deploy.pki import authority, join, trusted_hosts
from dockovn.ovsdb import SslFiles

SCHEMAS = {"nb": "/usr/share/ovn/ovn-nb.ovsschema", "sb": "/usr/share/ovn/ovn-sb.ovsschema"}
DB_NAMES = raft.DB_NAMES
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
    # The servers' own key, certificate and CA; default: the central's CA in pki_dir.
    ssl_key: str | None = None
    ssl_cert: str | None = None
    ssl_ca: str | None = None
    pki_dir: str | None = None          # default: <dbdir>/pki
    insecure_tcp: bool = False          # plain TCP, no authentication: only when asked for
    # Raft: this member's address for the cluster (and a member to join through, when
    # the cluster exists already); election timer in ms, set when the cluster is made.
    cluster_local: str | None = None
    cluster_join: str | None = None
    election_timer: int | None = None
    # Where hosts reach the central (a,b,c for several members): what joins answer.
    address: str | None = None
    join_port: int = join.PORT
    # A certificate from before identities were separate is renewed instead of refused:
    # for the one-machine central (`dockovn up`), whose only host uses the unix sockets.
    renew_legacy: bool = False
    # Hosts' tunnels inside WireGuard, their addresses from this network (deploy/encryption)
    encrypt_tunnels: bool = False
    encap_network: str = "10.254.0.0/16"

    @property
    def clustered(self) -> bool:
        return bool(self.cluster_local)

    @property
    def ssl(self) -> bool:
        return not self.insecure_tcp

    @property
    def relayed(self) -> bool:
        """Hosts reach a clustered central through relays (``deploy/relay.py``) when the
        central keeps its own identities: members then trust only the central's CA."""
        return self.clustered and self.ssl and self.own_pki

    def member_port(self, which: str) -> int:
        """A member's client port for the other members' northd and the relays."""
        return (self.nb_port if which == "nb" else self.sb_port) + relay.MEMBER_PORT_OFFSET

    @property
    def pki(self) -> str:
        return self.pki_dir or os.path.join(self.dbdir, "pki")

    @property
    def own_pki(self) -> bool:
        """True unless the operator brought the servers' SSL files (--ssl-*)."""
        return not any((self.ssl_key, self.ssl_cert, self.ssl_ca))

    def ssl_files(self) -> SslFiles:
        """The servers' SSL files: the ones given, else the central's certificate with the
        trusted hosts' file as what clients are checked against (made if missing)."""
        given = [f for f in (self.ssl_key, self.ssl_cert, self.ssl_ca) if f]
        if given and len(given) != 3:
            raise procs.SetupError("--ssl-key, --ssl-cert and --ssl-ca go together")
        if given:
            return SslFiles(self.ssl_key, self.ssl_cert, self.ssl_ca)
        files = authority.central_files(
            self.pki, renew=self.renew_legacy and authority.legacy(self.pki))
        return SslFiles(files.key, files.cert, trusted_hosts.ensure(self.pki))

    def member_ssl_files(self) -> SslFiles:
        """A relayed member's: the central's certificate, and only the central's CA."""
        files = self.ssl_files()
        return SslFiles(files.key, files.cert, authority.ca_cert(self.pki)) \
            if self.relayed else files

    def insecure_warning(self) -> str | None:
        """What to tell the user when plain TCP listens beyond loopback."""
        if not self.insecure_tcp:
            return None
        exposed = [a for a in {self.nb_addr, self.sb_addr} if not _loopback(a)]
        if not exposed:
            return None
        return (f"NB/SB listen on plain TCP on {', '.join(sorted(exposed))} without "
                "authentication: anyone who reaches it (containers included) can rewrite "
                "OVN's state. Drop --insecure-tcp to use SSL.")

    def db(self, which: str) -> str:
        return os.path.join(self.dbdir, f"ovn{which}_db.db")

    def sock(self, which: str) -> str:
        return os.path.join(self.rundir, f"ovn{which}_db.sock")

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.rundir, f"{daemon}.pid")

    def listen(self, which: str) -> str:
        addr, port = (self.nb_addr, self.nb_port) if which == "nb" else (self.sb_addr, self.sb_port)
        scheme = "pssl" if self.ssl else "ptcp"
        if self.clustered:
            # The listener is a row of the replicated DB: one target for every member.
            return f"{scheme}:{port}"
        host = f"[{addr}]" if ":" in addr else addr
        return f"{scheme}:{port}:{host}"

    @property
    def northd_ctl(self) -> str:
        return os.path.join(self.rundir, "ovn-northd.ctl")

    def ctl(self, which: str) -> str:
        return os.path.join(self.rundir, f"ovn{which}_db.ctl")

    @property
    def env(self) -> dict[str, str]:
        return {"OVN_RUNDIR": self.rundir, "OVS_RUNDIR": self.rundir}


def _loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


def _start_db(cfg: CentralConfig, which: str, ssl: SslFiles | None) -> bool:
    pidfile = cfg.pidfile(f"ovn{which}_db")
    if procs.running(pidfile, "ovsdb-server"):
        return False
    if cfg.clustered:
        raft.ensure_db(cfg.db(which), SCHEMAS[which], which, "ssl" if ssl else "tcp",
                       cfg.cluster_local, cfg.cluster_join, cfg.election_timer)
    else:
        procs.ensure_db(cfg.db(which), SCHEMAS[which], f"OVN {which.upper()}")
    procs.run([
        "ovsdb-server", cfg.db(which), "--detach", "--no-chdir",
        f"--pidfile={pidfile}",
        f"--log-file={os.path.join(cfg.logdir, f'ovsdb-server-{which}.log')}",
        f"--remote=punix:{cfg.sock(which)}",
        # Listening addresses live in the DB (NB_Global/SB_Global connections),
        # as with ovn-ctl, so set-connection keeps working; behind relays, those are
        # the relays' and a member listens for the other members only.
        f"--remote=pssl:{cfg.member_port(which)}:{_bracket(cfg.cluster_local)}" if cfg.relayed
        else f"--remote=db:{DB_NAMES[which]},{GLOBAL_TABLES[which]},connections",
        f"--unixctl={cfg.ctl(which)}",
        # The central's own files, on the command line: a member joining a cluster has
        # to speak SSL to the others before its copy of the DB holds anything.
        *([f"--private-key={ssl.key}", f"--certificate={ssl.cert}", f"--ca-cert={ssl.ca}"]
          if ssl else []),
    ], f"starting the OVN {which.upper()} database", env=cfg.env)
    return True


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _configure_db(cfg: CentralConfig, which: str, ssl: SslFiles | None) -> None:
    # Through this member's socket; a follower passes the writes on to the leader.
    db = [f"--db=unix:{cfg.sock(which)}", "--no-leader-only", "--timeout=30"]
    procs.run([CTL[which], *db, "init"], f"initialising OVN {which.upper()}", env=cfg.env)
    # SB clients over the network are chassis: OVN's RBAC lets each change only its own
    # rows (the certificate's CN must be the chassis name).
    role = ["role=ovn-controller"] if which == "sb" and ssl else []
    procs.run([CTL[which], *db, "set-connection", *role, cfg.listen(which)],
              f"making OVN {which.upper()} listen on {cfg.listen(which)}", env=cfg.env)


LOCAL = CentralConfig(renew_legacy=True)  # the one-machine central: `dockovn up`


def start(cfg: CentralConfig = CentralConfig()) -> bool:
    """Start what is not running and (re)apply the listening addresses. True if anything started."""
    for d in (cfg.rundir, cfg.logdir, cfg.dbdir):
        os.makedirs(d, exist_ok=True)
    ssl = cfg.member_ssl_files() if cfg.ssl else None
    # A member of an existing cluster (joining, or started again) finds NB_Global and
    # SB_Global, listeners included, in the replicated databases: only the member that
    # creates the cluster writes them (a restarted member may still be catching up).
    configure = not cfg.clustered or not (
        cfg.cluster_join or all(os.path.exists(cfg.db(w)) for w in ("nb", "sb")))
    started = _start_db(cfg, "nb", ssl)
    started = _start_db(cfg, "sb", ssl) or started
    if configure:
        for which in ("nb", "sb"):
            _configure_db(cfg, which, ssl)
    nb_db = _northd_nb(cfg, ssl)
    remotes_file = os.path.join(cfg.rundir, "ovn-northd.nb-remotes")
    if procs.running(cfg.pidfile("ovn-northd"), "ovn-northd") \
            and procs.read_file(remotes_file) != nb_db:
        procs.stop(cfg.pidfile("ovn-northd"))  # members came or went: follow them
    if not procs.running(cfg.pidfile("ovn-northd"), "ovn-northd"):
        procs.run([
            "ovn-northd", "--detach", "--no-chdir",
            f"--pidfile={cfg.pidfile('ovn-northd')}",
            f"--log-file={os.path.join(cfg.logdir, 'ovn-northd.log')}",
            f"--unixctl={cfg.northd_ctl}",
            f"--ovnnb-db={nb_db}", f"--ovnsb-db=unix:{cfg.sock('sb')}",
            *([f"--private-key={ssl.key}", f"--certificate={ssl.cert}", f"--ca-cert={ssl.ca}"]
              if ssl and cfg.clustered else []),
        ], "starting ovn-northd", env=cfg.env)
        with open(remotes_file, "w") as f:
            f.write(nb_db)
        started = True
    if cfg.relayed:
        for which in ("nb", "sb"):
            started = relay.start(cfg.rundir, cfg.logdir, which, _members(cfg, which, "ssl"),
                                  cfg.ssl_files(), cfg.env) or started
    if ssl and cfg.own_pki:
        started = _start_identities(cfg) or started
    return started


def _identities_pidfile(cfg: CentralConfig) -> str:
    return cfg.pidfile("dockovn-identities")


def identities_args(cfg: CentralConfig) -> list[str]:
    """`dockovn central identity-service` for this central (its own process)."""
    nb, sb = ("", "")
    if cfg.address or not {cfg.nb_addr, cfg.sb_addr} & {"0.0.0.0", "::"}:
        nb, sb = client_remotes(cfg, cfg.address)
    listen = cfg.nb_addr if cfg.nb_addr not in ("0.0.0.0", "::") else ""
    # The servers that check hosts' certificates: re-read the file, drop revoked sessions.
    ctls = [relay.ctl(cfg.rundir, w) if cfg.relayed else cfg.ctl(w) for w in ("nb", "sb")]
    return ["--pki-dir", cfg.pki, "--sb", f"unix:{cfg.sock('sb')}",
            "--ctl", ctls[0], "--ctl", ctls[1],
            "--listen", f"[{listen}]:{cfg.join_port}" if ":" in listen
            else f"{listen}:{cfg.join_port}",
            "--nb-remote", nb, "--sb-remote", sb, "--pidfile", _identities_pidfile(cfg),
            *(["--encrypt-network", cfg.encap_network] if cfg.encrypt_tunnels else [])]


def _start_identities(cfg: CentralConfig) -> bool:
    pidfile = _identities_pidfile(cfg)
    args = identities_args(cfg)
    pid = procs.running(pidfile)
    if pid and procs.argv_of(pid)[-len(args):] == args:
        return False
    procs.stop(pidfile)  # none, or started with other settings
    log_path = os.path.join(cfg.logdir, "dockovn-identities.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dockovn", "central", "identity-service",
                                 *args],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)

    def ready() -> bool:
        if proc.poll() is not None:
            raise procs.SetupError(f"the identity service exited with {proc.returncode}; "
                                   f"see {log_path}")
        return procs.running(pidfile) is not None

    procs.wait_for(ready, 30, "the central's identity service")
    return True


def _northd_nb(cfg: CentralConfig, ssl: SslFiles | None) -> str:
    """Where ovn-northd finds NB. ovn-northd talks to the leader only: on one member it
    would idle whenever the NB leader is elsewhere, so a member's northd gets every NB
    member (SB stays its local socket: only the northd beside the SB leader becomes active,
    and SB's role-based access keeps applying to everyone else)."""
    if not cfg.clustered:
        return f"unix:{cfg.sock('nb')}"
    return _members(cfg, "nb", "ssl" if ssl else "tcp")


def _members(cfg: CentralConfig, which: str, scheme: str) -> str:
    """Every member's client address for ``which`` (its member port behind relays)."""
    procs.wait_for(lambda: raft.status(cfg.ctl(which), which).status == "cluster member", 60,
                   f"this member to be in the {which.upper()} cluster")
    port = cfg.member_port(which) if cfg.relayed else \
        (cfg.nb_port if which == "nb" else cfg.sb_port)
    members = [srv.split(" at ", 1)[1].removesuffix(" (self)")
               for srv in raft.status(cfg.ctl(which), which).servers]
    return ",".join(f"{scheme}:{m.split(':', 1)[1].rsplit(':', 1)[0]}:{port}"
                    for m in sorted(members))


def client_remotes(cfg: CentralConfig, address: str | None = None) -> tuple[str, str]:
    """(NB, SB) connection strings for hosts: ``address`` (a,b,c for several) or the
    listening addresses, which must then be ones a host can reach."""
    scheme = "ssl" if cfg.ssl else "tcp"

    def remotes(addrs: str, port: int) -> str:
        parts = [a.strip() for a in addrs.split(",") if a.strip()]
        for a in parts:
            if a in ("0.0.0.0", "::"):
                raise procs.SetupError(f"the central listens on {a}: say with --address "
                                       "which address hosts reach it at")
        if not parts:
            raise procs.SetupError("--address needs at least one address")
        return ",".join(f"{scheme}:[{a}]:{port}" if ":" in a else f"{scheme}:{a}:{port}"
                        for a in parts)

    return (remotes(address or cfg.nb_addr, cfg.nb_port),
            remotes(address or cfg.sb_addr, cfg.sb_port))


def stop(cfg: CentralConfig = CentralConfig()) -> None:
    procs.stop(_identities_pidfile(cfg))
    relay.stop(cfg.rundir)
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
        *(relay.status(cfg.rundir) if cfg.relayed else []),
        *([procs.Status("identity service", procs.running(_identities_pidfile(cfg)),
                        f"joins on port {cfg.join_port}")] if cfg.ssl and cfg.own_pki else []),
    ]


def cluster_status(cfg: CentralConfig) -> tuple[list[raft.ClusterStatus], str]:
    """This member's view of the NB and SB clusters, and its ovn-northd's state
    ("active", "standby"); empty for a central that is not clustered."""
    found = []
    for which in ("nb", "sb"):
        if os.path.exists(cfg.db(which)) and raft.is_clustered(cfg.db(which)) and \
                procs.running(cfg.pidfile(f"ovn{which}_db"), "ovsdb-server"):
            found.append(raft.status(cfg.ctl(which), which))
    northd = "stopped"
    if procs.running(cfg.pidfile("ovn-northd"), "ovn-northd"):
        try:
            northd = raft.northd_state(cfg.northd_ctl)
        except procs.SetupError:
            northd = "running (state unknown)"
    return found, northd


def leave(cfg: CentralConfig) -> None:
    """Take this member out of the NB and SB clusters, stop its daemons and remove its
    copies of the databases (starting again would otherwise rejoin as a ghost)."""
    for which in ("nb", "sb"):
        if procs.running(cfg.pidfile(f"ovn{which}_db"), "ovsdb-server"):
            raft.leave(cfg.ctl(which), which)
    def gone(which: str) -> bool:
        if not procs.running(cfg.pidfile(f"ovn{which}_db"), "ovsdb-server"):
            return True
        try:
            return raft.status(cfg.ctl(which), which).status.startswith("left")
        except procs.SetupError:  # it no longer answers for a database it left
            return True

    procs.wait_for(lambda: all(gone(w) for w in ("nb", "sb")), 30,
                   "the cluster to let this member go")
    stop(cfg)
    for which in ("nb", "sb"):
        if os.path.exists(cfg.db(which)):
            os.unlink(cfg.db(which))
