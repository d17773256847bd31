"""`dockovn topology` output paths, with the topology read replaced by a built one."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from dockovn.cli import topology as cli
from dockovn.diagnose.topology.model import build

from tests.unit.diagnose.topology.test_topology_graph import reads


@pytest.fixture
def built(monkeypatch):
    monkeypatch.setattr(cli, "_read", lambda nb, sb, ovs_db: build(reads()))


def test_dot_needs_no_graphviz_binary(built, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    out = tmp_path / "t.dot"
    done = CliRunner().invoke(cli.topology_command, ["--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    assert out.read_text().startswith("digraph dockovn {")
    data = json.loads(done.stdout)
    assert {h["name"] for h in data["hosts"]} == {"h1", "h2"}


def test_svg_without_dot_says_what_to_install(built, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    done = CliRunner().invoke(cli.topology_command, ["--out", str(tmp_path / "t.svg")])
    assert done.exit_code == 1 and "apt-get install graphviz" in done.output


def test_unknown_suffix_is_refused(built, tmp_path):
    done = CliRunner().invoke(cli.topology_command, ["--out", str(tmp_path / "t.jpeg")])
    assert done.exit_code == 2 and ".svg, .png, .pdf or .dot" in done.output


def test_outline_lists_hosts_and_containers(built):
    done = CliRunner().invoke(cli.topology_command, [])
    assert done.exit_code == 0, done.output
    text = done.output
    assert text.index("h1") < text.index("web") < text.index("h2") < text.index("db")
    assert "old down" in text and "orders VIP 10.1.0.250:80" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png(built, tmp_path):
    out = tmp_path / "t.png"
    done = CliRunner().invoke(cli.topology_command, ["--out", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_bytes().startswith(b"\x89PNG")
