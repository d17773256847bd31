"""Each host keeps its own containers' policy memberships right.

Two moments matter:

- A new port. The driver puts it into the groups of the policies that select it *in
  the transaction that creates it* (``groups_for``), so a container whose labels are
  known then (``--driver-opt dockovn.label.KEY=VALUE``, or a policy with no label
  selector, such as one isolating a whole network) is under its policies from its
  first packet.
- Everything after: container labels learned from Docker a moment later, policies
  created while a port was being made, a driver that was down. ``MembershipSync``
  compares, on every Northbound change, what this host's ports should be in with what
  they are in, and writes the difference (one transaction, set mutations only). It is
  level-triggered like the service backends' sync: a restart or a missed change is
  repaired on the next pass. Other hosts' ports are theirs to keep.
"""

from __future__ import annotations

import logging
import threading

from dockovn import metrics
from dockovn.network import external_ids
from dockovn.network.policy.manager import endpoint_ports, read_policies
from dockovn.network.policy.model import (GROUP_PREFIX, LABEL_KEY, Policy, PolicyError,
                                          port_labels)
from dockovn.ovn.nb import LogicalPort, Northbound
from dockovn.ovn.port_groups import MemberChanges, PortGroup, PortGroups
from dockovn.ovsdb import connected

LOG = logging.getLogger(__name__)


def groups_for(policies: list[Policy], switch_name: str, labels: dict[str, str]) -> tuple[str, ...]:
    """The port groups a port on ``switch_name`` with ``labels`` belongs in."""
    return tuple(g for p in policies for g in p.groups_of(switch_name, labels))


def changes_for(policies: list[Policy], groups: list[PortGroup],
                ports: list[LogicalPort]) -> MemberChanges:
    """What to add to / remove from each policy group so that ``ports`` are in exactly
    the groups their policies say (ports not listed are left as they are)."""
    changes = MemberChanges()
    ours = {p.name for p in ports}
    want: dict[str, set[str]] = {g: set() for p in policies for g in p.groups}
    for port in ports:
        for group in groups_for(policies, port.switch_name, port_labels(port.external_ids)):
            want[group].add(port.name)
    for group in groups:
        if group.name not in want:
            continue
        have = group.ports & ours
        add, remove = sorted(want[group.name] - have), sorted(have - want[group.name])
        if add:
            changes.add[group.name] = add
        if remove:
            changes.remove[group.name] = remove
    return changes


class MembershipSync:
    def __init__(self, nb: Northbound, host_id: str, interval: float = 0.1,
                 resync_every: float = 30.0):
        self.nb = nb
        self.host_id = host_id
        self.groups = PortGroups(nb)
        self.interval = interval          # a look at NB's change number: cheap
        self.resync_every = resync_every  # a pass now and then even when nothing moved
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-policy", daemon=True)
        self._last_error = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def sync_once(self) -> MemberChanges:
        groups = self.groups.all(GROUP_PREFIX)
        policies = read_policies(self.groups)
        ports = endpoint_ports(self.nb, self.host_id) if policies else []
        changes = changes_for(policies, groups, ports)
        if changes:
            self.groups.change_members(changes)
            LOG.info("policy memberships: +%s -%s",
                     {g: len(p) for g, p in changes.add.items()},
                     {g: len(p) for g, p in changes.remove.items()})
        return changes

    def _run(self) -> None:
        last_seqno = None
        idle = 0.0
        while not self._stop.wait(self.interval):
            idle += self.interval
            seqno = self.nb.change_seqno()  # read first: a change during the pass re-runs it
            if seqno == last_seqno and idle < self.resync_every:
                continue
            if not connected(self.nb.api):
                continue  # a stale cache would undo what others wrote meanwhile
            try:
                with metrics.counted_sync("policy_membership"):
                    self.sync_once()
                last_seqno, idle = seqno, 0.0
                self._last_error = ""
            except Exception as exc:  # NB went away mid-pass, a row vanished: next round
                if str(exc) != self._last_error:
                    LOG.warning("updating policy memberships: %s; retrying", exc)
                    self._last_error = str(exc)


ENDPOINT_LABEL_OPTION = "dockovn.label."


def endpoint_labels(options: dict | None) -> dict[str, str]:
    """``dockovn.label.KEY=VALUE`` endpoint driver options -> the port's external_ids;
    PolicyError for a key that is no label key."""
    out = {}
    for option, value in (options or {}).items():
        if not (isinstance(option, str) and option.startswith(ENDPOINT_LABEL_OPTION)):
            continue
        key = option[len(ENDPOINT_LABEL_OPTION):]
        if not LABEL_KEY.fullmatch(key) or not isinstance(value, str):
            raise PolicyError(f"driver option {option}={value!r}: a label is "
                              f"{ENDPOINT_LABEL_OPTION}KEY=VALUE, the key of letters, "
                              "digits and _.-/")
        out[external_ids.ENDPOINT_LABEL_PREFIX + key] = value
    return out
