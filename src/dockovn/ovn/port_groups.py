"""OVN Northbound port groups with their ACLs, one method per intent (one transaction each).

A Port_Group is a set of logical switch ports, on any switches. ACLs on it apply to
each of its ports wherever they are, and ovn-northd gives every port group the
address sets ``<name>_ip4`` / ``<name>_ip6`` of its ports' addresses, so one ACL can
say "from any port of that group" without listing addresses. ``Port_Group.ports``
holds weak references: a deleted port leaves its groups by itself.

Like ``nb.py`` this knows rows, not Docker nor policies: the caller chooses names,
matches and external_ids (see ``dockovn.network.policy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ovsdbapp.backend.ovs_idl import command as ovs_command

from dockovn.ovn.absent import DeleteNamed
from dockovn.ovn.nb import Northbound, NorthboundError
from dockovn.ovn.writes import WRITE_ID, new_token, written_by
from dockovn.ovsdb import reading


@dataclass(frozen=True)
class Acl:
    direction: str   # "to-lport": the packet leaves the switch into the port
    priority: int
    match: str
    action: str      # "drop", "allow-related", ...
    name: str = ""   # shown by ovn-trace and in ovn-controller's ACL log
    log: bool = False
    severity: str = ""
    meter: str = ""


@dataclass(frozen=True)
class PortGroup:
    uuid: str
    name: str
    ports: frozenset[str]                 # logical switch port names
    acls: tuple[Acl, ...]
    external_ids: dict[str, str]


@dataclass(frozen=True)
class NewPortGroup:
    name: str
    external_ids: dict[str, str]
    ports: tuple[str, ...] = ()
    acls: tuple[Acl, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    """A Meter for logged ACLs: at most ``rate`` log lines a second, the rest dropped."""
    name: str
    rate: int


def _acl(row) -> Acl:
    return Acl(direction=row.direction, priority=row.priority, match=row.match,
               action=row.action, name=row.name[0] if row.name else "", log=row.log,
               severity=row.severity[0] if row.severity else "",
               meter=row.meter[0] if row.meter else "")


def _group(row) -> PortGroup:
    return PortGroup(uuid=str(row.uuid), name=row.name,
                     ports=frozenset(p.name for p in row.ports),
                     acls=tuple(sorted((_acl(a) for a in row.acls),
                                       key=lambda a: (-a.priority, a.match))),
                     external_ids=dict(row.external_ids))


class _CreateGroups(ovs_command.BaseCommand):
    """Insert port groups with their ports and ACLs (and the meter they log through)."""

    def __init__(self, api, groups: list[NewPortGroup], meter: RateLimit | None):
        super().__init__(api)
        self.groups = groups
        self.meter = meter
        self.token = new_token()  # the same in every run of this command

    def run_idl(self, txn):
        tables = self.api.tables
        first = self.api.lookup("Port_Group", self.groups[0].name, default=None) \
            if self.groups else None
        if first is not None and written_by(first.external_ids, self.token):
            return  # a re-run after a lost answer: the first run made them all
        if self.meter is not None and not any(
                m.name == self.meter.name for m in tables["Meter"].rows.values()):
            band = txn.insert(tables["Meter_Band"])
            band.action, band.rate = "drop", self.meter.rate
            meter = txn.insert(tables["Meter"])
            meter.name, meter.unit, meter.bands = self.meter.name, "pktps", [band]
        for group in self.groups:
            if self.api.lookup("Port_Group", group.name, default=None) is not None:
                raise NorthboundError(f"port group {group.name} exists already")
            row = txn.insert(tables["Port_Group"])
            row.name = group.name
            row.external_ids = {**group.external_ids, WRITE_ID: self.token}
            row.ports = [self.api.lookup("Logical_Switch_Port", p) for p in group.ports
                         if self.api.lookup("Logical_Switch_Port", p, default=None) is not None]
            acls = []
            for spec in group.acls:
                acl = txn.insert(tables["ACL"])
                acl.direction, acl.priority = spec.direction, spec.priority
                acl.match, acl.action, acl.log = spec.match, spec.action, spec.log
                acl.name = [spec.name] if spec.name else []
                acl.severity = [spec.severity] if spec.severity else []
                acl.meter = [spec.meter] if spec.meter else []
                acls.append(acl)
            row.acls = acls


class PortGroups:
    def __init__(self, nb: Northbound):
        self.nb = nb
        self.api = nb.api

    @reading
    def all(self, prefix: str = "") -> list[PortGroup]:
        return [_group(r) for r in self.api.tables["Port_Group"].rows.values()
                if r.name.startswith(prefix)]

    @reading
    def labelled(self, key: str) -> list[dict[str, str]]:
        """The external_ids of the groups that have ``key``: cheap (no member lists)."""
        return [dict(r.external_ids) for r in self.api.tables["Port_Group"].rows.values()
                if key in r.external_ids]

    @reading
    def get(self, name: str) -> PortGroup | None:
        row = self.api.lookup("Port_Group", name, default=None)
        return _group(row) if row is not None else None

    def create(self, groups: list[NewPortGroup], meter: RateLimit | None = None) -> None:
        """Create the groups, their ACLs and members (and the meter) in one transaction;
        fails, writing nothing, if one of the names is taken."""
        self.nb._commit(f"creating port group(s) {', '.join(g.name for g in groups)}",
                        _CreateGroups(self.api, groups, meter))

    def delete(self, names: list[str]) -> bool:
        """Delete the groups (their ACLs go with them); what is gone already is fine
        (and confirmed gone by the server, not just by this cache: see absent.py).
        Whether any of them was there."""
        commands = [DeleteNamed(self.api, "Port_Group", n) for n in names]
        self.nb._commit(f"deleting port group(s) {', '.join(names)}", *commands)
        return any(c.result for c in commands)

    def change_members(self, changes: "MemberChanges") -> None:
        """Add and remove ports of several groups, in one transaction. Set mutations:
        concurrent writers never conflict, and a retry changes nothing more."""
        if changes:
            self.nb._commit("updating port group members", _ChangeMembers(self.api, changes))


class _ChangeMembers(ovs_command.BaseCommand):
    """Port names to rows (ovsdbapp's pg_add_ports takes a name for a UUID), then mutate;
    a group or port gone meanwhile is skipped."""

    def __init__(self, api, changes: "MemberChanges"):
        super().__init__(api)
        self.changes = changes

    def run_idl(self, txn):
        for method, wanted in (("addvalue", self.changes.add), ("delvalue", self.changes.remove)):
            for group, ports in wanted.items():
                row = self.api.lookup("Port_Group", group, default=None)
                if row is None:
                    continue
                for name in ports:
                    port = self.api.lookup("Logical_Switch_Port", name, default=None)
                    if port is not None:
                        getattr(row, method)("ports", port)


@dataclass
class MemberChanges:
    """Ports to add to / remove from each group (by name)."""
    add: dict[str, list[str]] = field(default_factory=dict)
    remove: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.add.values()) or any(self.remove.values())
