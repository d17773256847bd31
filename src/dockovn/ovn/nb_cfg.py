"""NB_Global.nb_cfg: OVN's way of asking every ovn-controller "are you there and caught up?".

Bumping it is what `ovn-nbctl --wait=hv sync` does: ovn-northd copies the new value to
SB_Global.nb_cfg, and each ovn-controller writes it into its Chassis_Private row once it
has applied everything up to it. Nothing else in SB shows that an ovn-controller is alive:
a controller that stopped leaves its Chassis, its Port_Bindings and their ``up`` as they
were. So a diagnosis that must know asks, with one small write.
"""

from __future__ import annotations

from ovsdbapp.backend.ovs_idl import command as ovs_command

from dockovn.ovn.nb import Northbound, NorthboundError
from dockovn.ovsdb import commit


class _Bump(ovs_command.BaseCommand):
    """nb_cfg + 1, verified like ovn-nbctl's (a concurrent bump re-runs it); the result
    is the value written, or None when there is no NB_Global row (no northd ever ran)."""

    def run_idl(self, txn):
        row = next(iter(self.api.tables["NB_Global"].rows.values()), None)
        if row is None:
            self.result = None
            return
        row.verify("nb_cfg")
        self.result = row.nb_cfg + 1
        row.nb_cfg = self.result


def bump(nb: Northbound) -> int | None:
    """Raise NB_Global.nb_cfg by one; the new value (None: no NB_Global row)."""
    command = _Bump(nb.api)
    commit(nb.api, NorthboundError, "asking the chassis to acknowledge (NB_Global.nb_cfg)",
           command)
    return command.result
