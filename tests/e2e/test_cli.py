"""The set-up commands as a user runs them, against the running stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockovn.host.ovs import LocalSwitch

pytestmark = pytest.mark.e2e


def dockovn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dockovn", *args], capture_output=True,
                          text=True, timeout=120)


def test_host_setup_is_idempotent(stack):
    ovs = LocalSwitch()
    try:
        before = ovs.host_config()
        for _ in range(2):
            done = dockovn("host", "setup", "--central", "127.0.0.1", "--encap-ip", "127.0.0.1")
            assert done.returncode == 0, done.stderr
        after = ovs.host_config()
    finally:
        ovs.close()
    assert after["system-id"] == before["system-id"]  # the chassis keeps its identity
    assert after["ovn-remote"] == "tcp:127.0.0.1:6642"
    assert after["ovn-nb"] == "tcp:127.0.0.1:6641"
    assert after["ovn-encap-type"] == "geneve" and after["ovn-encap-ip"] == "127.0.0.1"
    assert after["ovn-bridge-datapath-type"] in ("netdev", "system")


def test_status_commands_report_running(stack):
    central = dockovn("central", "status")
    assert central.returncode == 0, central.stdout
    assert "OVN Northbound DB" in central.stdout and "running" in central.stdout
    host = dockovn("host", "status")
    assert host.returncode == 0 and "ovn-controller" in host.stdout


def test_up_again_starts_nothing(stack):
    done = dockovn("up", "--no-image")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "started" not in done.stdout.replace("already running", "")


def test_host_setup_reports_bad_input_clearly(stack):
    done = dockovn("host", "setup", "--central", ",", "--encap-ip", "127.0.0.1")
    assert done.returncode != 0
    assert "--central needs at least one address" in done.stderr
    assert "Traceback" not in done.stderr
