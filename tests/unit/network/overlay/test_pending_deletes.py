"""A DeleteNetwork whose NB delete failed is retried until NB takes it, and given up
(the network stays) if containers are on it meanwhile."""

from __future__ import annotations

import threading

from dockovn.network.overlay import pending_deletes
from dockovn.network.overlay.pending_deletes import PendingDeletes
from dockovn.ovn.errors import NorthboundError


def _until(event: threading.Event) -> bool:
    return event.wait(5)


def test_retried_until_the_central_takes_it(monkeypatch):
    monkeypatch.setattr(pending_deletes, "RETRY_EVERY", 0.01)
    tries, done = [], threading.Event()

    def delete(name):
        tries.append(name)
        if len(tries) < 3:
            raise NorthboundError("OVN central is unreachable")
        done.set()

    pending = PendingDeletes(delete, lambda name: False)
    pending.add("sw1")
    assert "sw1" in pending  # replication leaves it alone meanwhile
    assert _until(done)
    for _ in range(500):
        if "sw1" not in pending:
            break
        threading.Event().wait(0.01)
    assert tries == ["sw1"] * 3 and "sw1" not in pending


def test_kept_when_containers_are_on_it_again(monkeypatch):
    monkeypatch.setattr(pending_deletes, "RETRY_EVERY", 0.01)
    deleted = []
    pending = PendingDeletes(deleted.append, lambda name: True)
    pending.add("sw2")
    for _ in range(500):
        if "sw2" not in pending:
            break
        threading.Event().wait(0.01)
    assert "sw2" not in pending and deleted == []
