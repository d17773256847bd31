"""The Northbound layer against real ovsdb-servers with OVN's NB schema."""

from __future__ import annotations

import os

import pytest

from dockovn.ovn.nb import Northbound, NorthboundError

from tests.support import wait
from tests.support.daemons import nb_server

pytestmark = pytest.mark.integration


def test_two_clients_see_their_own_databases(workdir):
    # ovsdbapp keeps one connection per class unless told otherwise: the second
    # client would read the first one's DB.
    a, b = nb_server(os.path.join(workdir, "nb-a")), nb_server(os.path.join(workdir, "nb-b"))
    ca, cb = Northbound(a.remote), Northbound(b.remote)
    try:
        ca.create_switch("only-in-a", {"dockovn:network-id": "x"})
        cb.create_switch("only-in-b", {"dockovn:network-id": "y"})
        wait.until(lambda: ca.switch("only-in-a") and cb.switch("only-in-b"))
        assert ca.switch("only-in-b") is None and cb.switch("only-in-a") is None
    finally:
        ca.close(), cb.close(), a.stop(), b.stop()


def test_failed_transaction_writes_nothing(nb):
    nb.create_switch("sw-txn", {"k": "v"})
    wait.until(lambda: nb.switch("sw-txn"))
    with pytest.raises(NorthboundError, match="lsp-dup"):
        # the second add of the same port fails, so the whole transaction does
        nb._commit("adding lsp-dup twice",
                   nb.api.lsp_add("sw-txn", "lsp-dup", addresses=["unknown"]),
                   nb.api.lsp_add("sw-txn", "lsp-dup", addresses=["unknown"]))
    assert nb.port("lsp-dup") is None
    nb.delete_switch("sw-txn")
    nb.delete_switch("sw-txn")  # gone already: fine
    wait.until(lambda: nb.switch("sw-txn") is None)


def test_cluster_connection_string_with_a_dead_member(nb_db, workdir):
    # A Raft cluster is given as "a,b,c": members that do not answer are skipped.
    dead = f"unix:{workdir}/no-such-nb.sock"
    client = Northbound(f"{dead},{nb_db.remote}")
    try:
        client.create_switch("via-cluster-string", {"k": "v"})
        wait.until(lambda: client.switch("via-cluster-string"))
        client.delete_switch("via-cluster-string")
    finally:
        client.close()


def test_unreachable_northbound_is_a_clear_error(workdir):
    with pytest.raises(NorthboundError, match="cannot connect to OVN Northbound at unix:"):
        Northbound(f"unix:{workdir}/nobody-here.sock", timeout=1)
