"""daemon.json's dns list: our server first, the user's settings kept, idempotent."""

from __future__ import annotations

import json

import pytest

from dockovn.deploy import docker_dns


def test_configure_keeps_other_settings_and_is_idempotent(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"log-level": "warn", "dns": ["10.9.9.9"]}))
    changed, servers = docker_dns.configure(str(path), "169.254.53.53")
    assert changed and servers == ["169.254.53.53", "10.9.9.9"]
    assert json.loads(path.read_text()) == {"log-level": "warn",
                                             "dns": ["169.254.53.53", "10.9.9.9"]}
    assert docker_dns.configure(str(path), "169.254.53.53") == (False, servers)


def test_configure_without_a_file_takes_the_given_upstreams(tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    changed, servers = docker_dns.configure(str(path), "169.254.53.53", ["172.31.255.1"])
    assert changed and json.loads(path.read_text()) == {"dns": ["169.254.53.53", "172.31.255.1"]}


def test_host_upstreams_skip_loopback_like_dockerd(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch x\n")
    assert docker_dns.host_upstreams(str(conf)) == ["192.0.2.1"]
    conf.write_text("nameserver 127.0.0.1\n")
    assert docker_dns.host_upstreams(str(conf)) == docker_dns.DOCKER_FALLBACK


def test_host_upstreams_skip_ipv6_link_local_which_dockerd_refuses(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver fe80::1%eth0\nnameserver fe80::2\nnameserver 169.254.169.253\n"
                    "nameserver 2001:db8::53\n")
    assert docker_dns.host_upstreams(str(conf)) == ["169.254.169.253", "2001:db8::53"]


def test_a_broken_daemon_json_is_refused(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        docker_dns.configure(str(path), "169.254.53.53")
    assert path.read_text() == "{not json"
