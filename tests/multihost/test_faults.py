"""Faults under churn: a three-member Raft central and two hosts with dockerd; both
hosts make requests all the while (tests/support/faults/churn.py); one fault at a time
(faults/injectors.py); then every invariant (faults/invariants.py) checked and every
violation reported. The module runs on the clustered central (conftest.harness).

Each test: churn on both hosts and a ping from h2's long-lived container to h1's start;
LEAD seconds later the fault is injected, waited out and healed; churn goes on AFTER
seconds more, stops and undoes what it left; after SETTLE seconds, gc runs on every host
and the state checks run, again every few seconds up to CONVERGE (the system converges
in the background: labels, replication, memberships) until they hold. What still does
not hold then is a violation, as is every request that failed outside the fault's
window, on a host it did not touch, or saying something else than the fault's reasons.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import docker as sdk
import pytest

from tests.multihost.test_multihost import IMAGE, create_network, ip_of, network_on, unique
from tests.support import multihost, wait
from tests.support.docker_objects import remove
from tests.support.faults import central, churn, injectors, invariants, ping, report

pytestmark = pytest.mark.multihost

NET_SUBNET, SIDE_SUBNET = "10.90.70.0/24", "10.90.71.0/24"
LEAD, AFTER = 4, 9           # seconds of churn before the fault, and after it healed
SETTLE, CONVERGE = 3, 30     # seconds before the state checks, and for them to hold
CHURN_LIMIT = 150            # churn stops by itself after this, whatever happens
# Each test's record, as JSON (times from the injection): bench/faults reads them.
OPS_DIR = os.environ.get("DOCKOVN_FAULTS_LOG", "/tmp/dkfaults")


@dataclass(frozen=True)
class Scene:
    stage: churn.Stage
    target: str              # on h1: the ping's target
    pinger: str              # on h2
    long_lived: dict[str, str]  # every long-lived container -> its host


# The clustered central, the hosts' tunnels inside WireGuard: the Raft tests and the
# encryption tests share this cluster (conftest.harness), so the faults hit it too.
HARNESS = {"members": 3, "encrypted": True}


@pytest.fixture(scope="module")
def scene(mh):
    made: dict[str, str] = {}   # every long-lived container -> its host
    networks = []
    h1 = mh.cluster.host("h1")

    def policy(*args: str) -> None:
        multihost.in_ns(h1.ns, sys.executable, "-m", "dockovn", "policy", *args,
                        "--ovs-db", h1.ovs_db, timeout=60)

    try:
        net = create_network(mh, "h1", NET_SUBNET, name=unique("fnet"))
        networks.append(net)
        network_on(mh, "h2", net.name)
        side = create_network(mh, "h2", SIDE_SUBNET, name=unique("fside"))
        networks.append(side)
        network_on(mh, "h1", side.name)

        def long_lived(host: str, prefix: str, labels: dict[str, str]) -> str:
            # Restarted with their dockerd (the dockerd-restart fault stops them).
            c = mh.docker(host).containers.run(
                IMAGE, "sleep 100000", detach=True, network=net.name, name=unique(prefix),
                labels={churn.STAGE_LABEL: "1", **labels}, restart_policy={"Name": "always"})
            made[c.name] = host
            return c.name

        target, pinger = long_lived("h1", "fa", {}), long_lived("h2", "fb", {})
        hubs = {h: long_lived(h, f"hub-{h}", {"app": "web"}) for h in ("h1", "h2")}
        long_lived("h2", "fdb", {"app": "db"})
        # A policy that lives through every fault: its membership is checked each time.
        policy("create", "fpol-db", "--network", net.name, "--select", "app=db", "--from",
               "app=web", "--port", "tcp/80")
        a = mh.docker("h1").containers.get(target)
        b = mh.docker("h2").containers.get(pinger)
        wait.until(lambda: invariants.datapath_works([(b, target, ip_of(a, net.name))]) == [],
                   30, step=1, what="the long-lived containers pinging across hosts")
        yield Scene(churn.Stage(net.name, NET_SUBNET, side.name, hubs), target, pinger, made)
    finally:
        # The clustered central stays for the next module that needs one: leave it clean.
        for name, host in made.items():
            try:
                remove(mh.docker(host).containers.get(name))
            except sdk.errors.NotFound:
                pass
        policy("delete", "fpol-db")
        remove(*networks)


def _containers(mh, scene: Scene):
    a = mh.docker("h1").containers.get(scene.target)
    b = mh.docker("h2").containers.get(scene.pinger)
    return a, b


def _live_names(mh, scene: Scene, workers) -> dict[str, tuple[str, str]]:
    """Every long-lived and kept churn container that runs -> (host, address on the net)."""
    names = dict(scene.long_lived)
    names.update({n: w.host.name for w in workers for n in w.kept})
    out = {}
    for name, host in names.items():
        c = mh.docker(host).containers.get(name)
        if c.status == "running":
            out[name] = (host, ip_of(c, scene.stage.net))
    return out


def _converge(mh, scene: Scene, workers) -> tuple[list[str], float, str]:
    """gc, then (a)-(e) and the datapath, until they hold or CONVERGE seconds passed:
    (what still failed, seconds it took, what gc printed)."""
    t0 = time.monotonic()
    removed = {h.name: [n for w in workers if w.host is h for n in w.removed][-2:]
               for h in mh.cluster.hosts}
    gc_printed = []
    while True:
        violations, printed = invariants.collect_garbage(mh.cluster)
        if printed:
            gc_printed.append(f"[{time.monotonic() - t0:.0f}s] {printed}")
        violations += invariants.state(mh.cluster)
        a, b = _containers(mh, scene)
        live = _live_names(mh, scene, workers)
        violations += invariants.names_resolve({"h1": a, "h2": b}, live, removed)
        if a.name in live and b.name in live:
            violations += invariants.datapath_works([(b, a.name, live[a.name][1]),
                                                     (a, b.name, live[b.name][1])])
        else:
            violations.append(f"(g) {a.name} or {b.name} not running")
        if not violations or time.monotonic() - t0 > CONVERGE:
            return violations, time.monotonic() - t0, "\n".join(gc_printed)
        time.sleep(3)


def _keep_log(name: str, ops, injected: float, healed: float, pinged: ping.PingResult,
              violations: list[str]) -> None:
    """Every request churn made and the ping's output, for reading after a failure (the
    test prints a summary)."""
    os.makedirs(OPS_DIR, exist_ok=True)
    rows = [{**asdict(op), "start": round(op.start - injected, 2),
             "end": round(op.end - injected, 2)} for op in ops]
    with open(os.path.join(OPS_DIR, f"{name}.json"), "w") as f:
        json.dump({"healed": round(healed - injected, 2), "ops": rows,
                   "ping": pinged.output, "violations": violations}, f, indent=1)


def test_the_checks_see_what_was_planted(mh, scene):
    """The state checks on the real NB: clean before, and each planted fault reported (a
    check that reads a column wrong would pass everything)."""
    cluster = mh.cluster
    _settled(cluster)
    a, _ = _containers(mh, scene)
    taken = ip_of(a, scene.stage.net)
    switch = mh.docker("h1").networks.get(scene.stage.net).id
    pool = "dockovn_pool_" + NET_SUBNET.replace(".", "_").replace("/", "_")
    stray, unclaimed, keyless, outside = "ffake", "10.90.70.78", "10.90.70.79", "10.90.70.80"
    # A port no dockerd has, on a host that is none of ours, with fa's address and one
    # not in the pool, in the policy's group though its label is not selected; an address
    # in the pool no one holds (and no claim, so gc would leave it); a claim key without
    # its address.
    # (set, not lsp-set-addresses: that one refuses an address twice on a switch)
    central.nbctl(cluster, "lsp-add", switch, stray, "--", "set", "Logical_Switch_Port", stray,
                  f'addresses="0a:58:0a:5a:46:4e {taken} {outside}"',
                  f'external_ids:"dockovn:endpoint-id"={stray}',
                  'external_ids:"dockovn:host"=nohost', 'external_ids:"dockovn:label:app"=web')
    try:
        uuid = central.nbctl(cluster, "--bare", "--columns=_uuid", "find",
                             "Logical_Switch_Port", f"name={stray}").strip()
        central.nbctl(cluster, "add", "Port_Group", "dkpol_fpol_db", "ports", uuid)
        central.nbctl(cluster, "add", "Address_Set", pool, "addresses", f'"{unclaimed}"', "--",
                      "set", "Address_Set", pool, f'external_ids:"dockovn:at:{keyless}"=1')
        found = "\n".join(invariants.state(cluster))
        for want in (f"(a) NB port {stray}", f"(b) {taken} held by 2 ports",
                     f"(b) {outside} of port {stray} on", f"claim key dockovn:at:{keyless} without",
                     f"(c) pool {NET_SUBNET}: ['{unclaimed}'] taken",
                     f"(d) dkpol_fpol_db holds port {stray}"):
            assert want in found, f"{want!r} not reported; reported:\n{found}"
    finally:
        central.nbctl(cluster, "--if-exists", "lsp-del", stray, "--", "remove", "Address_Set",
                      pool, "addresses", f'"{unclaimed}"', "--", "remove", "Address_Set", pool,
                      "external_ids", f'"dockovn:at:{keyless}"')
    _settled(cluster)


def _settled(cluster) -> None:
    """(a)-(d) hold, within a few seconds (labels and names arrive from Docker's events)."""
    deadline = time.monotonic() + 20
    while (violations := invariants.state(cluster)) and time.monotonic() < deadline:
        time.sleep(2)
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("fault", injectors.FAULTS, ids=lambda f: f.name)
def test_fault_under_churn(mh, scene, fault):
    cluster = mh.cluster
    central.wait_whole(cluster)
    a, b = _containers(mh, scene)
    ping.start(b, ip_of(a, scene.stage.net))
    workers = churn.start(cluster, scene.stage, limit=CHURN_LIMIT)
    try:
        try:
            time.sleep(LEAD)
            injected = time.monotonic()
            fault.inject(cluster)
            healed = time.monotonic()
            time.sleep(AFTER)
        finally:
            ops, undone = churn.stop(workers)
            pinged = ping.stop(b)
        violations = [f"(f) churn could not undo {u}" for u in undone]
        violations += invariants.errors_explained(ops, fault, injected, healed)
        kept = invariants.ping_kept(pinged, fault)
        if kept:  # read now: what broke the ping may not outlive the checks below
            kept.append(ping.explain(cluster, b, "h2", a, ip_of(a, scene.stage.net)))
        violations += kept
        time.sleep(SETTLE)
        state, took, gc_printed = _converge(mh, scene, workers)
        violations += state
        _keep_log(fault.name, ops, injected, healed, pinged, violations)
        print()
        print(report.line(fault.name, ops, injected, healed, pinged, took, len(violations)))
        print("\n".join(report.errors(ops, injected)))
        if gc_printed:
            print(gc_printed)
        assert not violations, "\n".join(violations)
    finally:
        churn.sweep(cluster)
