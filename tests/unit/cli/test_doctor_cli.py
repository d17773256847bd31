"""`dockovn doctor` output and exit status, with the checks replaced by given findings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dockovn.cli import doctor as cli
from dockovn.diagnose.doctor.findings import CLUSTER, fail, ok, skip, warn


@pytest.fixture
def findings(monkeypatch):
    given, seen = [], {}

    def run(cfg):
        seen["cfg"] = cfg
        return list(given)

    monkeypatch.setattr(cli, "host_connection", lambda ovs_db: ("ssl:n:6641", "ssl:s:6642", None))
    monkeypatch.setattr(cli.checkup, "run", run)
    return given, seen


def test_healthy_exits_0_and_uses_the_hosts_recorded_central(findings):
    given, seen = findings
    given += [ok("ovs", "fine"), ok("raft", "standalone", scope=CLUSTER)]
    done = CliRunner().invoke(cli.doctor_command, ["--ovs-db", "unix:/tmp/x/db.sock"])
    assert done.exit_code == 0, done.output
    assert "no problems found" in done.output
    assert (seen["cfg"].nb, seen["cfg"].sb, seen["cfg"].rundir) == (
        "ssl:n:6641", "ssl:s:6642", "/tmp/x")


def test_a_warning_alone_exits_0_a_failure_exits_1(findings):
    given, _ = findings
    given += [warn("lag", "slow", "look", scope=CLUSTER)]
    assert CliRunner().invoke(cli.doctor_command, []).exit_code == 0
    given += [fail("driver", "down", "start it"), skip("dockerd", "driver failed")]
    done = CliRunner().invoke(cli.doctor_command, [])
    assert done.exit_code == 1
    assert "start it" in done.output and "2 problem(s)" in done.output


def test_json_lists_every_finding_with_what_to_do(findings):
    given, _ = findings
    given += [ok("ovs", "fine"), fail("tunnel", "blocked", "allow UDP 6081", subject="h2")]
    done = CliRunner().invoke(cli.doctor_command, ["--json"])
    assert done.exit_code == 1
    data = json.loads(done.stdout)
    assert data[1] == {"check": "tunnel", "severity": "fail", "summary": "blocked",
                       "action": "allow UDP 6081", "subject": "h2", "scope": "host"}
