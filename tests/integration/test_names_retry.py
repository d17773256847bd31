"""A name or label NB refuses is written when NB takes writes again.

NameSync learns names and labels from Docker's events, once each; a write lost to an
unreachable NB (or one with no Raft leader) would leave the container unnamed on other
hosts and outside the policies that select it by label. Here the driver's client talks
to a real ovsdb-server through a proxy that refuses every write for a while.
"""

from __future__ import annotations

import pytest

from dockovn.host.docker_engine import Attachment
from dockovn.network import external_ids
from dockovn.network.overlay.docker_events import NameSync
from dockovn.ovn.nb import Northbound

from tests.support import wait
from tests.support.ovsdb_proxy import OvsdbProxy

pytestmark = pytest.mark.integration

SWITCH, PORT = "namesretry-net", "namesretry-ep"


@pytest.fixture
def port(nb):
    with nb.api.transaction(check_error=True) as txn:
        txn.add(nb.api.ls_add(SWITCH, may_exist=True))
        txn.add(nb.api.lsp_add(SWITCH, PORT, may_exist=True))
    yield PORT
    nb.api.ls_del(SWITCH, if_exists=True).execute(check_error=True)


@pytest.fixture
def proxy(nb_db):
    proxy = OvsdbProxy(nb_db.remote).start()
    yield proxy
    proxy.close()


def test_a_refused_name_and_label_are_written_when_nb_is_back(nb, port, proxy):
    client = Northbound(proxy.remote, timeout=2)
    # Not started: no Docker here; the test hands it what Docker's events would.
    sync = NameSync(client, engine_factory=None, retry_seconds=0.2)
    att = Attachment("c" * 64, "web-1", "n" * 64, port, labels={"role": "db"})
    try:
        wait.until(lambda: client.port(port) is not None, 10, what="the client's cache")
        proxy.refuse_writes()
        sync.name_port(att)
        assert sync.unwritten == 1
        assert external_ids.CONTAINER_NAME not in nb.port(port).external_ids

        proxy.refuse_writes(False)
        sync.retry_unwritten()
        ids = nb.port(port).external_ids
        assert ids[external_ids.CONTAINER_NAME] == "web-1"
        assert ids[external_ids.LABEL_PREFIX + "role"] == "db"
        assert sync.unwritten == 0
        sync.retry_unwritten()  # nothing left: no second write
        assert sum(1 for _ in proxy.writes) == 1
    finally:
        client.close()
