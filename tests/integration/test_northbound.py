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


def test_partial_removals_and_fast_reads_match_python_ovs(nb):
    """RemoveFromColumn takes out just the elements (a set) or keys (a map) named, without
    reading the column; column_value reads a cached row as python-ovs's getattr does."""
    from dockovn.ovn.mutations import RemoveFromColumn
    from dockovn.ovsdb import column_value

    nb.create_switch("sw-partial", {"a": "1", "b": "2", "c": "3"})
    for i in range(5):
        nb.add_port("sw-partial", f"sw-partial-p{i}", [f"0a:58:0a:00:00:0{i} 10.0.0.{i + 2}"],
                    [], {"n": str(i)})
    try:
        row = wait.until(lambda: nb.api.lookup("Logical_Switch", "sw-partial", default=None))
        wait.until(lambda: len(row.ports) == 5)
        assert {p.name for p in column_value(row, "ports")} == {p.name for p in row.ports}
        assert column_value(row, "external_ids") == dict(row.external_ids)
        p1 = nb.api.lookup("Logical_Switch_Port", "sw-partial-p1")
        nb._commit("partial removal",
                   RemoveFromColumn(nb.api, "Logical_Switch", "sw-partial", "ports", p1.uuid),
                   RemoveFromColumn(nb.api, "Logical_Switch", "sw-partial", "external_ids",
                                    "b", "not-there"),
                   RemoveFromColumn(nb.api, "Logical_Switch", "gone-switch", "ports", p1.uuid,
                                    if_exists=True))
        assert sorted(p.name for p in nb.ports("sw-partial")) == \
            [f"sw-partial-p{i}" for i in (0, 2, 3, 4)]
        assert nb.switch("sw-partial").external_ids == {"a": "1", "c": "3"}
        assert nb.port("sw-partial-p1") is None  # unreferenced: OVSDB collected it
        with pytest.raises(NorthboundError, match="gone-switch"):
            nb._commit("removal from a missing row",
                       RemoveFromColumn(nb.api, "Logical_Switch", "gone-switch", "ports",
                                        p1.uuid))
    finally:
        nb.delete_switch("sw-partial")


def test_a_map_insert_leaves_an_existing_key_alone(nb):
    """insert_key is OVSDB's map insert: the key's first writer keeps it (python-ovs's own
    setkey would overwrite). Claims of addresses rely on it."""
    from ovsdbapp.backend.ovs_idl import command as ovs_command

    from dockovn.ovsdb import insert_key

    class Insert(ovs_command.BaseCommand):
        def __init__(self, api, key, value):
            super().__init__(api)
            self.key, self.value = key, value

        def run_idl(self, txn):
            insert_key(self.api.lookup("Logical_Switch", "sw-insert"), "external_ids",
                       self.key, self.value)

    nb.create_switch("sw-insert", {"k": "first"})
    try:
        wait.until(lambda: nb.switch("sw-insert"))
        nb._commit("insert", Insert(nb.api, "k", "second"), Insert(nb.api, "new", "v"))
        assert nb.switch("sw-insert").external_ids == {"k": "first", "new": "v"}
    finally:
        nb.delete_switch("sw-insert")


def test_concurrent_claims_never_hand_out_one_address_twice(nb_db, nb):
    """Two clients (two hosts' drivers) claiming from one pool at once: every address
    handed out once, each with its own claim key; a key left without its address keeps
    that address out of later claims."""
    import ipaddress
    from concurrent.futures import ThreadPoolExecutor

    from dockovn.network.overlay.ipam import lowest_free, spread

    subnet = ipaddress.ip_network("10.66.0.0/26")
    pool, prefix = "dockovn_pool_claims", "dockovn:at:"
    other = Northbound(nb_db.remote)
    nb.create_pool(pool, {"dockovn:subnet": str(subnet), prefix + "10.66.0.5": "1 stale"})
    try:
        wait.until(lambda: other.pool(pool))

        def choose(taken, attempt):
            return lowest_free(subnet, None, taken, spread(attempt))

        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(lambda i: (nb if i % 2 else other).claim(pool, choose, prefix),
                              range(40)))
        assert len(set(got)) == 40 and "10.66.0.5" not in got
        row = nb.pool(pool)
        assert row.addresses == set(got)
        assert len({row.external_ids[prefix + a] for a in got}) == 40  # each its own claim

        # Another host claims the very address this one chose, just before it commits:
        # this one finds the other's claim on it, passes it over and takes the next.
        raced = []

        def choose_raced(taken, attempt):
            ip = lowest_free(subnet, None, taken, spread(attempt))
            if not raced:
                raced.append(other.claim(pool, lambda *_: ip, prefix))
            return ip

        mine = nb.claim(pool, choose_raced, prefix)
        assert raced and mine != raced[0]
        assert nb.pool(pool).addresses == set(got) | {mine, raced[0]}
    finally:
        nb.delete_pool(pool)
        other.close()
