"""Which networks a query's source is on: never a Docker call on the answering path
beyond a bounded wait, and an answer whatever Docker's state."""

from __future__ import annotations

import threading
import time

import pytest

from dockovn.network.names import scope as scope_module
from dockovn.network.names.scope import SourceScope


class _Docker:
    """What this host's Docker says (network members), or an error while it restarts."""

    def __init__(self):
        self.members = {"c1": ["172.18.0.2", "10.0.0.2"]}
        self.down = False
        self.slow = 0.0
        self.calls = 0

    def engine(self):
        return self

    def network_members(self):
        self.calls += 1
        time.sleep(self.slow)
        if self.down:
            raise ConnectionError("dockerd is restarting")
        return [("net1", "dockovn", dict(self.members)),
                ("gw", "bridge", {c: [a[0]] for c, a in self.members.items()})]

    def network_events(self):
        return iter(threading.Event().wait, True)  # blocks: no events in these tests

    def close(self):
        pass


@pytest.fixture
def docker():
    return _Docker()


@pytest.fixture
def scope(docker):
    s = SourceScope(docker.engine, lambda network_id: "sw-" + network_id)
    s.start()
    yield s
    s.stop()


def test_a_container_started_a_moment_ago_is_known_at_its_first_query(scope, docker):
    assert scope.switches("172.18.0.2") == {"sw-net1"}
    docker.members["c2"] = ["172.18.0.3", "10.0.0.3"]
    assert scope.switches("172.18.0.3") == {"sw-net1"}


def test_an_unknown_source_costs_one_rebuild_then_answers_at_once(scope, docker):
    scope.switches("172.18.0.2")
    calls = docker.calls
    assert scope.switches("172.17.0.5") == set()        # on Docker's default bridge
    assert docker.calls == calls + 1
    t0 = time.monotonic()
    for _ in range(100):
        assert scope.switches("172.17.0.5") == set()
    assert time.monotonic() - t0 < 0.1 and docker.calls == calls + 1


def test_docker_down_answers_within_the_bound_from_the_last_map(scope, docker, monkeypatch):
    monkeypatch.setattr(scope_module, "UNKNOWN_WAIT", 0.5)
    assert scope.switches("172.18.0.2") == {"sw-net1"}
    docker.down, docker.slow = True, 3.0  # a listing that hangs, then fails
    t0 = time.monotonic()
    assert scope.switches("172.18.0.9") == set()
    assert time.monotonic() - t0 < 1.0
    assert scope.switches("172.18.0.2") == {"sw-net1"}  # known ones: the last map
    assert time.monotonic() - t0 < 1.1
