"""Judging the cluster: the central's databases, Raft, ovn-northd, how far behind the
hosts are, and whether this host's Docker and OVN agree. Pure functions, like
host_checks."""

from __future__ import annotations

from dockovn.deploy.raft import ClusterStatus
from dockovn.network import external_ids
from dockovn.diagnose.doctor.cluster_reads import NbProgress
from dockovn.diagnose.doctor.facts import DockerFacts
from dockovn.diagnose.doctor.findings import CLUSTER, Finding, fail, ok, warn
from dockovn.diagnose.doctor.servers import MemberView
from dockovn.ovn.nb import LogicalPort, LogicalSwitch
from dockovn.ovn.sb import ChassisState

NAMES = {"northbound": "OVN_Northbound", "southbound": "OVN_Southbound"}
PORTS = {"northbound": 6641, "southbound": 6642}
# A chassis may take a moment to apply a change; behind for longer than this, it is stuck.
LAG_FAIL_S = 10.0
START_CENTRAL = "dockovn central start (on each member; it starts only what is missing)"


def check_database(which: str, members: list[MemberView], open_error: str = "") -> list[Finding]:
    """NB or SB answers this host (``which``: "northbound" or "southbound")."""
    if not members:
        return [fail(which, f"no {NAMES[which]} connection is configured on this host",
                     "dockovn host join TOKEN CENTRAL (it records NB and SB)",
                     scope=CLUSTER)]
    answered = [m for m in members if m.answered]
    if not answered:
        why = "; ".join(f"{m.remote}: {m.error}" for m in members)
        return [fail(which, f"{NAMES[which]} does not answer this host ({why})",
                     f"is the central up (dockovn central status there)? does this host "
                     f"reach TCP {PORTS[which]} (firewall)? is its certificate still trusted "
                     "(joined, not revoked)?", subject=NAMES[which], scope=CLUSTER)]
    if open_error:
        return [fail(which, f"{NAMES[which]} answers but cannot be read: {open_error}",
                     "check this host's certificate (`dockovn host join` again) and the "
                     "central's log",
                     subject=NAMES[which], scope=CLUSTER)]
    return [ok(which, f"{NAMES[which]} answers at {', '.join(m.remote for m in answered)}",
               subject=NAMES[which], scope=CLUSTER)]


def check_raft(which: str, members: list[MemberView],
               local: ClusterStatus | None = None) -> list[Finding]:
    """Roles and leader of a clustered database, as its members tell this host."""
    db = NAMES[which]
    answered = [m for m in members if m.answered]
    if not answered:
        return []  # check_database said so
    if answered and all(m.model == "relay" for m in answered):
        return _relays(db, answered)
    if all(m.model != "clustered" for m in answered):
        return [ok("raft", f"{db}: standalone (no Raft cluster)", subject=db, scope=CLUSTER)]
    out = []
    leaders = [m for m in answered if m.leader]
    cut_off = [m for m in answered if not m.connected]
    silent = [m for m in members if not m.answered]
    if not leaders:
        if any(m.connected for m in answered):
            out.append(warn("raft", f"{db}: the Raft leader is not among the members this host "
                            "reaches (followers pass writes on, so it works)",
                            "give this host every member: the central started with "
                            "--address a,b,c, then `dockovn host join` again",
                            subject=db, scope=CLUSTER))
        else:
            out.append(fail("raft", f"{db}: no Raft leader ({len(answered)} of {len(members)} "
                            "members answer, none in a majority): writes such as `docker "
                            "network create` and `docker run` fail",
                            f"start the stopped members: {START_CENTRAL}; a majority must run",
                            subject=db, scope=CLUSTER))
    elif len(leaders) > 1:
        out.append(warn("raft", f"{db}: {len(leaders)} members say they lead "
                        f"({', '.join(m.remote for m in leaders)}): an election is under way",
                        "run doctor again in a few seconds; if it stays, check the members' "
                        "logs and clocks", subject=db, scope=CLUSTER))
    for m in cut_off:
        out.append(fail("raft", f"{db}: member {m.remote} answers but is not connected to "
                        "its cluster (it cannot reach a majority)",
                        "check the Raft port between the members (6643 NB, 6644 SB) and that "
                        "member's log", subject=m.remote, scope=CLUSTER))
    for m in silent:
        out.append(warn("raft", f"{db}: member {m.remote} does not answer ({m.error}); the "
                        "cluster goes on while a majority runs",
                        f"start it: {START_CENTRAL}; if it is gone for good, remove it "
                        "(dockovn central leave on it, or cluster/kick from another member)",
                        subject=m.remote, scope=CLUSTER))
    if len(members) == 1:
        out.append(warn("raft", f"{db} is clustered but this host knows one member only: "
                        "if it dies this host loses the central",
                        "start the central with --address a,b,c (every member) and run "
                        "`dockovn host join` again on this host",
                        subject=db, scope=CLUSTER))
    if local is not None and local.status != "cluster member":
        out.append(fail("raft", f"{db}: this member's status is {local.status!r}",
                        "see `dockovn central status` and this member's log",
                        subject=db, scope=CLUSTER))
    if out:
        return out
    here = f"; this member: {local.role}, term {local.term}" if local is not None else ""
    return [ok("raft", f"{db}: leader at {leaders[0].remote}; {len(answered)} of "
               f"{len(members)} members answer{here}", subject=db, scope=CLUSTER)]


def _relays(db: str, relays: list[MemberView]) -> list[Finding]:
    """A clustered central seen from a host: its relays, each following the members.
    Raft roles are not visible from here (the members' ports trust the central only)."""
    lost = [m for m in relays if not m.connected]
    out = [fail("raft", f"{db}: the relay at {m.remote} has lost the central's members "
                "(no majority runs, or it cannot reach them)",
                f"on the members: dockovn central status; {START_CENTRAL}",
                subject=m.remote, scope=CLUSTER) for m in lost]
    if len(relays) == 1:
        out.append(warn("raft", f"{db}: this host knows one member's relay only: if that "
                        "member dies this host loses the central",
                        "start the central with --address a,b,c (every member) and run "
                        "`dockovn host join` again on this host", subject=db, scope=CLUSTER))
    elif len(relays) - len(lost):
        out.append(ok("raft", f"{db}: {len(relays) - len(lost)} of {len(relays)} relays follow "
                      "the Raft members (roles: `dockovn central status` on a member)",
                      subject=db, scope=CLUSTER))
    return out


def check_northd(lock_held: bool | None, lock_error: str, progress: NbProgress | None,
                 local_state: str | None = None, relayed: bool = False) -> list[Finding]:
    if relayed:
        return _northd_behind_relays(progress)
    out = []
    if lock_held is False:
        out.append(fail("northd", "no ovn-northd holds the Southbound lock: none runs (or "
                        "none reaches SB), so new networks and containers never reach the "
                        "hosts", f"start ovn-northd: {START_CENTRAL}", scope=CLUSTER))
    elif lock_held is None:
        out.append(warn("northd", f"could not ask the Southbound DB who holds ovn-northd's "
                        f"lock ({lock_error})", "check on the central: dockovn central status",
                        scope=CLUSTER))
    if progress is not None and progress.sb_cfg < progress.nb_cfg and lock_held is not False:
        out.append(fail("northd", f"ovn-northd has not passed NB change #{progress.nb_cfg} on "
                        f"to the Southbound DB (it is at #{progress.sb_cfg})",
                        "check ovn-northd's log on the active member (it may be overloaded "
                        "or unable to write SB)", scope=CLUSTER))
    if out:
        return out
    here = f"; on this member it is {local_state}" if local_state else ""
    return [ok("northd", f"one ovn-northd is active (holds the Southbound lock){here}",
               scope=CLUSTER)]


def _northd_behind_relays(progress: NbProgress | None) -> list[Finding]:
    """A relay keeps OVSDB locks of its own: who holds ovn-northd's is asked of the
    members, not from a host. That NB's changes reach SB says an ovn-northd works."""
    if progress is None:
        return [warn("northd", "could not read how far ovn-northd got (NB_Global)",
                     "check on the central: dockovn central status", scope=CLUSTER)]
    if progress.sb_cfg < progress.nb_cfg:
        return [fail("northd", f"ovn-northd has not passed NB change #{progress.nb_cfg} on "
                     f"to the Southbound DB (it is at #{progress.sb_cfg}): none is active, or "
                     "it cannot keep up", f"on the members: dockovn central status; "
                     f"{START_CENTRAL}", scope=CLUSTER)]
    return [ok("northd", f"an ovn-northd passes NB's changes on (#{progress.sb_cfg}); which "
               "member's is active: `dockovn central status` on a member", scope=CLUSTER)]


def check_lag(sb_nb_cfg: int | None, chassis: list[ChassisState], progress: NbProgress | None,
              now_ms: int, skip: set[str] = frozenset()) -> list[Finding]:
    """How far behind each chassis is in applying NB changes: SB_Global.nb_cfg is the last
    change ovn-northd passed on, each Chassis_Private.nb_cfg the last its ovn-controller
    applied. Behind for longer than LAG_FAIL_S (since ovn-northd took up the change), the
    chassis is stuck, down or cut off."""
    if sb_nb_cfg is None:
        return [ok("lag", "no SB_Global row yet: ovn-northd has not run", scope=CLUSTER)]
    out, behind_now = [], []
    started = progress.nb_cfg_timestamp if progress is not None else 0
    for c in sorted(chassis, key=lambda c: c.name):
        if c.name in skip:
            continue  # this host's own ovn-controller is down: reported as such
        if c.nb_cfg is None:
            out.append(warn("lag", f"chassis {c.name} ({c.hostname}) has never reported "
                            "which changes it applied (no Chassis_Private row)",
                            f"check ovn-controller on {c.hostname or c.name}",
                            subject=c.name, scope=CLUSTER))
            continue
        behind = sb_nb_cfg - c.nb_cfg
        if behind <= 0:
            continue
        age = (now_ms - started) / 1000 if started else None
        if age is None or age >= LAG_FAIL_S:
            since = f" for {age:.0f}s" if age is not None else ""
            out.append(fail("lag", f"chassis {c.name} ({c.hostname}) is {behind} NB change(s) "
                            f"behind{since}: its ovn-controller is stopped, stuck or cut off "
                            "from the Southbound DB", f"on {c.hostname or c.name}: `dockovn "
                            "doctor`; if that host is gone for good: dockovn gc --forget-host "
                            f"{c.hostname or c.name}", subject=c.name, scope=CLUSTER))
        else:
            behind_now.append(f"{c.name} {behind} behind for {age:.1f}s")
    if out:
        return out
    if behind_now:
        return [ok("lag", f"catching up: {', '.join(behind_now)}", scope=CLUSTER)]
    return [ok("lag", f"every chassis has applied NB change #{sb_nb_cfg}", scope=CLUSTER)]


def _switch_of(network_id: str, switches: list[LogicalSwitch]) -> LogicalSwitch | None:
    for s in switches:
        if s.name == network_id or external_ids.DOCKER_ID_PREFIX + network_id in s.external_ids:
            return s
    return None


def check_docker_nb(docker: DockerFacts, switches: list[LogicalSwitch],
                    ports: dict[str, LogicalPort], host_id: str | None) -> list[Finding]:
    """This host's Docker and OVN NB tell the same story. ``host_id``: this host's
    system-id, None when it is in doubt (then ports are not attributed to this host)."""
    out = []
    for network_id, name in sorted(docker.networks.items(), key=lambda kv: kv[1]):
        if _switch_of(network_id, switches) is None:
            out.append(fail("docker-nb", f"Docker network {name} has no logical switch in OVN: "
                            "its containers have no connectivity",
                            f"remove it and create it again (docker network rm {name})",
                            subject=name, scope=CLUSTER))
    for s in switches:
        name = s.external_ids.get(external_ids.NETWORK_NAME)
        if s.external_ids.get(external_ids.IPAM) != "dockovn" or not name:
            continue  # host-local addressing stays on its host; unnamed: being created
        if not any(_switch_of(nid, [s]) for nid in docker.networks) \
                and name not in docker.networks.values():
            out.append(warn("docker-nb", f"network {name} is in OVN but not in this host's "
                            "Docker (the driver adds it within a second)",
                            "if it stays missing, read the driver's log (a local network "
                            "of the same name blocks it)", subject=name, scope=CLUSTER))
    for endpoint, e in sorted(docker.endpoints.items()):
        if endpoint not in ports:
            out.append(fail("docker-nb", f"container {e.container}: Docker has it on "
                            f"{e.network} but OVN has no logical port for it: it has no "
                            "connectivity", f"docker network disconnect {e.network} "
                            f"{e.container}; docker network connect {e.network} {e.container}",
                            subject=e.container, scope=CLUSTER))
    if host_id:
        for name, port in sorted(ports.items()):
            if port.external_ids.get(external_ids.HOST) == host_id \
                    and name not in docker.endpoints:
                who = port.external_ids.get(external_ids.CONTAINER_NAME) or "no container"
                out.append(warn("docker-nb", f"logical port {name[:12]} ({who}) was made by "
                                "this host for a container Docker no longer has: a leftover",
                                "the driver's gc removes it within a minute or two; "
                                "`dockovn gc` does it now", subject=name[:12], scope=CLUSTER))
    return out or [ok("docker-nb", f"Docker and OVN agree: {len(docker.networks)} network(s), "
                      f"{len(docker.endpoints)} endpoint(s) here", scope=CLUSTER)]
