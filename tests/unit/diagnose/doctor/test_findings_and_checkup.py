"""Findings, and the order of checks: a check whose prerequisite failed is skipped."""

import pytest

from dockovn.diagnose.doctor import checkup
from dockovn.diagnose.doctor.findings import Severity, fail, failed, ok, skip, warn, worst


def test_a_problem_must_say_what_to_do():
    with pytest.raises(ValueError):
        fail("ovs", "broken", "")
    assert warn("ovs", "odd", "look").as_dict()["severity"] == "warn"


def test_exit_status_follows_failures_only():
    assert not failed([ok("a", "x"), warn("b", "y", "z"), skip("c", "d")])
    assert failed([ok("a", "x"), fail("b", "y", "z")])
    assert worst([ok("a", "x"), warn("b", "y", "z")]) is Severity.WARN
    assert worst([skip("a", "x")]) is Severity.SKIP


def test_every_check_needs_only_checks_that_run_before_it():
    seen = set()
    for check, _scope, needs, what in checkup.CHECKS:
        assert what
        assert set(needs) <= seen | {"northbound", "southbound"}, check
        seen.add(check)


def test_one_fault_one_finding_the_dependents_are_skipped():
    r = checkup._Results()
    r.run("ovs", lambda: [ok("ovs", "fine")])
    r.run("northbound", lambda: [ok("northbound", "fine")])
    r.run("southbound", lambda: [ok("southbound", "fine")])
    r.run("ovn-controller", lambda: [fail("ovn-controller", "stopped", "start it")])
    r.run("encap", lambda: [ok("encap", "fine")])
    r.run("chassis", lambda: pytest.fail("must not run"))
    r.run("tunnel", lambda: pytest.fail("must not run"))
    r.run("endpoints", lambda: pytest.fail("must not run"))
    r.run("driver", lambda: [])
    by_check = {f.check: f for f in r.findings}
    assert [f.check for f in r.findings if f.problem] == ["ovn-controller"]
    assert by_check["chassis"].severity is Severity.SKIP
    assert "ovn-controller failed" in by_check["chassis"].summary
    assert "chassis was not checked" in by_check["tunnel"].summary
    assert by_check["driver"].severity is Severity.SKIP  # nothing to check


def test_a_read_that_fails_is_that_checks_failure_and_the_rest_go_on():
    r = checkup._Results()

    def broken():
        raise ConnectionError("connection reset")

    r.run("driver", broken)
    r.run("dockerd", lambda: [ok("dockerd", "fine")])
    (f, g) = r.findings
    assert f.severity is Severity.FAIL and "could not be checked: connection reset" in f.summary
    assert g.severity is Severity.OK


def test_a_warning_does_not_stop_the_checks_that_need_it():
    r = checkup._Results()
    r.run("ovs", lambda: [warn("ovs", "odd", "look")])
    r.run("encap", lambda: [ok("encap", "fine")])
    assert r.passed("encap")


def test_the_ovs_rundir_defaults_to_the_db_sockets_folder():
    assert checkup.Config("n", "s", ovs_db="unix:/tmp/dkmh/h1/db.sock").rundir == "/tmp/dkmh/h1"
    assert checkup.Config("n", "s", ovs_db="tcp:1.2.3.4:6640").rundir == "/var/run/openvswitch"
    assert checkup.Config("n", "s", ovs_rundir="/x").rundir == "/x"
