"""A central and two hosts in network namespaces, each host with its own OVS,
ovn-controller, dockerd and dockovn driver (see tests/support/multihost.py)."""

from __future__ import annotations

import os

import pytest

from tests.support import multihost


class ClusterHandle:
    """The running cluster; a test may tear it down and start it again."""

    def __init__(self):
        self.cluster = multihost.start(2)
        self.clients = {}

    def docker(self, host: str):
        if host not in self.clients:
            self.clients[host] = self.cluster.host(host).docker()
        return self.clients[host]

    def restart(self, members: int = 1, plugin: str | None = None) -> None:
        """Start afresh; ``members`` > 1: with a Raft central of that many members;
        ``plugin``: dockovn as a managed plugin from that folder on every host."""
        self.close_clients()
        multihost.teardown()
        self.cluster = multihost.start(2, members, plugin)

    def close_clients(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients = {}


@pytest.fixture(scope="session")
def mh():
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, OVS)")
    handle = ClusterHandle()
    try:
        yield handle
    finally:
        handle.close_clients()
        multihost.teardown()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "mh" in item.fixturenames:
        # Keep the daemons' logs: teardown removes their folder.
        report.sections.append(("multihost logs", f"copied to {multihost.save_logs()}"))
