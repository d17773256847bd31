"""bench/releases/compare.py: two releases' raw samples into one side-by-side table."""

from __future__ import annotations

import json
import os

from bench.releases import compare
from bench.request_path.floor import STEPS
from bench.request_path.latency import CONTAINER, START


def _results(folder, versions: str, start_ms: list[float], container_ms: list[float],
             run_ms: tuple[float, float], floor_step_ms: float, fresh_s, windows_s) -> None:
    os.makedirs(folder, exist_ok=True)
    series = {START: [v / 1000 for v in start_ms], CONTAINER: [v / 1000 for v in container_ms]}
    floor = {step: [floor_step_ms / 1000] * 3 for step in STEPS}
    results = {
        "env": {"versions": versions + ", dockovn 0.1.0", "Python": "3.13.5 for dockovn (x)"},
        "host_floor_s": {"10": floor, "1000": floor},
        "latency": {"dockovn": {"samples_s": {"10": series, "1000": series}},
                    "upstream": {"samples_s": {"10": series,
                                               "1000": {k: [2 * s for s in v]
                                                        for k, v in series.items()}}}},
        "docker": {"run_dockovn": [run_ms[0] / 1000] * 3, "run_bridge": [run_ms[1] / 1000] * 3},
    }
    for stem, body in (("results", results), ("names", {"freshness_s": fresh_s}),
                       ("failover", {"window_s": {"h1": windows_s, "h2": windows_s}})):
        with open(os.path.join(folder, f"{stem}.json"), "w") as f:
            json.dump(body, f)


def _row(text: str, label: str) -> list[str]:
    line = next(l for l in text.splitlines() if l.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_each_release_gets_its_own_column(tmp_path):
    _results(tmp_path / "debian12", "Docker 20.10.24", [10, 12, 14], [40, 42, 44], (400, 300), 3.0,
             [0.1, 0.2, 0.3], [1.5, 2.5])
    _results(tmp_path / "debian13", "Docker 26.1.5", [20, 22, 24], [50, 52, 54], (330, 300),
             4.0, [0.05], [1.0, 3.0])
    assert compare.main(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "releases.md").read_text()
    assert _row(text, "Docker, OVS, OVN") == ["Docker 20.10.24", "Docker 26.1.5"]
    assert _row(text, "dockovn CreateEndpoint+Join at 10 ports (ms, median)") == ["12.0", "22.0"]
    # The floor of CreateEndpoint+Join is its three setup steps.
    assert _row(text, "its floor at 10 ports (ms)") == ["9.0", "12.0"]
    assert _row(text, "dockovn / floor, CreateEndpoint+Join at 10 ports") == ["1.33x", "1.83x"]
    assert _row(text, "upstream per container, 1000 ports / 10") == ["2.00x", "2.00x"]
    assert _row(text, "dockovn / bridge, `docker run -d`") == ["1.33x", "1.10x"]
    assert _row(text, "NB leader kill -9 -> first `docker run` (s, median)") == ["2.00", "2.00"]
    assert _row(text, "same, max (s)") == ["2.50", "3.00"]
    assert (tmp_path / "releases.png").stat().st_size > 0
    assert json.loads((tmp_path / "releases.json").read_text())["releases"][1]["label"] == "Debian 13"


def test_a_release_that_has_not_run_is_named(tmp_path, capsys):
    _results(tmp_path / "debian12", "Docker 20.10.24", [10], [40], (400, 300), 3.0, [0.1], [1.5])
    assert compare.main(["--out", str(tmp_path)]) == 1
    assert "make bench-releases" in capsys.readouterr().err
    assert not (tmp_path / "releases.md").exists()
