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
        self.config: tuple = (1, None, False)  # (members, plugin, encrypted) it runs with

    def docker(self, host: str):
        if host not in self.clients:
            self.clients[host] = self.cluster.host(host).docker()
        return self.clients[host]

    def restart(self, members: int = 1, plugin: str | None = None,
                encrypted: bool = False) -> None:
        """Start afresh; ``members`` > 1: with a Raft central of that many members;
        ``plugin``: dockovn as a managed plugin from that folder on every host;
        ``encrypted``: the hosts' tunnels inside WireGuard."""
        self.close_clients()
        multihost.teardown()
        self.config = (0, None, False)  # (if the start fails, what comes next starts afresh)
        self.cluster = multihost.start(2, members, plugin, encrypted=encrypted)
        self.config = (members, plugin, encrypted)

    def use(self, members: int = 1, plugin: str | None = None, encrypted: bool = False,
            prepare=None) -> None:
        """Run with this central and driver from now on: started afresh (after
        ``prepare()``, if given) only if the cluster runs with others (a module leaves the
        cluster as it was; the next one that needs another kind makes it)."""
        if self.config != (members, plugin, encrypted):
            if prepare is not None:
                prepare()
            self.restart(members, plugin, encrypted)

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


@pytest.fixture(scope="module", autouse=True)
def harness(request, mh):
    """The kind of cluster the module asks for (its ``HARNESS``: the central's members;
    default one), for all its tests. Restarts cost ~30 s each: modules are ordered so
    that those asking for the same kind run one after the other (below)."""
    mh.use(**getattr(request.module, "HARNESS", {}),
           prepare=getattr(request.module, "prepare_harness", None))


def _harness_key(item) -> tuple:
    config = getattr(item.module, "HARNESS", {})
    return (bool(config), tuple(sorted((k, str(v)) for k, v in config.items())))


def pytest_collection_modifyitems(session, config, items):
    """Multi-host modules grouped by the cluster they need (see ``harness``), in their
    places among the session's items, each group in its own order."""
    slots = [i for i, item in enumerate(items) if "mh" in getattr(item, "fixturenames", ())]
    ordered = sorted(slots, key=lambda i: (_harness_key(items[i]), i))
    moved = [items[i] for i in ordered]
    for i, item in zip(slots, moved):
        items[i] = item


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "mh" in item.fixturenames:
        # Keep the daemons' logs: teardown removes their folder.
        report.sections.append(("multihost logs", f"copied to {multihost.save_logs()}"))
