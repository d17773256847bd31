"""The metrics' pure parts: parsing what OVS and OVN daemons say, DNS answer kinds,
pool capacity, the exporter's address, and the collectors' output."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dockovn import metrics
from dockovn.metrics import daemons
from dockovn.metrics.exporter import parse_address
from dockovn.metrics.state import Connection, DriverState, PoolUsage
from dockovn.network.overlay.usage import capacity

COVERAGE = """\
Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash=4a7c5b8f:
bridge_reconfigure         0.0/sec     0.000/sec        0.0017/sec   total: 7
netdev_sent               12.4/sec     3.150/sec        0.2000/sec   total: 4323
116 events never hit
"""

STOPWATCH = """\
Statistics for 'flow-generation'
  Total samples: 27
  Maximum: 18 msec
  Minimum: 0 msec
  95th percentile: 5.912500 msec
  Short term average: 0.478125 msec
  Long term average: 1.047383 msec
Statistics for 'pflow-output'
  Total samples: 3
  Maximum: 1 msec
  Minimum: 0 msec
  95th percentile: 0.000000 msec
  Short term average: 0.000000 msec
  Long term average: 0.500000 msec
"""

RAFT = """\
a1b2
Name: OVN_Northbound
Cluster ID: 0d1e (0d1e0d1e-0000-0000-0000-000000000000)
Server ID: a1b2 (a1b2a1b2-0000-0000-0000-000000000000)
Address: ssl:172.31.255.1:6643
Status: cluster member
Role: leader
Term: 4
Leader: self
Vote: self
"""


def test_coverage_totals_by_event():
    assert daemons.parse_coverage(COVERAGE) == {"bridge_reconfigure": 7, "netdev_sent": 4323}


def test_stopwatches():
    got = daemons.parse_stopwatches(STOPWATCH)
    assert got["flow-generation"] == {"samples": 27, "max_ms": 18, "p95_ms": 5.9125,
                                      "avg_ms": 1.047383}
    assert got["pflow-output"]["samples"] == 3


def test_raft_term_and_role():
    assert daemons.parse_raft(RAFT) == (4, True)
    assert daemons.parse_raft(RAFT.replace("Role: leader", "Role: follower")) == (4, False)
    assert daemons.parse_raft("no such database") is None


def test_elections_are_term_increments_between_scrapes(monkeypatch, tmp_path):
    counters = daemons.DaemonCounters([str(tmp_path)])
    terms = iter([4, 4, 6, 6])  # one per scrape
    monkeypatch.setattr(daemons, "find_daemons",
                        lambda _dirs: [daemons.Daemon("ovn-nb-db", "ctl")])
    monkeypatch.setattr(daemons, "appctl", lambda _ctl, *cmd: (
        RAFT.replace("Term: 4", f"Term: {next(terms)}") if cmd[0] == "cluster/status"
        else COVERAGE))
    registry = CollectorRegistry()
    registry.register(counters)
    seen = [registry.get_sample_value("dockovn_raft_elections_seen_total", {"db": "nb"})
            for _ in range(3)]
    assert seen == [0.0, 0.0, 2.0]
    assert registry.get_sample_value("dockovn_daemon_coverage_events_total",
                                     {"daemon": "ovn-nb-db", "event": "netdev_sent"}) == 4323


def test_find_daemons_by_pidfile_and_socket(tmp_path):
    (tmp_path / "ovs-vswitchd.pid").write_text("4242\n")
    (tmp_path / "ovs-vswitchd.4242.ctl").write_text("")
    (tmp_path / "ovn-controller.pid").write_text("4343\n")   # its socket is gone
    (tmp_path / "ovn-northd.pid").write_text("4444\n")       # --unixctl: a fixed name
    (tmp_path / "ovn-northd.ctl").write_text("")
    found = daemons.find_daemons([str(tmp_path)])
    assert found == [daemons.Daemon("ovs-vswitchd", str(tmp_path / "ovs-vswitchd.4242.ctl")),
                     daemons.Daemon("ovn-northd", str(tmp_path / "ovn-northd.ctl"))]


@pytest.mark.parametrize("rcode, answers, kind", [
    (0, 1, "answer"), (0, 0, "no_data"), (3, 0, "nxdomain"), (5, 0, "refused"), (2, 0, "other")])
def test_dns_answer_kind(rcode, answers, kind):
    header = bytes([0, 1, 0x81, 0x80 | rcode, 0, 1]) + answers.to_bytes(2, "big") + bytes(4)
    assert metrics.dns_answer_kind(header) == kind
    assert metrics.dns_answer_kind(None) == "other"


@pytest.mark.parametrize("subnet, address_range, size", [
    ("10.0.0.0/24", None, 254), ("10.0.0.0/24", "10.0.0.128/25", 127),
    ("10.0.0.0/31", None, 2), ("fd00::/120", None, 256)])
def test_pool_capacity(subnet, address_range, size):
    assert capacity(subnet, address_range) == size


def test_metrics_address():
    assert parse_address("127.0.0.1:9476") == ("127.0.0.1", 9476)
    assert parse_address("[::1]:9476") == ("::1", 9476)
    for bad in ("9476", "localhost:9476", "127.0.0.1:0", "127.0.0.1:http"):
        with pytest.raises(ValueError, match="metrics address"):
            parse_address(bad)


def test_driver_state_collector():
    registry = CollectorRegistry()
    registry.register(DriverState(
        lambda: [Connection("nb", True, 3), Connection("ovs", False, 1)],
        lambda: [PoolUsage("p10_0_0_0_24", "10.0.0.0/24", 12, 254)],
        lambda: {"web": 2}))
    text = generate_latest(registry).decode()
    assert 'dockovn_ovsdb_connected{db="nb"} 1.0' in text
    assert 'dockovn_ovsdb_connected{db="ovs"} 0.0' in text
    assert 'dockovn_ovsdb_reconnects_total{db="nb"} 2.0' in text
    assert 'dockovn_pool_addresses_used{pool="p10_0_0_0_24",subnet="10.0.0.0/24"} 12.0' in text
    assert 'dockovn_host_ports{network="web"} 2.0' in text


def test_a_failing_sync_counts_as_failed():
    before = metrics.SYNCS.labels("names", "failed")._value.get()
    with pytest.raises(RuntimeError):
        with metrics.counted_sync("names"):
            raise RuntimeError("docker away")
    assert metrics.SYNCS.labels("names", "failed")._value.get() == before + 1


def test_the_dashboard_asks_only_for_metrics_dockovn_exports():
    """Every dockovn_* name in the Grafana dashboard is one the code exports."""
    import json
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[3]
    board = json.loads((root / "packaging" / "grafana" / "dockovn-dashboard.json").read_text())
    asked = {name for p in board["panels"] for t in p["targets"]
             for name in re.findall(r"\bdockovn_[a-z_]+", t["expr"])}
    sources = "".join(p.read_text() for p in (root / "src" / "dockovn" / "metrics").glob("*.py"))
    exported = set(re.findall(r'"(dockovn_[a-z_]+)"', sources))
    def known(name: str) -> bool:
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        return name in exported or base in exported
    assert asked and all(known(n) for n in asked), sorted(n for n in asked if not known(n))
