"""Deletes through a Raft member that lags behind the cluster still delete.

dockovn reads from whichever member it is connected to. A member frozen (a hung
machine: SIGSTOP) misses what the others write meanwhile, and its clients' caches with
it. A delete that trusted such a cache found "nothing to delete", answered success, and
left the row: seen in the fault suite as a deleted policy still in NB after a frozen
leader thawed. Here: a real three-member NB cluster, a client on one member, that
member frozen while another client makes a row through the others; the first client
then deletes it, and the member is thawed two seconds later. The same for a service
instance registered, and a service VIP made, while the member was frozen: `service
remove` and `service delete` through it answered "is not an instance" / "has no VIP"
from its cache and left them (seen in the fault suite).
"""

from __future__ import annotations

import os
import threading
from contextlib import closing

import pytest

from dockovn.network import external_ids
from dockovn.network.policy.manager import Policies
from dockovn.network.services.manager import Services
from dockovn.network.services.model import ServiceError
from dockovn.ovn.nb import Northbound

from tests.integration.test_services_nb import add_instance, make_network
from tests.support import wait
from tests.support.raft_nb import RaftNorthbound

pytestmark = pytest.mark.integration

THAW_AFTER = 2.0  # seconds the lagging member stays frozen once the delete is asked


@pytest.fixture(scope="module")
def cluster(workdir):
    nb = RaftNorthbound(os.path.join(workdir, "raft-nb")).start()
    yield nb
    nb.stop()


def _policy(client: Northbound, name: str):
    policies = Policies(client)
    return policies, policies.build(name, None, ("app=web",), ("app=db",), (), (), ("tcp/80",),
                                    False)


def _make_policy(writer: Northbound, name: str) -> tuple[str, ...]:
    policies, policy = _policy(writer, name)
    policies.create(policy)
    return policy.group, policy.source_group


def _make_switch(writer: Northbound, name: str) -> tuple[str, ...]:
    writer.create_switch(name, {"dockovn-test": "lagging"})
    return (name,)


def _make_port(writer: Northbound, name: str) -> tuple[str, ...]:
    writer.create_switch(f"{name}-sw", {"dockovn-test": "lagging"})
    writer.add_port(f"{name}-sw", name, ["unknown"], [], {"dockovn-test": "lagging"})
    return (name,)


def _delete_policy(client: Northbound, name: str):
    return Policies(client).delete(name)


def _delete_switch(client: Northbound, name: str):
    client.delete_switch(name)


def _delete_port(client: Northbound, name: str):
    client.delete_port(name, f"{name}-sw")


def _rows(client: Northbound, names: tuple[str, ...]) -> list[str]:
    with client.api.ovsdb_connection.lock:
        return [n for n in names for table in ("Port_Group", "Logical_Switch",
                                               "Logical_Switch_Port")
                if client.api.lookup(table, n, default=None) is not None]


@pytest.mark.parametrize("kind,make,delete", [
    ("policy", _make_policy, _delete_policy),
    ("switch", _make_switch, _delete_switch),
    ("port", _make_port, _delete_port),
])
def test_a_delete_through_a_lagging_member_deletes_what_the_cluster_has(cluster, kind, make,
                                                                         delete):
    name = f"lag-{kind}"
    wait.until(cluster.leader, 30, what="a leader")
    lagging = next(m for m in cluster.members if m.role() == "follower")
    others = [m for m in cluster.members if m is not lagging]
    with closing(Northbound(lagging.remote)) as client:
        thaw = threading.Timer(THAW_AFTER, lagging.thaw)
        lagging.freeze()
        try:
            with closing(Northbound(cluster.remote(*others))) as writer:
                rows = make(writer, name)
                assert _rows(writer, rows), "the row was made through the other members"
            assert not _rows(client, rows), "the frozen member's client has not seen it"
            thaw.start()
            answer = delete(client, name)
            thaw.join()
        finally:
            thaw.cancel()
            lagging.thaw()
        if kind == "policy":
            assert answer is True, "the policy was there: the answer must say it was deleted"
    with closing(Northbound(cluster.remote())) as reader:
        wait.until(lambda: reader.switch(name) is None and not _rows(reader, rows), 10,
                   what=f"the {kind} gone from every member's view")
        assert not _rows(reader, rows)


def test_deleting_what_nobody_made_answers_at_once_and_changes_nothing(cluster):
    wait.until(cluster.leader, 30, what="a leader")
    with closing(Northbound(cluster.remote())) as client:
        assert Policies(client).delete("never-made") is False
        client.delete_switch("never-made")
        client.delete_port("never-made", "never-made-sw")
        assert not _rows(client, ("dkpol_never_made", "never-made"))
        switch, network = make_network(client, "10.71.3")
        add_instance(client, switch, f"{switch}-a", "10.71.3.5", None)
        with pytest.raises(ServiceError, match=f"c-{switch}-a is not an instance of service never"):
            Services(client).remove("never", f"c-{switch}-a", network)
        with pytest.raises(ServiceError, match="service never has no VIP"):
            Services(client).delete("never")


@pytest.mark.parametrize("undo", ["remove", "delete"])
def test_a_service_change_made_meanwhile_is_undone_through_a_lagging_member(cluster, undo):
    """The network and the container's port exist before the freeze (the client knows
    them); the registration and the VIP come while it is frozen."""
    wait.until(cluster.leader, 30, what="a leader")
    lagging = next(m for m in cluster.members if m.role() == "follower")
    others = [m for m in cluster.members if m is not lagging]
    service, prefix = f"lag-{undo}", "10.71.1" if undo == "remove" else "10.71.2"
    with closing(Northbound(cluster.remote(*others))) as writer:
        switch, network = make_network(writer, prefix)
        add_instance(writer, switch, f"{switch}-a", f"{prefix}.5", None)
    container = f"c-{switch}-a"
    with closing(Northbound(lagging.remote)) as client:
        wait.until(lambda: client.ports(switch), 10, what="the port in the client's cache")
        thaw = threading.Timer(THAW_AFTER, lagging.thaw)
        lagging.freeze()
        try:
            with closing(Northbound(cluster.remote(*others))) as writer:
                Services(writer).add(service, container, 8080, network)
                Services(writer).create(service, network, f"{prefix}.250:80",
                                        health_check=False)
            seen = [p for p in client.ports(switch) if external_ids.SERVICE in p.external_ids]
            seen += [s for s in Services(client).service_lbs() if s.service == service]
            assert not seen, "the frozen member's client has seen neither"
            thaw.start()
            if undo == "remove":
                [port] = Services(client).remove(service, container, network)
                assert port.name == f"{switch}-a"
            else:
                [vip] = Services(client).delete(service, network)
                assert vip.service == service
            thaw.join()
        finally:
            thaw.cancel()
            lagging.thaw()
    with closing(Northbound(cluster.remote())) as reader:
        def left() -> list[str]:
            out = [f"instance {p.name}" for p in reader.ports(switch)
                   if p.external_ids.get(external_ids.SERVICE) == service and undo == "remove"]
            return out + [f"VIP {s.vip}" for s in Services(reader).service_lbs()
                          if s.service == service and undo == "delete"]
        wait.until(lambda: not left(), 10, what=f"service {undo} seen by every member")
