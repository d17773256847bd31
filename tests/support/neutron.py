"""A real Neutron for tests: Debian's neutron-server (ML2/OVN, noauth) on a private MariaDB.

It talks to an OVN central the suite already runs (``nb``/``sb``), optionally from
inside a network namespace. Everything it writes lives under ``base``:

    base/neutron.conf, ml2_conf.ini, api-paste.ini   our configs, nothing from /etc
    base/conf.d/                                     empty: replaces the default config dirs
    base/neutron-server.log, neutron-server.pid
    base/state/, base/lock/                          state_path, lock_path
    base/mysql/ (owned by mysql)                     datadir, socket, pidfile, mariadb.log
    base/cache/neutron-<version>.sql                 the migrated schema, reused by later runs

The database is wiped on every start (a crashed run's datadir is not worth
recovering; initialising takes ~1 s). Running the alembic migrations takes ~5 s,
loading a dump of their result ~1 s, so the first run for a Neutron version keeps
one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from dockovn.deploy import procs
from dockovn.deploy.driver_daemon import socket_answers

from tests.support import wait

TOOLS = ("neutron-server", "neutron-db-manage", "mariadbd", "mysql_install_db", "mysql",
         "mysqldump")
SYSTEM_API_PASTE = "/etc/neutron/api-paste.ini"


@dataclass
class Neutron:
    url: str      # e.g. "http://172.31.254.1:9696"
    base: str     # folder with configs, logs, datadir
    netns: str | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return os.path.join(self.base, "neutron-server.log")

    def log_tail(self, n: int = 80) -> str:
        return _tail(self.log, n)


def available() -> str | None:
    """None if a Neutron can be started here, else why not (for pytest.skip)."""
    missing = [t for t in TOOLS if not shutil.which(t, path=_PATH)]
    if missing:
        return (f"not installed: {', '.join(missing)} "
                "(apt-get install neutron-server mariadb-server)")
    if not os.path.exists(SYSTEM_API_PASTE):
        return f"{SYSTEM_API_PASTE} missing (neutron-common)"
    if os.geteuid() != 0:
        return "needs root (MariaDB runs as user mysql)"
    return None


# mariadbd and mysql_install_db live in sbin, which a test runner's PATH may lack.
_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": _PATH}


def start(base: str, nb: str, sb: str, bind_host: str = "127.0.0.1", port: int = 9696,
          netns: str | None = None) -> Neutron:
    """Start MariaDB and neutron-server under ``base``; return once the API answers."""
    base = os.path.abspath(base)
    stop(base)  # whatever an earlier run under base left running (stale pidfiles too)
    neutron = Neutron(url=f"http://{_host(bind_host)}:{port}", base=base, netns=netns)
    t = neutron.timings
    t0 = time.monotonic()
    try:
        for sub in ("conf.d", "state", "lock", "cache"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        open(neutron.log, "wb").close()  # a failure's log tail is this run's, not the last
        _write_configs(base, nb, sb, bind_host, port)
        set_policy(base, SERVICE_ROLE_GRANT)
        _mariadb(base, t)
        _schema(base, t)
        mark = time.monotonic()
        _neutron_server(neutron)
        t["neutron_first_answer"] = time.monotonic() - mark
    except BaseException as exc:
        tail = neutron.log_tail()
        stop(base)
        if isinstance(exc, Exception):
            raise RuntimeError(f"neutron under {base} did not start: {exc}\n"
                               f"--- neutron-server.log ---\n{tail}") from exc
        raise
    t["start"] = time.monotonic() - t0
    return neutron


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# -- policy ----------------------------------------------------------------------------------

# In a cloud, dockovn's OpenStack user holds the service role, which Neutron 24.0 and
# later require for binding:profile (docs/underlay.md). A noauth Neutron has no roles
# to hand out: every request runs as its admin. So the tests' Neutron lets that admin
# do what the service role does here, on every Neutron version alike.
SERVICE_ROLE_GRANT = {
    "create_port:binding:profile": "role:service or role:admin",
    "update_port:binding:profile": "role:service or role:admin",
}
# Neutron 24.0's own default for these rules: the service role only.
SERVICE_ROLE_ONLY = {name: "role:service" for name in SERVICE_ROLE_GRANT}


def set_policy(base: str, rules: dict[str, str]) -> None:
    """Write the policy overrides neutron-server reads; it reloads a changed file on
    its next request (oslo.policy compares the file's mtime)."""
    path = os.path.join(base, "policy.yaml")
    before = os.stat(path).st_mtime if os.path.exists(path) else 0.0
    with open(path + ".tmp", "w") as f:
        f.writelines(f'"{name}": "{rule}"\n' for name, rule in rules.items())
    os.replace(path + ".tmp", path)
    # A rewrite within the same clock tick as the last one would go unnoticed.
    later = max(time.time(), before + 1)
    os.utime(path, (later, later))


# -- configs ---------------------------------------------------------------------------------

def _write_configs(base: str, nb: str, sb: str, bind_host: str, port: int) -> None:
    with open(os.path.join(base, "neutron.conf"), "w") as f:
        f.write(f"""\
[DEFAULT]
auth_strategy = noauth
core_plugin = ml2
service_plugins = ovn-router
# No RabbitMQ: nothing here listens to RPC (no agents with ML2/OVN).
transport_url = fake://
bind_host = {bind_host}
bind_port = {port}
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
state_path = {base}/state
api_paste_config = {base}/api-paste.ini
log_file = {base}/neutron-server.log

[database]
connection = mysql+pymysql://root@localhost/neutron?unix_socket={_sock(base)}

[oslo_concurrency]
lock_path = {base}/lock

[oslo_messaging_notifications]
driver = noop

[oslo_policy]
# Neutron 23.0 and later enforce their new defaults; older ones let an admin do
# anything. The same on every release here, so that a policy written for it applies.
enforce_new_defaults = true
# Absolute: ours (set_policy), not /etc/neutron/policy.* found by search.
policy_file = {base}/policy.yaml
policy_dirs = {base}/policy.d
""")
    with open(os.path.join(base, "ml2_conf.ini"), "w") as f:
        f.write(f"""\
[ml2]
mechanism_drivers = ovn
type_drivers = geneve,vlan,flat
tenant_network_types = geneve
extension_drivers = port_security

[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38

[ovn]
ovn_nb_connection = {nb}
ovn_sb_connection = {sb}
ovn_metadata_enabled = false
# The NB is shared with dockovn's own rows: never compare or "repair" it at start.
neutron_sync_mode = off
""")
    # The packaged pipeline, except that its cors filters would load their own
    # config from /etc/neutron/neutron.conf (oslo_config_project = neutron): ours.
    with open(SYSTEM_API_PASTE) as f:
        paste = f.read()
    paste = "".join(line + (f"oslo_config_file = {base}/neutron.conf\n"
                            if line.startswith("oslo_config_project") else "")
                    for line in paste.splitlines(keepends=True))
    paste = paste.replace("/etc/neutron/healthcheck_disable", f"{base}/healthcheck_disable")
    with open(os.path.join(base, "api-paste.ini"), "w") as f:
        f.write(paste)


def _config_args(base: str) -> list[str]:
    # --config-dir too: its default (/etc/neutron/neutron.conf.d, ...) is searched
    # even when --config-file is given.
    return ["--config-file", f"{base}/neutron.conf", "--config-file", f"{base}/ml2_conf.ini",
            "--config-dir", f"{base}/conf.d"]


# -- MariaDB ---------------------------------------------------------------------------------

def _mysql_dir(base: str) -> str:
    return os.path.join(base, "mysql")


def _sock(base: str) -> str:
    return os.path.join(base, "mysql", "mysqld.sock")


def _mysqld_pidfile(base: str) -> str:
    return os.path.join(base, "mysql", "mysqld.pid")


# Throwaway data: no fsync per commit, no doublewrite, small logs and buffers.
_MARIADB_OPTS = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=64M",
                 "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                 "--innodb-buffer-pool-dump-at-shutdown=0",
                 "--innodb-buffer-pool-load-at-startup=0", "--performance-schema=off",
                 "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]


def _mariadb(base: str, t: dict[str, float]) -> None:
    d = _mysql_dir(base)
    if len(_sock(base).encode()) >= 108:
        raise RuntimeError(f"{_sock(base)}: too long for a unix socket; use a shorter base")
    _check_mysql_can_enter(base)
    # The datadir of an earlier (maybe crashed) run: wipe it, initialising is cheap.
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "data"))
    # mariadbd drops to user mysql, which must write the socket, pidfile and log here.
    for path in (d, os.path.join(d, "data")):
        shutil.chown(path, "mysql", "mysql")
    mark = time.monotonic()
    _run(["mysql_install_db", "--no-defaults", "--user=mysql", f"--datadir={d}/data",
          "--auth-root-authentication-method=socket", "--skip-test-db", *_MARIADB_OPTS],
         "initialising the MariaDB datadir", log=os.path.join(base, "mysql_install_db.log"))
    t["mariadb_init"] = time.monotonic() - mark
    mark = time.monotonic()
    log = open(os.path.join(base, "mariadbd.out"), "wb")
    # --no-defaults: nothing from /etc/mysql (its socket, port, datadir).
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={d}/data",
         f"--socket={_sock(base)}", f"--pid-file={_mysqld_pidfile(base)}", "--skip-networking",
         f"--log-error={d}/mariadb.log", *_MARIADB_OPTS],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, cwd=base,
        env=_env())
    log.close()
    _children[("mariadbd", base)] = proc

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited {proc.returncode}:\n"
                               f"{_tail(f'{d}/mariadb.log', 20)}")
        return socket_answers(_sock(base))

    wait.until(ready, 30, step=0.05, what="MariaDB's socket")
    t["mariadb_start"] = time.monotonic() - mark


def _check_mysql_can_enter(base: str) -> None:
    """mariadbd runs as mysql: every folder above its datadir must let it through.
    (pytest's tmp_path does not: /tmp/pytest-of-root is 0700.)"""
    user = pwd.getpwnam("mysql")
    path = base
    while True:
        st = os.stat(path)
        if not (st.st_mode & 0o001 or (st.st_uid == user.pw_uid and st.st_mode & 0o100)
                or (st.st_gid == user.pw_gid and st.st_mode & 0o010)):
            raise RuntimeError(f"user mysql cannot enter {path} (mode {st.st_mode & 0o777:o}); "
                               "put base somewhere it can, e.g. under /tmp")
        if path == "/":
            return
        path = os.path.dirname(path)


def _mysql(base: str, sql: str | None = None, stdin: str | None = None, what: str = "") -> None:
    cmd = ["mysql", "--no-defaults", "-S", _sock(base), "-u", "root"]
    if sql:
        cmd += ["-e", sql]
    if stdin:
        with open(stdin) as f:
            _run(cmd, what or "mysql", stdin=f)
    else:
        _run(cmd, what or "mysql")


def _schema(base: str, t: dict[str, float]) -> None:
    """Neutron's tables: from the cached dump if there is one for this Neutron, else migrate."""
    mark = time.monotonic()
    cache = _schema_cache(base)
    if cache and os.path.exists(cache):
        try:
            _mysql(base, stdin=cache, what="loading the cached neutron schema")
            t["schema_from_cache"] = time.monotonic() - mark
            return
        except RuntimeError:
            os.unlink(cache)  # broken: migrate instead
            _mysql(base, "DROP DATABASE IF EXISTS neutron")
    _mysql(base, "CREATE DATABASE neutron", what="creating the neutron database")
    _run(["neutron-db-manage", *_config_args(base), "upgrade", "head"], "neutron-db-manage",
         log=os.path.join(base, "neutron-db-manage.log"), timeout=300, cwd=base)
    t["migrations"] = time.monotonic() - mark
    if cache:
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            _run(["mysqldump", "--no-defaults", "-S", _sock(base), "-u", "root",
                  "--databases", "neutron"], "dumping the neutron schema", stdout=f)
        os.replace(tmp, cache)  # never a half-written cache


def _schema_cache(base: str) -> str | None:
    # Keyed by the package version: a new Neutron brings new migrations.
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-neutron"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if not version:
        return None
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in version)
    return os.path.join(base, "cache", f"neutron-{safe}.sql")


# -- neutron-server --------------------------------------------------------------------------

def _neutron_pidfile(base: str) -> str:
    return os.path.join(base, "neutron-server.pid")


def _neutron_server(neutron: Neutron) -> None:
    base = neutron.base
    cmd = ["neutron-server", *_config_args(base)]
    if neutron.netns:
        cmd = ["ip", "netns", "exec", neutron.netns, *cmd]  # execs: the pid stays neutron's
    # O_APPEND: oslo.log writes to the same file (log_file) through its own descriptor.
    log = open(neutron.log, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=base, env=_env())
    log.close()
    _children[("neutron-server", base)] = proc
    with open(_neutron_pidfile(base), "w") as f:
        f.write(f"{proc.pid}\n")

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"neutron-server exited {proc.returncode}")
        return _answers(f"{neutron.url}/v2.0/networks", neutron.netns)

    wait.until(ready, 120, step=0.2, what=f"neutron-server at {neutron.url}")


_PROBE = ("import sys, urllib.request\n"
          "try:\n"
          "    sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)\n"
          "except Exception:\n"
          "    sys.exit(1)\n")


def _answers(url: str, netns: str | None) -> bool:
    """GET ``url`` answers 200, asked from ``netns`` (where the API listens) if given."""
    if netns:
        done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", _PROBE, url],
                              capture_output=True, timeout=10)
        return done.returncode == 0
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


# -- stopping --------------------------------------------------------------------------------

# What this process started, to reap them (no zombies left to look alive).
_children: dict[tuple[str, str], subprocess.Popen] = {}


def stop(base: str) -> None:
    """Stop neutron-server (every worker) and MariaDB started from ``base``. Safe to repeat;
    removes nothing but our pidfiles."""
    base = os.path.abspath(base)
    # Neutron first: it holds connections to the database. SIGTERM to the parent
    # stops its workers too (~0.2 s); MariaDB needs ~1-2 s to shut down.
    _stop_pidfile(_neutron_pidfile(base), base, timeout=15)
    _stop_pidfile(_mysqld_pidfile(base), base, timeout=30)
    # Anything else from base: workers orphaned by a killed parent, a stuck
    # neutron-db-manage, a mariadbd whose pidfile was lost.
    _stop_pids(_pids_under(base), timeout=10)
    for key in [k for k in _children if k[1] == base]:
        proc = _children.pop(key)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.unlink(_neutron_pidfile(base))
    except FileNotFoundError:
        pass


def _stop_pidfile(pidfile: str, base: str, timeout: float) -> None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    # A stale pidfile may name a pid reused by something else: only ours.
    if base + "/" in _args(pid):
        _stop_pids([pid], timeout)


def _stop_pids(pids: list[int], timeout: float) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    _reap()


def _pids_under(base: str) -> list[int]:
    """Processes whose command line names something under base (not us or our parents)."""
    mine = procs.self_and_ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in mine and base + "/" in _args(int(entry)):
            found.append(int(entry))
    return found


def _args(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except (OSError, IndexError):
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap() -> None:
    for proc in _children.values():
        proc.poll()


# -- helpers ---------------------------------------------------------------------------------

def _run(cmd: list[str], what: str, log: str | None = None, timeout: float = 120,
         stdin=None, stdout=None, cwd: str | None = None) -> None:
    """Run a tool to completion; RuntimeError with the end of its output if it fails."""
    out = open(log, "wb") if log else subprocess.PIPE
    try:
        done = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              stdout=stdout or out, stderr=out if log else subprocess.PIPE,
                              timeout=timeout, env=_env(), cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what}: {cmd[0]} did not finish in {timeout:g}s") from None
    finally:
        if log:
            out.close()
    if done.returncode != 0:
        text = _tail(log, 20) if log else (done.stderr or b"").decode(errors="replace")
        raise RuntimeError(f"{what}: {' '.join(cmd[:3])}... failed ({done.returncode}): {text}")


def _tail(path: str, n: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200 * n))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return f"({path}: nothing logged)"
    return "\n".join(lines[-n:])
