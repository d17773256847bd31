"""`dockovn doctor`: every check in order, each skipped when one it needs failed.

A fault shows up once, under its own check: with ovn-controller stopped the chassis,
tunnel and endpoint checks are skipped rather than reported as three more failures.
Checks that could catch a moment of normal churn (a port being bound, a chassis
applying a change) look again once, a moment later, before calling it a failure.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from dockovn.deploy import procs
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.diagnose.doctor import cluster_checks as cc
from dockovn.diagnose.doctor import cluster_reads as creads
from dockovn.diagnose.doctor import encryption_checks as ec
from dockovn.ovn.tunnel_keys import slot_of
from dockovn.diagnose.doctor import host_checks as hc
from dockovn.diagnose.doctor import host_reads as hreads
from dockovn.diagnose.doctor import servers, tunnel_traffic
from dockovn.diagnose.doctor.findings import (CLUSTER, HOST, Finding, Severity, fail, failed,
                                                      skip, warn, worst)
from dockovn.network.api import DRIVER_NAME
from dockovn.ovsdb import SslFiles, describe, use_ssl

# (check, scope, the checks it needs to have passed, what it looks at)
CHECKS = (
    ("ovs", HOST, (), "ovsdb-server and ovs-vswitchd run, br-int exists"),
    ("ovn-controller", HOST, ("ovs",), "ovn-controller runs and is connected to SB"),
    ("encap", HOST, ("ovs",), "the tunnel address is one of this host's"),
    ("chassis", HOST, ("ovs", "ovn-controller", "encap", "southbound"),
     "registered in SB under this host's system-id, and the only one with its address"),
    ("tunnel", HOST, ("chassis", "encap"),
     "a tunnel to every other chassis, and traffic on it answered"),
    ("mtu", HOST, ("encap", "northbound"), "every cross-host network fits the tunnel"),
    ("encryption", HOST, ("southbound",),
     "encrypted tunnels: this host's WireGuard, its key in SB, a peer per host, handshakes"),
    ("datapath", HOST, ("ovs",), "datapath type; checksum offload off on the userspace one"),
    ("driver", HOST, (), "the driver's plugin socket answers"),
    ("dockerd", HOST, (), "dockerd answers and reaches the plugin"),
    ("endpoints", HOST, ("ovs", "ovn-controller", "chassis", "northbound", "southbound"),
     "every container here is plugged, bound to this chassis and up"),
    ("northbound", CLUSTER, (), "the Northbound DB answers this host"),
    ("southbound", CLUSTER, (), "the Southbound DB answers this host"),
    ("raft", CLUSTER, (), "Raft roles and leader of clustered NB/SB"),
    ("northd", CLUSTER, ("northbound", "southbound"), "one active ovn-northd, keeping up"),
    ("lag", CLUSTER, ("northbound", "southbound"), "how far behind each chassis is"),
    ("docker-nb", CLUSTER, ("northbound", "dockerd"), "this host's Docker and NB agree"),
)
ORDER = {check: i for i, (check, *_rest) in enumerate(CHECKS)}
SCOPE = {check: scope for check, scope, *_rest in CHECKS}
NEEDS = {check: needs for check, _scope, needs, _what in CHECKS}
DEFAULT_PLUGIN_DIR = "/run/docker/plugins"
RECHECK_PAUSE = 1.5


@dataclass(frozen=True)
class Config:
    nb: str
    sb: str
    ssl: SslFiles | None = None
    ovs_db: str = DEFAULT_OVS_DB
    ovs_rundir: str = ""                 # "": the OVS DB socket's folder
    ovn_rundir: str = "/var/run/ovn"
    bridge: str = "br-int"
    docker_host: str = DEFAULT_DOCKER_HOST
    plugin_dir: str = DEFAULT_PLUGIN_DIR
    central_rundir: str | None = None    # set on a central member: its Raft/northd status
    central_dbdir: str = "/var/lib/ovn"
    probe_seconds: float = 3.0           # the window tunnel traffic is watched for
    timeout: float = 5.0
    default_mtu: int = 1442

    @property
    def rundir(self) -> str:
        if self.ovs_rundir:
            return self.ovs_rundir
        if self.ovs_db.startswith("unix:"):
            return os.path.dirname(self.ovs_db[len("unix:"):])
        return "/var/run/openvswitch"


class _Results:
    def __init__(self):
        self.findings: list[Finding] = []
        self.state: dict[str, Severity] = {}

    def passed(self, check: str) -> bool:
        return self.state.get(check) in (Severity.OK, Severity.WARN)

    def run(self, check: str, judge: Callable[[], list[Finding]]) -> None:
        for need in NEEDS[check]:
            if not self.passed(need):
                how = "failed" if self.state.get(need) is Severity.FAIL else "was not checked"
                self._add(check, [skip(check, f"{need} {how}", SCOPE[check])])
                return
        try:
            found = judge()
        except Exception as exc:  # a daemon went away mid-read: say so, check the rest
            found = [fail(check, f"could not be checked: {describe(exc)}",
                          "run `dockovn -v doctor`; the component this check reads may "
                          "have stopped answering", scope=SCOPE[check])]
        self._add(check, found or [skip(check, "nothing to check", SCOPE[check])])

    def _add(self, check: str, findings: list[Finding]) -> None:
        self.findings += findings
        self.state[check] = worst(findings)


def run(cfg: Config) -> list[Finding]:
    """Every check, host and cluster; findings in CHECKS order."""
    r = _Results()
    closers = []
    try:
        _run(cfg, r, closers)
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                pass
    return sorted(r.findings, key=lambda f: (f.scope != HOST, ORDER.get(f.check, 99)))


def _run(cfg: Config, r: _Results, closers: list) -> None:
    switch, ovs_error = hreads.open_switch(cfg.ovs_db, cfg.bridge, cfg.timeout)
    if switch is not None:
        closers.append(switch.close)
    ovs = hreads.read_ovs(switch, ovs_error, cfg.bridge, cfg.rundir)
    r.run("ovs", lambda: hc.check_ovs(ovs))
    # The tunnel probe's window runs while the other checks read.
    started, before, counters_error = time.monotonic(), None, ""
    if r.passed("ovs"):
        try:
            before = tunnel_traffic.read_counters(cfg.bridge, cfg.rundir)
        except tunnel_traffic.CounterError as exc:
            counters_error = str(exc)

    nb_members, sb_members = _ask_central(cfg)
    nb = sb = None
    nb_error = sb_error = ""
    if any(m.answered for m in nb_members):
        nb, nb_error = creads.open_northbound(nb_members, cfg.timeout, cfg.ssl)
    if any(m.answered for m in sb_members):
        sb, sb_error = creads.open_southbound(sb_members, cfg.timeout, cfg.ssl)
    closers += [db.close for db in (nb, sb) if db is not None]
    r.run("northbound", lambda: cc.check_database("northbound", nb_members, nb_error))
    r.run("southbound", lambda: cc.check_database("southbound", sb_members, sb_error))

    # Reads shared by several checks, made on first use inside a check: a read that fails
    # is reported by the check that needed it (and tried again by the next one).
    addresses = functools.cache(hreads.local_addresses)
    chassis = functools.cache(lambda: creads.chassis_rows(sb))
    switches = functools.cache(lambda: creads.dockovn_switches(nb))
    ports = functools.cache(lambda: creads.dockovn_ports(nb, switches()))

    r.run("ovn-controller", lambda: hc.check_controller(hreads.read_controller(cfg.ovn_rundir),
                                                        cfg.sb))
    r.run("encap", lambda: hc.check_encap(ovs, addresses()))
    r.run("chassis", lambda: hc.check_chassis(ovs, chassis()))
    r.run("mtu", lambda: hc.check_mtu(ovs, addresses(), switches(), cfg.default_mtu))
    r.run("encryption", lambda: _encryption(sb, ovs, chassis()))

    # A managed plugin (make plugin) has its socket in a folder named by its ID, and
    # networks name it NAME:TAG; the legacy one is dockovn.sock, networks say "dockovn".
    managed = hreads.managed_plugin(cfg.docker_host, cfg.timeout)
    driver = hreads.probe_driver(os.path.join(cfg.plugin_dir, managed[1]) if managed
                                 else cfg.plugin_dir, cfg.timeout)
    r.run("driver", lambda: hc.check_driver(driver))
    # Whether dockerd reaches the plugin is asked only of a driver that answers: a dead
    # driver is one finding (and dockerd would look for it for 30 s).
    docker = hreads.read_docker(cfg.docker_host, cfg.timeout, probe=r.passed("driver"),
                                driver_name=managed[0] if managed else DRIVER_NAME)
    r.run("dockerd", lambda: hc.check_dockerd(docker, cfg.docker_host))
    r.run("datapath", lambda: _datapath(cfg, ovs, docker))
    r.run("endpoints", lambda: _endpoints(switch, ovs, nb, sb, switches(), ports(), docker))

    r.run("raft", lambda: _raft(cfg, nb_members, sb_members))
    r.run("northd", lambda: _northd(cfg, nb, sb_members))
    own_down = not (r.passed("ovn-controller") and r.passed("chassis"))
    r.run("lag", lambda: _lag(nb, sb, {ovs.system_id} if own_down else set()))
    r.run("docker-nb", lambda: cc.check_docker_nb(
        docker, switches(), ports(), ovs.system_id if r.passed("chassis") else None))

    def tunnels() -> list[Finding]:
        if before is None:
            return hc.check_tunnels(ovs, chassis(), None, cfg.probe_seconds, counters_error)
        time.sleep(max(0.0, cfg.probe_seconds - (time.monotonic() - started)))
        window = time.monotonic() - started
        try:
            after = tunnel_traffic.read_counters(cfg.bridge, cfg.rundir)
        except tunnel_traffic.CounterError as exc:
            return hc.check_tunnels(ovs, chassis(), None, window, str(exc))
        return hc.check_tunnels(ovs, chassis(), tunnel_traffic.traffic(before, after), window)

    r.run("tunnel", tunnels)


def _ask_central(cfg: Config) -> tuple[list[servers.MemberView], list[servers.MemberView]]:
    try:
        use_ssl(cfg.ssl)
    except (OSError, ValueError) as exc:
        down = [servers.MemberView(remote, error=f"SSL files: {exc}")
                for remote in servers.remotes_of(cfg.nb)]
        return down, [servers.MemberView(remote, error=f"SSL files: {exc}")
                      for remote in servers.remotes_of(cfg.sb)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        nb = pool.submit(servers.ask_members, cfg.nb, "OVN_Northbound", cfg.timeout)
        sb = pool.submit(servers.ask_members, cfg.sb, "OVN_Southbound", cfg.timeout)
        return nb.result(), sb.result()


def _datapath(cfg: Config, ovs, docker) -> list[Finding]:
    kernel_module = os.path.isdir("/sys/module/openvswitch")  # never modprobe from here
    if ovs.datapath_type != "netdev" or docker.error:
        return hc.check_datapath(ovs, kernel_module, None, docker.error)
    try:
        offloads = hreads.read_offloads(cfg.docker_host, cfg.timeout, ovs.interfaces)
    except Exception as exc:
        return hc.check_datapath(ovs, kernel_module, None, str(exc))
    return hc.check_datapath(ovs, kernel_module, offloads)


def _endpoints(switch, ovs, nb, sb, switches, ports, docker) -> list[Finding]:
    found = hc.check_endpoints(ovs, ports, sb.bindings(), None if docker.error else docker)
    if not failed(found):
        return found
    # A container that started a moment ago may be between plugging and binding.
    time.sleep(RECHECK_PAUSE)
    ovs = dataclasses.replace(ovs, interfaces=tuple(switch.interfaces()))
    ports = creads.dockovn_ports(nb, switches)
    return hc.check_endpoints(ovs, ports, sb.bindings(), None if docker.error else docker)


def _encryption(sb, ovs, chassis) -> list[Finding]:
    required, generations, published = creads.encryption_state(sb)
    peers, error = hreads.wireguard_peers(ovs.system_id, slot_of(generations.current))
    return ec.check_encryption(ec.EncryptionFacts(
        required, ovs.system_id, ovs.encap_ips, peers, error, published,
        [c.name for c in chassis], generations, time.time()))


def _raft(cfg: Config, nb_members, sb_members) -> list[Finding]:
    local, out = {}, []
    if cfg.central_rundir:
        try:
            clusters, _northd = creads.central_member(cfg.central_rundir, cfg.central_dbdir)
            local = {c.database: c for c in clusters}
        except procs.SetupError as exc:
            out.append(warn("raft", f"could not read this member's Raft status: {exc}",
                               "see `dockovn central status`", scope=CLUSTER))
    out += cc.check_raft("northbound", nb_members, local.get("OVN_Northbound"))
    out += cc.check_raft("southbound", sb_members, local.get("OVN_Southbound"))
    return out


def _northd(cfg: Config, nb, sb_members) -> list[Finding]:
    answered = [m for m in sb_members if m.answered]
    relayed = all(m.model == "relay" for m in answered)
    if relayed:  # a relay's locks are its own: judged by NB's progress alone
        found = cc.check_northd(None, "", creads.nb_progress(nb), relayed=True)
        if failed(found):
            time.sleep(RECHECK_PAUSE)
            found = cc.check_northd(None, "", creads.nb_progress(nb), relayed=True)
        return found
    leader = next((m for m in answered if m.leader), answered[0])
    held, why = servers.northd_lock_held(leader.remote, cfg.timeout)
    local_state = None
    if cfg.central_rundir:
        try:
            local_state = creads.central_member(cfg.central_rundir, cfg.central_dbdir)[1]
        except procs.SetupError:
            pass
    found = cc.check_northd(held, why, creads.nb_progress(nb), local_state)
    if failed(found) and held is not False:
        time.sleep(RECHECK_PAUSE)  # a change made a moment ago may still be on its way
        found = cc.check_northd(held, why, creads.nb_progress(nb), local_state)
    return found


def _lag(nb, sb, skip_names: set[str]) -> list[Finding]:
    def judge() -> list[Finding]:
        return cc.check_lag(sb.nb_cfg(), sb.chassis_states(), creads.nb_progress(nb),
                            int(time.time() * 1000), skip_names)
    found = judge()
    if failed(found):
        # Clocks of the central and this host may differ: a live chassis catches up in
        # milliseconds, so look once more before blaming it.
        time.sleep(RECHECK_PAUSE)
        found = judge()
    return found
