"""`make bench` at tiny sizes, so the benchmark cannot rot unnoticed.

Runs bench/request_path/run.py end to end (both drivers, dockerd, the report and the plot)
with two network sizes and a few containers each. Timings are only checked to
exist, never compared with the targets: a timed assertion would fail on a busy
machine, not on a regression.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from bench.request_path.drivers import SYSTEM_PYTHON, UPSTREAM_SOURCE

pytestmark = pytest.mark.bench

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "needs root (veths, OVS ports, dockerd)"
    if not os.path.exists(UPSTREAM_SOURCE):
        return f"{UPSTREAM_SOURCE} missing (make bench-deps installs ovn-docker)"
    if subprocess.run([SYSTEM_PYTHON, "-c", "import flask"], capture_output=True).returncode:
        return "python3-flask missing (make bench-deps installs it)"
    if importlib.util.find_spec("matplotlib") is None:
        return "the bench extra is missing (make bench-deps installs it)"
    return None


def test_benchmark_runs_at_tiny_sizes(tmp_path):
    reason = _prerequisites()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        [sys.executable, "-m", "bench.request_path.run", "--smoke", "--stop-started", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"

    report = (tmp_path / "results.md").read_text()
    assert report.strip() == done.stdout.strip()  # printed and saved alike
    for heading in ("## Machine and versions", "## Driver latency", "## docker run -d",
                    "## Time to connectivity", "## Footprint", "## Targets",
                    "## Where dockovn's request time goes", "## The request path next to its floor"):
        assert heading in report, heading
    assert "Nothing was left behind" in report, report.split("## Clean-up")[-1]
    assert "upstream patch: Python 3 fix" in report  # the output says what was changed

    data = json.loads((tmp_path / "results.json").read_text())
    floor = data["host_floor_s"]  # timed at each size, in turn with the drivers
    assert set(floor) == {"2", "6"}, floor
    for steps in floor.values():
        assert set(steps) == {"veth create", "OVS add port", "NB add port", "NB delete port",
                              "OVS remove port", "veth delete"}
        assert all(len(v) == 3 and all(s > 0 for s in v) for v in steps.values()), steps
    for driver in ("upstream", "dockovn"):  # the protocol's own cost, per driver and size
        noop = data["latency"][driver]["samples_s"]["6"]["DiscoverNew"]
        assert len(noop) == 3 and all(s > 0 for s in noop), noop
    assert "2 x DiscoverNew" in report
    assert "CreateEndpoint+Join / its floor" in report
    for driver in ("upstream", "dockovn"):
        samples = data["latency"][driver]["samples_s"]
        assert sorted(samples, key=int) == ["2", "6"]
        for size, series in samples.items():
            for name in ("CreateEndpoint", "Join", "Leave", "DeleteEndpoint", "container"):
                assert len(series[name]) == 3 and all(v > 0 for v in series[name]), (driver, size, name)
        assert data["latency"][driver]["rows_create"], driver
    docker = data["docker"]
    assert len(docker["run_dockovn"]) == len(docker["run_bridge"]) == 2
    assert len(docker["connect_dockovn"]) == 2, docker["failures"]

    with open(tmp_path / "latency.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_names_benchmark_runs_at_tiny_sizes(tmp_path):
    """bench/names/run.py on the two-host harness, two containers and two queries each."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, dockerd)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run(
        [sys.executable, "-m", "bench.names.run", "--trials", "2", "--queries", "2",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "names.json").read_text())
    assert len(data["freshness_s"]) == 2
    assert set(data["query_s"]) == {"other host (dockovn)", "same host (Docker)",
                                    "external (upstream)"}
    # (/proc/uptime counts in 10 ms steps: two quick queries may well read 0)
    assert all(v >= 0 for series in data["query_s"].values() for v in series)
    assert "## Names across hosts" in (tmp_path / "names.md").read_text()
    with open(tmp_path / "names.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_names_load_benchmark_runs_at_tiny_sizes(tmp_path):
    """bench/names/load.py on the two-host harness: 50 queries/s for 3 s, h1's dockerd
    restarted halfway. Known sources must get an answer to every query."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, dockerd)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run(
        [sys.executable, "-m", "bench.names.load", "--rate", "50", "--seconds", "3",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "names-load.json").read_text())
    summary = data["summary"]
    assert set(summary) == {"steady", "restart", "after"}
    for phase, kinds in summary.items():
        assert {"one", "many", "unknown"} <= set(kinds), (phase, kinds)
        for kind in ("one", "many"):  # known sources
            s = kinds[kind]
            assert s["sent"] > 0 and s["no_answer"] == 0, (phase, kind, s)
    for phase in ("steady", "restart"):  # unknown sources: refused, never answered
        outcomes = summary[phase]["unknown"]["outcomes"]
        assert "REFUSED" in outcomes and "NOERROR" not in outcomes, (phase, outcomes)
    many = summary["steady"]["many"]  # cut over UDP, so every answer came over TCP
    assert many["tcp"] == many["answered"] > 0, many
    assert "## Names under load" in (tmp_path / "names-load.md").read_text()
    with open(tmp_path / "names-load.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_failover_benchmark_runs_with_one_kill(tmp_path):
    """bench/failover/run.py on the three-member harness, one leader kill."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, dockerd)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run([sys.executable, "-m", "bench.failover.run", "--kills", "1", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "failover.json").read_text())
    assert all(len(v) == 1 and v[0] > 0 for v in data["window_s"].values()), data
    with open(tmp_path / "failover.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_policy_benchmark_runs_at_tiny_sizes(tmp_path):
    """bench/policy/run.py on the two-host harness: one run each, two policies, one container."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, dockerd)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run([sys.executable, "-m", "bench.policy.run", "--trials", "1", "--containers",
                           "1", "--policies", "2", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "policy.json").read_text())
    assert len(data["enforcement"]["create_to_enforced_s"]) == 1
    assert data["new_containers"]["endpoint label"]["exposed_s"] == [0.0]
    # ACLs grow with policies, not with containers.
    acls: dict[int, set[int]] = {}
    for row in data["growth"]:
        acls.setdefault(row["policies"], set()).add(row["acls"])
    assert sorted(acls) == [0, 2] and all(len(v) == 1 for v in acls.values()), data["growth"]
    assert acls[2].pop() - acls[0].pop() == 8  # drop, ND, own connections, allow: four each
    with open(tmp_path / "policy.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_scale_benchmark_runs_at_tiny_sizes(tmp_path):
    """bench/scale/run.py on two hosts without dockerd: six container ports, two probed, NB
    topped up to 200 ports (and emptied again)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, Open vSwitch, OVN)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run([sys.executable, "-m", "bench.scale.run", "--hosts", "2", "--ports", "6",
                           "--sample", "2", "--nb-ports", "200", "--idle", "1", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "scale.json").read_text())
    assert set(data) >= {"env", "args", "sizes", "nb_scale", "runtime_s"}
    (size,) = data["sizes"]
    assert size["hosts"] == 2 and size["checkpoints"][-1]["ports"] == 6
    assert len(size["reachability"]) == 2
    assert all(r["s"] is not None and r["s"] > 0 for r in size["reachability"]), size
    for point in size["checkpoints"]:
        assert point["up"] == point["ports"]
        assert set(point["central"]) == {"NB ovsdb-server", "SB ovsdb-server", "ovn-northd"}
        assert all(s["cpu_s"] >= 0 and s["rss_kib"] > 0 for s in point["central"].values())
        assert set(point["hosts"]["driver"]) == {"h1", "h2"}
        assert all(n > 0 for n in point["openflow"].values()) and point["logical_flows"] > 0
    for startup in (size["startup"], data["nb_scale"]["startup"]):
        assert set(startup) == {"h1", "h2"}
        assert all(0 < s["socket_s"] <= s["synced_s"] and s["rss_kib"] > 0
                   for s in startup.values()), startup
    assert data["nb_scale"]["nb_ports"] == 200
    report = (tmp_path / "scale.md").read_text()
    for heading in ("## Machine and versions", "## At 6 container ports", "## Targets",
                    "## Growth with ports", "## NB at 200 logical switch ports",
                    "## What grows worse than linearly"):
        assert heading in report, heading
    with open(tmp_path / "scale.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Nothing left: the harness's namespaces and ours.
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in left.split() if n.startswith(("dksc-", "dkmh-"))], left


def test_observability_benchmark_runs_at_tiny_sizes(tmp_path):
    """bench/observability/run.py: one block of two containers per phase."""
    if os.geteuid() != 0:
        pytest.skip("needs root (veths, OVS ports)")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the bench extra is missing (make bench-deps installs it)")
    done = subprocess.run([sys.executable, "-m", "bench.observability.run", "--blocks", "1",
                           "--block", "2", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stderr:\n{done.stderr[-4000:]}\nstdout:\n{done.stdout[-4000:]}"
    data = json.loads((tmp_path / "observability.json").read_text())
    assert all(len(data["samples_s"][phase]["container"]) == 2
               for phase in ("quiet", "scraped", "watched")), data["samples_s"]
    assert data["scrape_s"] and data["page_updates"] >= 1
    assert not data["leftovers"], data["leftovers"]
    with open(tmp_path / "observability.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
