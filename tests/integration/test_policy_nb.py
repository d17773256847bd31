"""Network policies in a real ovsdb-server with OVN's NB schema: what `policy create`
writes (one transaction), how each host's membership sync keeps only its own ports
right, and that ACLs do not grow with containers."""

from __future__ import annotations

import uuid

import pytest

from dockovn.network import external_ids
from dockovn.network.policy.manager import Policies
from dockovn.network.policy.membership import MembershipSync
from dockovn.network.policy.model import PolicyError
from dockovn.ovn.port_groups import PortGroups

from tests.support import wait

pytestmark = pytest.mark.integration


def make_network(nb, name: str) -> str:
    switch = f"polnet-{uuid.uuid4().hex[:8]}"
    nb.create_switch(switch, {external_ids.NETWORK_ID: switch, external_ids.NETWORK_NAME: name,
                              external_ids.SUBNET: "10.80.0.0/24"})
    wait.until(lambda: nb.switch(switch), what="switch in cache")
    return switch


def add_port(nb, switch: str, n: int, host: str, groups=(), **labels) -> str:
    name = f"{switch}-p{n}"
    ids = {external_ids.NETWORK_ID: switch, external_ids.ENDPOINT_ID: name,
           external_ids.HOST: host, external_ids.CONTAINER_NAME: f"c{n}"}
    ids.update({external_ids.LABEL_PREFIX + k: v for k, v in labels.items()})
    mac_ip = f"0a:58:0a:50:00:{n:02x} 10.80.0.{n}"
    nb.add_port(switch, name, [mac_ip], [mac_ip], ids, tuple(groups))
    wait.until(lambda: nb.port(name), what="port in cache")
    return name


def members(nb, group: str) -> set[str]:
    found = PortGroups(nb).get(group)
    return set(found.ports) if found else set()


def test_create_writes_groups_acls_and_members_at_once_and_delete_removes_all(nb):
    policies = Policies(nb)
    net = make_network(nb, "pol-a")
    db = add_port(nb, net, 1, "h1", app="db")
    web = add_port(nb, net, 2, "h2", app="web")
    add_port(nb, net, 3, "h2", app="other")
    policy = policies.build("nb-db", "pol-a", ("app=db",), ("app=web",), (), ("192.0.2.0/24",),
                            ("tcp/5432",), log=True)
    row = policies.create(policy)
    assert [m.container for m in row.members] == ["c1"]
    wait.until(lambda: PortGroups(nb).get("dkpol_nb_db_from"), what="groups in cache")
    assert members(nb, "dkpol_nb_db") == {db}
    assert members(nb, "dkpol_nb_db_from") == {web}
    group = PortGroups(nb).get("dkpol_nb_db")
    assert sorted((a.priority, a.action, a.name, a.log) for a in group.acls) == [
        (900, "allow-related", "nb-db", False),  # its members' own connections
        (1000, "drop", "nb-db", True), (1001, "allow", "nb-db", False),
        (1001, "allow-related", "nb-db", False)]
    meter = nb.api.tables["Meter"].rows.values()
    assert [m.name for m in meter] == ["dockovn_policy_log"]

    with pytest.raises(PolicyError, match="exists already"):
        policies.create(policy)
    assert policies.delete("nb-db") is True
    wait.until(lambda: not PortGroups(nb).all("dkpol_nb_db"), what="groups gone")
    assert not any(a.name == ["nb-db"] for a in nb.api.tables["ACL"].rows.values())
    assert policies.delete("nb-db") is False


def test_bad_input_writes_nothing(nb):
    policies = Policies(nb)
    before = len(nb.api.tables["Port_Group"].rows)
    for args, why in [
        (("x", "nope", (), (), (), (), ()), "no dockovn network 'nope'"),
        (("x", None, ("a b",), (), (), (), ()), "a label is KEY=VALUE"),
        (("x", None, (), (), (), (), ("tcp/0",)), "1-65535"),
        (("x", None, (), (), ("nope",), (), ()), "no dockovn network"),
        (("x", None, (), (), (), ("300.0.0.0/8",), ()), "--from-cidr"),
        (("X", None, (), (), (), (), ()), "policy name"),
    ]:
        with pytest.raises(PolicyError, match=why):
            policies.create(policies.build(*args, log=False))
    assert len(nb.api.tables["Port_Group"].rows) == before


def test_each_host_keeps_only_its_own_ports_and_acls_do_not_grow_with_ports(nb):
    policies = Policies(nb)
    net = make_network(nb, "pol-b")
    policies.create(policies.build("nb-iso", "pol-b", ("tier=back",), (), (), (), (), False))
    wait.until(lambda: PortGroups(nb).get("dkpol_nb_iso"), what="group in cache")
    acls_before = len(nb.api.tables["ACL"].rows)
    h1 = MembershipSync(nb, "h1")
    # A port created with its groups (as the driver does) is a member at once ...
    first = add_port(nb, net, 1, "h1", groups=("dkpol_nb_iso",), tier="back")
    assert members(nb, "dkpol_nb_iso") == {first}
    # ... ports labelled later are put in by their host's sync, and only by it.
    mine = [add_port(nb, net, n, "h1", tier="back") for n in range(2, 12)]
    theirs = add_port(nb, net, 20, "h2", tier="back")
    unlabelled = add_port(nb, net, 21, "h1")
    changes = h1.sync_once()
    assert sorted(changes.add["dkpol_nb_iso"]) == sorted(mine)
    wait.until(lambda: members(nb, "dkpol_nb_iso") == {first, *mine}, what="members")
    assert theirs not in members(nb, "dkpol_nb_iso") and unlabelled not in members(nb, "dkpol_nb_iso")
    assert not h1.sync_once()                       # converged: nothing more to write
    assert len(nb.api.tables["ACL"].rows) == acls_before  # 11 members, still one ACL
    # h2's sync adds its port; a group emptied by hand is refilled by its hosts.
    MembershipSync(nb, "h2").sync_once()
    wait.until(lambda: theirs in members(nb, "dkpol_nb_iso"), what="h2's port")
    nb._commit("clear", nb.api.db_clear("Port_Group", "dkpol_nb_iso", "ports"))
    wait.until(lambda: not members(nb, "dkpol_nb_iso"), what="cleared")
    h1.sync_once()
    wait.until(lambda: members(nb, "dkpol_nb_iso") == {first, *mine}, what="refilled")
    policies.delete("nb-iso")
