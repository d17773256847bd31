"""The set-up commands as a user runs them, against the running stack."""

from __future__ import annotations

import json
import os
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
            done = dockovn("host", "setup", "--central", "local", "--encap-ip", "127.0.0.1")
            assert done.returncode == 0, done.stderr
        after = ovs.host_config()
    finally:
        ovs.close()
    assert after["system-id"] == before["system-id"]  # the chassis keeps its identity
    # The central on this machine: its unix sockets, no TCP at all.
    assert after["ovn-remote"] == "unix:/var/run/ovn/ovnsb_db.sock"
    assert after["ovn-nb"] == "unix:/var/run/ovn/ovnnb_db.sock"
    assert after["ovn-encap-type"] == "geneve" and after["ovn-encap-ip"] == "127.0.0.1"
    assert after["ovn-bridge-datapath-type"] in ("netdev", "system")


def test_status_commands_report_running(stack):
    central = dockovn("central", "status")
    assert central.returncode == 0, central.stdout
    assert "OVN Northbound DB" in central.stdout and "running" in central.stdout
    host = dockovn("host", "status")
    assert host.returncode == 0 and "ovn-controller" in host.stdout


def test_up_again_starts_nothing(stack):
    daemon_json = "/etc/docker/daemon.json"
    before = open(daemon_json).read() if os.path.exists(daemon_json) else None
    try:
        done = dockovn("up", "--no-image")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "started" not in done.stdout.replace("already running", "")
        # Names across hosts: dockovn's name server first among dockerd's, the rest kept.
        config = json.load(open(daemon_json))
        assert config["dns"][0] == "169.254.53.53" and len(config["dns"]) >= 2
        if before:
            assert {k: v for k, v in json.loads(before).items() if k != "dns"} == \
                {k: v for k, v in config.items() if k != "dns"}
    finally:  # give the machine its own daemon.json back
        if before is None:
            if os.path.exists(daemon_json):
                os.unlink(daemon_json)
        else:
            with open(daemon_json, "w") as f:
                f.write(before)


def test_host_setup_refuses_plain_tcp_unless_asked(stack):
    """A bare address would mean plain TCP to a central that listens on SSL: refused
    before anything changes, with the way to do it right."""
    ovs = LocalSwitch()
    try:
        before = ovs.host_config()
        done = dockovn("host", "setup", "--central", "10.9.9.9", "--encap-ip", "127.0.0.1")
        after = ovs.host_config()
    finally:
        ovs.close()
    assert done.returncode != 0
    assert "issue-cert" in done.stderr and "--bundle" in done.stderr
    assert "Traceback" not in done.stderr
    assert after == before


def test_central_issue_cert_needs_a_reachable_address(stack, tmp_path):
    done = dockovn("central", "issue-cert", "h9", "--out", str(tmp_path / "b.tgz"),
                   "--nb-addr", "0.0.0.0", "--sb-addr", "0.0.0.0")
    assert done.returncode != 0 and "--address" in done.stderr
    bad = dockovn("central", "issue-cert", "central", "--out", str(tmp_path / "c.tgz"))
    assert bad.returncode != 0 and "host name" in bad.stderr
    assert not (tmp_path / "b.tgz").exists() and not (tmp_path / "c.tgz").exists()


def test_host_setup_reports_bad_input_clearly(stack):
    done = dockovn("host", "setup", "--central", ",", "--encap-ip", "127.0.0.1")
    assert done.returncode != 0
    assert "--central needs at least one address" in done.stderr
    assert "Traceback" not in done.stderr
