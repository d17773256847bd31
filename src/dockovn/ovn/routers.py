"""Logical routers shared by networks, created and deleted safely against every writer.

Logical_Router has no name index, so "create the router named R unless it exists"
checked against the local cache lets two drivers each create one, and "delete R,
it has no other port" lets a driver delete a router another driver just attached
a network to. Both commands below make their transaction conditional (OVSDB
``wait``, via ``verify``) on what they read:

- every router creation or deletion bumps a counter in NB_Global's external_ids and
  verifies that map, so these transactions are serialised by the NB server: of two
  drivers creating R at once, the second is re-run (ovsdbapp does that on TRY_AGAIN),
  finds R and attaches to it;
- a deletion also verifies the router's ``ports``: a port attached meanwhile makes
  it re-run, and it then keeps the router.
"""

from __future__ import annotations

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import rowview

ROUTERS_EPOCH = "dockovn:routers-epoch"  # NB_Global external_ids: moves on router create/delete


def _serialise(api, txn) -> None:
    """Make this transaction conditional on NB_Global's external_ids and move the epoch."""
    nb_global = next(iter(api.tables["NB_Global"].rows.values()), None)
    if nb_global is None:  # a bare NB (tests); northd's `init` makes it otherwise
        nb_global = txn.insert(api.tables["NB_Global"])
        epoch = 0
    else:
        nb_global.verify("external_ids")
        try:
            epoch = int(nb_global.external_ids.get(ROUTERS_EPOCH, "0"))
        except ValueError:
            epoch = 0
    nb_global.setkey("external_ids", ROUTERS_EPOCH, str(epoch + 1))


def _named(api, name: str) -> list:
    return [r for r in api.tables["Logical_Router"].rows.values() if r.name == name]


class EnsureRouter(ovs_command.BaseCommand):
    """The router named ``name``; created (once, cluster-wide) if there is none."""

    def __init__(self, api, name: str, external_ids: dict[str, str]):
        super().__init__(api)
        self.name = name
        self.external_ids = external_ids

    def run_idl(self, txn):
        _serialise(self.api, txn)
        existing = sorted(_named(self.api, self.name), key=lambda r: str(r.uuid))
        if existing:
            self.result = rowview.RowView(existing[0])
            return
        router = txn.insert(self.api.tables["Logical_Router"])
        router.name = self.name
        router.external_ids = self.external_ids
        self.result = router.uuid

    def post_commit(self, txn):
        real_uuid = txn.get_insert_uuid(self.result) if not isinstance(
            self.result, rowview.RowView) else None
        if real_uuid:
            self.result = rowview.RowView(self.api.tables["Logical_Router"].rows[real_uuid])


class DeleteRouterPort(ovs_command.BaseCommand):
    """Delete a router port, and its router when nothing else is attached to it."""

    def __init__(self, api, router_port: str):
        super().__init__(api)
        self.router_port = router_port

    def run_idl(self, txn):
        for router in self.api.tables["Logical_Router"].rows.values():
            port = next((p for p in router.ports if p.name == self.router_port), None)
            if port is None:
                continue
            others = [p for p in router.ports if p.name != self.router_port]
            router.verify("ports")  # a port attached meanwhile: re-run, keep the router
            router.delvalue("ports", port)
            port.delete()
            if not others:
                _serialise(self.api, txn)
                router.delete()
            return
