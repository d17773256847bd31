"""Several hosts on one machine: a central and N hosts as network namespaces.

Each host has its own Open vSwitch (userspace datapath), ovn-controller, dockerd
and dockovn driver, set up with the same `dockovn central start` / `dockovn host
setup` commands a user runs. An underlay Linux bridge in the central's namespace
joins them (172.31.255.0/24, inside these namespaces only).

    central ns: ulbr 172.31.255.1 ── veth ── host1 ns: ul0 ∈ br-phy 172.31.255.11
                                    └─ veth ── host2 ns: ul0 ∈ br-phy 172.31.255.12

Userspace tunnels need the tunnel IP on an OVS bridge (br-phy) holding the
underlay port; the host's kernel stack routes through it too. dockerd finds
plugins only in /run/docker/plugins, so each host's dockerd runs in a private
mount namespace where its own folder is mounted there.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

import docker

from dockovn.deploy import dockerd, procs

from tests.support import wait

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = "/tmp/dkmh"  # short: unix socket paths under it must stay < 108 bytes
PREFIX = "dkmh-"
UNDERLAY = "172.31.255"
CENTRAL_IP = f"{UNDERLAY}.1"
METRICS_PORT = 9476
GC_INTERVAL, GC_MIN_AGE = 5, 15  # the drivers' periodic gc (above the 10 s request timeout)


def sh(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return done


def in_ns(ns: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def dockovn(ns: str, *args: str) -> subprocess.CompletedProcess:
    return in_ns(ns, sys.executable, "-m", "dockovn", *args, timeout=120)


@dataclass
class Host:
    name: str   # h1, h2, ...
    index: int

    @property
    def ns(self) -> str:
        return PREFIX + self.name

    @property
    def dir(self) -> str:
        return os.path.join(BASE, self.name)

    @property
    def ip(self) -> str:
        return f"{UNDERLAY}.{10 + self.index}"

    @property
    def ovs_db(self) -> str:
        return f"unix:{self.dir}/db.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.dir}/docker.sock"

    @property
    def plugins(self) -> str:
        return os.path.join(self.dir, "plugins")

    @property
    def pki(self) -> str:
        return os.path.join(self.dir, "pki")

    @property
    def daemon_json(self) -> str:
        return os.path.join(self.dir, "daemon.json")

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.dir, f"{daemon}.pid")

    def docker(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, timeout=120)

    def vsctl(self, *args: str) -> str:
        return in_ns(self.ns, "ovs-vsctl", f"--db={self.ovs_db}", *args).stdout

    def appctl(self, target: str, *args: str) -> str:
        return in_ns(self.ns, "ovs-appctl", "-t", os.path.join(self.dir, target), *args).stdout


@dataclass
class Member:
    """A central member: NB, SB and ovn-northd (one member, or three in a Raft cluster)."""

    index: int  # 1, 2, 3

    @property
    def ns(self) -> str:
        return PREFIX + "c" + ("" if self.index == 1 else str(self.index))

    @property
    def dir(self) -> str:
        return os.path.join(BASE, "central" + ("" if self.index == 1 else str(self.index)))

    @property
    def ip(self) -> str:
        return f"{UNDERLAY}.{self.index}"

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.dir, f"{daemon}.pid")


@dataclass
class Cluster:
    hosts: list[Host] = field(default_factory=list)
    members: list[Member] = field(default_factory=lambda: [Member(1)])
    central_ns: str = PREFIX + "c"
    central_dir: str = os.path.join(BASE, "central")
    timings: dict[str, float] = field(default_factory=dict)
    encrypted: bool = False  # hosts' tunnels inside WireGuard (central --encrypt-tunnels)

    @property
    def clustered(self) -> bool:
        return len(self.members) > 1

    @property
    def nb(self) -> str:
        return f"unix:{self.central_dir}/ovnnb_db.sock"

    @property
    def sb(self) -> str:
        return f"unix:{self.central_dir}/ovnsb_db.sock"

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)


def start(n_hosts: int = 2, members: int = 1, plugin: str | None = None,
          dockerd: bool = True, encrypted: bool = False) -> Cluster:
    """``members`` > 1: a Raft central of that many members (its own namespace each).
    ``plugin``: a managed-plugin folder (packaging/managed-plugin/build.py) each host's
    dockerd runs dockovn from, instead of the legacy driver process.
    ``dockerd=False``: no dockerd on the hosts, only the driver (a caller replays
    dockerd's plugin calls on its socket; the driver's Docker-side threads keep retrying
    and its gc removes nothing, as whenever dockerd does not answer). Up to 244 hosts."""
    if plugin and not dockerd:
        raise ValueError("a managed plugin runs inside dockerd: plugin needs dockerd=True")
    if not 1 <= n_hosts <= 244:  # host i's underlay address is 172.31.255.(10 + i)
        raise ValueError(f"n_hosts must be 1..244, not {n_hosts}")
    t0 = time.monotonic()
    teardown()  # whatever an earlier run left behind
    cluster = Cluster(hosts=[Host(f"h{i}", i) for i in range(1, n_hosts + 1)],
                      members=[Member(i) for i in range(1, members + 1)], encrypted=encrypted)
    try:
        _underlay(cluster)
        _central(cluster)
        _upstream_dns(cluster)
        for host in cluster.hosts:
            _host(cluster, host)
        for host in cluster.hosts:
            _prime_tunnels(cluster, host)
        def docker_side(host: Host) -> None:
            if plugin:
                start_dockerd(host.ns, host.dir, host.plugins, host.docker_host,
                              host.pidfile("docker"))
                install_plugin(host, plugin)
            elif not dockerd:
                _driver(host)
            else:
                _driver_and_dockerd(host)

        # Hosts at once: a plugin's upload into each dockerd takes ~15 s.
        with concurrent.futures.ThreadPoolExecutor(min(8, n_hosts)) as pool:
            list(pool.map(docker_side, cluster.hosts))
        _wait_chassis(cluster)
    except BaseException:
        save_logs()
        teardown()
        raise
    cluster.timings["start"] = time.monotonic() - t0
    return cluster


def _underlay(cluster: Cluster) -> None:
    os.makedirs(BASE, exist_ok=True)
    sh("ip", "netns", "add", cluster.central_ns)
    in_ns(cluster.central_ns, "ip", "link", "set", "lo", "up")
    in_ns(cluster.central_ns, "ip", "link", "add", "ulbr", "type", "bridge")
    in_ns(cluster.central_ns, "ip", "addr", "add", f"{CENTRAL_IP}/24", "dev", "ulbr")
    in_ns(cluster.central_ns, "ip", "link", "set", "ulbr", "up")
    # The userspace datapath does not finish checksums left for offload: every
    # kernel-made packet entering OVS must carry a complete one, or TCP dies.
    in_ns(cluster.central_ns, "ethtool", "-K", "ulbr", "tx", "off")
    for host in cluster.hosts:
        sh("ip", "netns", "add", host.ns)
        in_ns(host.ns, "ip", "link", "set", "lo", "up")
        if cluster.encrypted:
            encryption_namespace(host)
        sh("ip", "link", "add", f"ul-{host.name}", "netns", cluster.central_ns, "type", "veth",
           "peer", "name", "ul0", "netns", host.ns)
        in_ns(cluster.central_ns, "ip", "link", "set", f"ul-{host.name}", "master", "ulbr", "up")
        in_ns(cluster.central_ns, "ethtool", "-K", f"ul-{host.name}", "tx", "off")
        in_ns(host.ns, "ip", "link", "set", "ul0", "up")
    for member in cluster.members[1:]:  # the other Raft members: plain kernel interfaces
        sh("ip", "netns", "add", member.ns)
        in_ns(member.ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", f"ul-c{member.index}", "netns", cluster.central_ns, "type",
           "veth", "peer", "name", "ul0", "netns", member.ns)
        in_ns(cluster.central_ns, "ip", "link", "set", f"ul-c{member.index}", "master", "ulbr",
              "up")
        in_ns(member.ns, "ip", "addr", "add", f"{member.ip}/24", "dev", "ul0")
        in_ns(member.ns, "ip", "link", "set", "ul0", "up")


def central_args(cluster: Cluster, member: Member | None = None) -> list[str]:
    member = member or cluster.members[0]
    d = member.dir
    args = ["--rundir", d, "--dbdir", d, "--logdir", d, "--nb-addr", member.ip,
            "--sb-addr", member.ip, "--address", ",".join(m.ip for m in cluster.members)]
    if cluster.encrypted:
        args += ["--encrypt-tunnels"]
    if cluster.clustered:
        args += ["--cluster-local", member.ip]
    return args


def start_member(cluster: Cluster, member: Member, join: bool) -> None:
    """`dockovn central start` on one member (joining through member 1 the first time)."""
    joining = ["--cluster-join", cluster.members[0].ip] if join else []
    dockovn(member.ns, "central", "start", *central_args(cluster, member), *joining)


def _central(cluster: Cluster) -> None:
    # The documented way: SSL with the central's own CA, a bundle per host.
    first = cluster.members[0]
    dockovn(first.ns, "central", "start", *central_args(cluster, first))
    for member in cluster.members[1:]:
        # Members share the central's CA: the first member's PKI folder, copied over.
        shutil.copytree(os.path.join(first.dir, "pki"), os.path.join(member.dir, "pki"))
        start_member(cluster, member, join=True)
    if cluster.clustered:  # as documented: again on every member once all have joined,
        for member in cluster.members:  # so each ovn-northd knows every NB member
            start_member(cluster, member, join=False)


def join_token(cluster: Cluster) -> str:
    """`dockovn central join-token` on the first member."""
    first = cluster.members[0]
    return dockovn(first.ns, "central", "join-token", "-q",
                   *central_args(cluster, first)).stdout.strip()


def join_args(cluster: Cluster, host: Host, token: str | None = None) -> list[str]:
    """`dockovn host join` as the harness runs it for ``host`` (with the central's token
    of the moment, unless given): this host's dockerd reads its own daemon.json, and the
    central's namespace plays the host's upstream DNS server (no internet here)."""
    d = host.dir
    return ["host", "join", token or join_token(cluster), cluster.members[0].ip,
            "--hostname", host.name, "--pki-dir", host.pki,
            "--encryption-namespace", host.ns + "wg",
            "--encap-ip", host.ip, "--ovs-rundir", d, "--ovs-dbdir", d, "--ovs-logdir", d,
            "--ovn-rundir", d, "--ovn-logdir", d, "--docker-config", host.daemon_json,
            "--dns-upstream", CENTRAL_IP]


def join_again(cluster: Cluster, host: Host) -> None:
    """The join run again, as an operator would to repair a host: idempotent, it sets the
    system-id and tunnel address back and starts what is stopped."""
    if cluster.encrypted:
        encryption_namespace(host)
    dockovn(host.ns, *join_args(cluster, host))


def encryption_namespace(host: Host) -> None:
    """The host's WireGuard namespace, made here: one that `host join` made inside `ip
    netns exec` (a mount namespace of its own) would be usable by that run only. On a
    real host, join makes it."""
    if not os.path.exists(f"/run/netns/{host.ns}wg"):
        sh("ip", "netns", "add", host.ns + "wg")


def _host(cluster: Cluster, host: Host) -> None:
    os.makedirs(host.plugins, exist_ok=True)
    # As a user runs it: one command with the central's token, over the host's network
    # (its address on the NIC for now).
    in_ns(host.ns, "ip", "addr", "add", f"{host.ip}/24", "dev", "ul0")
    dockovn(host.ns, *join_args(cluster, host))
    # The underlay port and the tunnel IP move to br-phy (userspace tunnelling).
    in_ns(host.ns, "ip", "addr", "del", f"{host.ip}/24", "dev", "ul0")
    host.vsctl("--may-exist", "add-br", "br-phy", "--", "set", "Bridge", "br-phy",
               "datapath_type=netdev", "--", "--may-exist", "add-port", "br-phy", "ul0")
    in_ns(host.ns, "ip", "addr", "add", f"{host.ip}/24", "dev", "br-phy")
    in_ns(host.ns, "ip", "link", "set", "br-phy", "up")
    in_ns(host.ns, "ethtool", "-K", "br-phy", "tx", "off")  # see _underlay


def tunnel_address(cluster: Cluster, host: Host) -> str:
    """The address ``host``'s tunnels start from (its ovn-encap-ip)."""
    return host.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-encap-ip").strip().strip('"')


def _prime_tunnels(cluster: Cluster, host: Host) -> None:
    # Userspace tunnels need the peer's neighbour entry before the first packet (with
    # encryption: the peer's tunnel address, through WireGuard once the peers are set).
    peers = [m.ip for m in cluster.members] + [h.ip for h in cluster.hosts if h is not host]
    if cluster.encrypted:
        peers += [tunnel_address(cluster, h) for h in cluster.hosts if h is not host]
    for ip in peers:
        wait.until(lambda ip=ip: in_ns(host.ns, "ping", "-c", "1", "-W", "1", ip,
                                       check=False).returncode == 0,
                   15, what=f"{host.name} reaching {ip} over the underlay")


def _upstream_dns(cluster: Cluster) -> None:
    log = open(os.path.join(cluster.central_dir, "upstream-dns.log"), "ab")
    proc = subprocess.Popen(["ip", "netns", "exec", cluster.central_ns, sys.executable, "-m",
                             "tests.support.upstream_dns", CENTRAL_IP],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=REPO)
    log.close()
    with open(os.path.join(cluster.central_dir, "upstream-dns.pid"), "w") as f:
        f.write(f"{proc.pid}\n")


def restart_driver(host: Host) -> None:
    """Start ``host``'s driver again after it died (its socket file is still there)."""
    sock = os.path.join(host.plugins, "dockovn.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    _driver(host)


def _driver(host: Host) -> None:
    start_driver(host.ns, host.dir, host.plugins,
                 ["--ovs-db", host.ovs_db, "--docker-host", host.docker_host,
                  "--pidfile", host.pidfile("driver"),
                  # gc while running, faster than the defaults (30 s, 60 s), so the test
                  # of reclaiming what an outage left does not wait a minute.
                  "--gc-interval", str(GC_INTERVAL), "--gc-min-age", str(GC_MIN_AGE),
                  # Prometheus in the central's namespace scrapes every host here
                  # (tests/multihost/test_observability.py); containers are refused.
                  "--metrics-address", f"0.0.0.0:{METRICS_PORT}",
                  "--ovn-rundir", host.dir])


def _driver_and_dockerd(host: Host) -> None:
    # The driver first: a dockerd that restores dockovn networks looks the plugin up at boot.
    _driver(host)
    start_dockerd(host.ns, host.dir, host.plugins, host.docker_host, host.pidfile("docker"))


MANAGED = "dockovn:latest"


def install_plugin(host: Host, folder: str, name: str = MANAGED) -> None:
    """`docker plugin create`, `set` (this host's folders instead of the defaults) and
    `enable`, as a user would with a built plugin folder."""
    client = host.docker()
    try:
        client.api.create_plugin(name, folder)
        client.api.configure_plugin(name, {
            "openvswitch.source": host.dir, "ovn.source": host.dir, "pki.source": host.pki,
            "docker-run.source": host.dir, "DOCKOVN_SSL_DIR": "/etc/dockovn",
            "DOCKOVN_OVS_DB": "unix:/run/openvswitch/db.sock",
            "DOCKER_HOST": "unix:///host/run/docker.sock", "DOCKOVN_LOG_LEVEL": "DEBUG"})
        client.api.enable_plugin(name, timeout=60)
    finally:
        client.close()


def start_driver(ns: str, folder: str, plugins: str, args: list[str],
                 env: dict[str, str] | None = None) -> None:
    """`dockovn driver` in namespace ``ns``, its socket in ``plugins``, its log in ``folder``."""
    log = open(os.path.join(folder, "driver.log"), "ab")
    subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "dockovn", "-v",
                      "driver", "--plugin-dir", plugins, *args],
                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                     env={**os.environ, **(env or {})})
    log.close()
    wait.until(lambda: os.path.exists(os.path.join(plugins, "dockovn.sock")), 30,
               what=f"{ns} driver socket (see {folder}/driver.log)")


def start_dockerd(ns: str, folder: str, plugins: str, docker_host: str, pidfile: str) -> None:
    """A dockerd in namespace ``ns`` that finds its plugins in ``plugins``."""
    config = os.path.join(folder, "daemon.json")
    if not os.path.exists(config):  # `dockovn host setup` may have written it
        with open(config, "w") as f:
            json.dump({}, f)
    os.makedirs("/run/docker/plugins", exist_ok=True)
    # dockerd finds plugins only in /run/docker/plugins: a private mount namespace
    # gets its own folder there. `ip netns exec` remounts /sys and hides the
    # cgroup tree from dockerd: use nsenter.
    inner = (f"mount --bind {plugins} /run/docker/plugins && "
             f"exec nsenter --net=/var/run/netns/{ns} dockerd --data-root {folder}/docker "
             f"--exec-root {folder}/exec --pidfile {pidfile} -H {docker_host} "
             f"--storage-driver=vfs --cgroup-parent={ns}-docker --config-file {config} "
             f"--shutdown-timeout 1")
    log = open(os.path.join(folder, "dockerd.log"), "ab")
    subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    wait.until(lambda: dockerd.answers(docker_host), 60, step=0.2, what=f"{ns} dockerd")
    dockerd.ensure_image(docker_host)


def _wait_chassis(cluster: Cluster) -> None:
    def all_registered() -> bool:
        out = in_ns(cluster.central_ns, "ovn-sbctl", f"--db={cluster.sb}", "--no-leader-only",
                    "--columns=hostname",
                    "list", "Chassis", check=False).stdout
        return all(h.name in out for h in cluster.hosts)

    wait.until(all_registered, 30, what="every chassis in the Southbound DB")


# Where a failed test's daemon logs are copied (the Debian 13 run points it into the
# checkout: that root's /tmp goes with it).
LOG_COPY = os.environ.get("DOCKOVN_TEST_LOGS", "/tmp/dkmh-logs")


def save_logs() -> str:
    """Keep every daemon's log (BASE is removed by teardown) for a failed run's report."""
    shutil.rmtree(LOG_COPY, ignore_errors=True)
    for path in glob.glob(os.path.join(BASE, "*", "*.log")):
        dest = os.path.join(LOG_COPY, os.path.relpath(path, BASE))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(path, dest)
    return LOG_COPY


def _stop_pidfile(path: str, timeout: float = 20) -> None:
    procs.stop(path, timeout=timeout)


def teardown() -> None:
    """Stop every daemon under BASE, delete the namespaces and folders. Safe to repeat."""
    hosts = sorted(glob.glob(os.path.join(BASE, "h*")))
    for d in hosts:  # dockerd first: it calls the driver to unplug its containers
        _disable_plugins(f"unix://{d}/docker.sock")
        _stop_pidfile(os.path.join(d, "docker.pid"), timeout=30)
    for d in hosts:
        for daemon in ("driver", "dockovn-wireguard", "wireguard-go-0", "wireguard-go-1",
                       "ovn-controller", "ovs-vswitchd", "ovsdb-server"):
            _stop_pidfile(os.path.join(d, f"{daemon}.pid"))
    for central in sorted(glob.glob(os.path.join(BASE, "central*"))):
        for daemon in ("dockovn-identities", "ovnnb_relay", "ovnsb_relay", "ovn-northd",
                       "ovnnb_db", "ovnsb_db", "upstream-dns"):
            _stop_pidfile(os.path.join(central, f"{daemon}.pid"))
    remove_leftovers(BASE, PREFIX)


def _disable_plugins(docker_host: str) -> None:
    """Containers first, then managed plugins: dockerd stops them, nothing outlives it."""
    if not dockerd.answers(docker_host):
        return
    client = docker.DockerClient(base_url=docker_host, timeout=60)
    try:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        for p in client.plugins.list():
            if p.enabled:
                p.disable(force=True)
    except docker.errors.APIError:
        pass
    finally:
        client.close()


def remove_leftovers(base: str, prefix: str) -> None:
    """Kill whatever still runs from ``base`` (containerd-shims of a killed dockerd),
    delete the ``prefix`` namespaces and dockerd cgroups, remove ``base``."""
    ours = procs.self_and_ancestors()  # a clone of this repo may live under base too
    for line in sh("ps", "-eo", "pid=,args=").stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if base + "/" in args and int(pid) not in ours:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
    for ns in sh("ip", "netns", "list").stdout.split():
        if ns.startswith(prefix):
            # Whatever still runs in it (a managed plugin of a killed dockerd names no
            # file of ours in its command line) would keep the namespace alive.
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                if int(pid) not in ours:
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
            sh("ip", "netns", "del", ns, check=False)
    for cg in glob.glob(f"/sys/fs/cgroup/*/{prefix}*-docker") + \
            glob.glob(f"/sys/fs/cgroup/{prefix}*-docker"):
        for sub in sorted(glob.glob(os.path.join(cg, "**/"), recursive=True), reverse=True):
            try:
                os.rmdir(sub)
            except OSError:
                pass
    shutil.rmtree(base, ignore_errors=True)
