"""Shared logical routers under concurrent writers, against a real NB ovsdb-server:
several drivers (each its own NB connection) attaching networks to one new router
at the same moment, and a network leaving a router while another joins it."""

from __future__ import annotations

import threading
import uuid

import pytest

from dockovn.ovn.nb import Northbound, RouterAttachment

from tests.support import wait

pytestmark = pytest.mark.integration

WRITERS = 6


@pytest.fixture
def writers(nb_db):
    clients = [Northbound(nb_db.remote) for _ in range(WRITERS)]
    yield clients
    for c in clients:
        c.close()


def attachment(router: str, tag: str, i: int) -> RouterAttachment:
    return RouterAttachment(router=router, router_external_ids={"dockovn:router": router},
                            router_port=f"lrp-{tag}-{i}", switch_port=f"rtr-{tag}-{i}",
                            mac=f"0a:58:0a:{i:02x}:00:01", networks=(f"10.{100 + i}.0.1/24",))


def at_once(fn, n: int) -> list:
    barrier = threading.Barrier(n)
    errors: list = []

    def run(i):
        barrier.wait()
        try:
            fn(i)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def routers_named(nb: Northbound, name: str) -> list:
    with nb.api.ovsdb_connection.lock:  # a consistent read of the IDL cache
        return [r for r in nb.api.tables["Logical_Router"].rows.values() if r.name == name]


def test_networks_created_at_once_on_a_new_router_share_one_router(writers, nb):
    for _ in range(5):  # the race needs the right moment: give it several
        tag = uuid.uuid4().hex[:8]
        router = f"dockovn-router-{tag}"
        errors = at_once(lambda i: writers[i].create_switch(
            f"sw-{tag}-{i}", {}, None, attachment(router, tag, i)), WRITERS)
        assert errors == []
        wait.until(lambda: sum(len(r.ports) for r in routers_named(nb, router)) == WRITERS)
        found = routers_named(nb, router)
        assert len(found) == 1, f"{len(found)} routers named {router}"
        for i in range(WRITERS):
            writers[0].delete_switch(f"sw-{tag}-{i}", (), f"lrp-{tag}-{i}")
        wait.until(lambda: routers_named(nb, router) == [])


def test_a_router_keeps_a_network_that_joins_while_the_last_other_leaves(writers, nb):
    for _ in range(8):
        tag = uuid.uuid4().hex[:8]
        router = f"dockovn-router-{tag}"
        writers[0].create_switch(f"sw-{tag}-0", {}, None, attachment(router, tag, 0))
        wait.until(lambda: writers[1].switch(f"sw-{tag}-0") is not None)

        def step(i):
            if i == 0:
                writers[0].delete_switch(f"sw-{tag}-0", (), f"lrp-{tag}-0")
            else:
                writers[1].create_switch(f"sw-{tag}-1", {}, None, attachment(router, tag, 1))

        assert at_once(step, 2) == []
        wait.until(lambda: nb.switch(f"sw-{tag}-1") is not None and nb.switch(f"sw-{tag}-0") is None)
        wait.until(lambda: [len(r.ports) for r in routers_named(nb, router)] == [1],
                   5, what=f"router {router} with the joining network's port")
        writers[1].delete_switch(f"sw-{tag}-1", (), f"lrp-{tag}-1")
