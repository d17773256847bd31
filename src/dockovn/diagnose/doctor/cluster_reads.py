"""Reading the central for `dockovn doctor`: NB and SB (through the host's own
connections and certificate), and, on a central member, its Raft status and ovn-northd."""

from __future__ import annotations

from dataclasses import dataclass

from dockovn.deploy import central, raft
from dockovn.network import external_ids
from dockovn.diagnose.doctor.facts import ChassisRow
from dockovn.diagnose.doctor.servers import MemberView
from dockovn.ovn.nb import LogicalPort, LogicalSwitch, Northbound
from dockovn.ovn.host_trust import HostTrust
from dockovn.ovn.sb import Southbound
from dockovn.ovn.tunnel_keys import Generations, PublishedKey, TunnelKeys
from dockovn.ovsdb import SslFiles, describe


@dataclass(frozen=True)
class NbProgress:
    """NB_Global's sequence numbers: ``nb_cfg`` is what clients asked to be applied,
    ``sb_cfg`` what ovn-northd has passed on to SB, ``hv_cfg`` what every chassis has
    applied; ``nb_cfg_timestamp`` (ms) when ovn-northd took up the latest nb_cfg."""
    nb_cfg: int
    sb_cfg: int
    hv_cfg: int
    nb_cfg_timestamp: int


def answering(members: list[MemberView]) -> str:
    """The members that answered, as one connection string: the IDL then never waits on
    a dead member (python-ovs opens a connection without a time limit)."""
    return ",".join(m.remote for m in members if m.answered)


def open_northbound(members: list[MemberView], timeout: float,
                    ssl: SslFiles | None) -> tuple[Northbound | None, str]:
    remote = answering(members)
    if not remote:
        return None, "no member answers"
    try:
        return Northbound(remote, timeout=timeout, ssl=ssl), ""
    except Exception as exc:
        return None, describe(exc)


def open_southbound(members: list[MemberView], timeout: float,
                    ssl: SslFiles | None) -> tuple[Southbound | None, str]:
    remote = answering(members)
    if not remote:
        return None, "no member answers"
    try:
        return Southbound(remote, timeout=timeout, ssl=ssl), ""
    except Exception as exc:
        return None, describe(exc)


def nb_progress(nb: Northbound) -> NbProgress | None:
    # The ovn layer has no reader for NB_Global's counters; a read of the local
    # cache under the connection's lock, like every other NB read.
    with nb.api.ovsdb_connection.lock:
        row = next(iter(nb.api.tables["NB_Global"].rows.values()), None)
        if row is None:
            return None
        return NbProgress(row.nb_cfg, row.sb_cfg, row.hv_cfg, row.nb_cfg_timestamp)


def chassis_rows(sb: Southbound) -> list[ChassisRow]:
    out = []
    for name, hostname, encaps in sb.chassis():
        pairs = tuple(tuple(e.split(" ", 1)) for e in encaps if " " in e)
        out.append(ChassisRow(name, hostname, pairs))
    return out


def dockovn_switches(nb: Northbound) -> list[LogicalSwitch]:
    return nb.switches_with(external_ids.NETWORK_ID)


def dockovn_ports(nb: Northbound, switches: list[LogicalSwitch]) -> dict[str, LogicalPort]:
    """Every container port (one with an endpoint ID) of dockovn's switches, by name."""
    return {p.name: p for s in switches for p in nb.ports(s.name)
            if external_ids.ENDPOINT_ID in p.external_ids}


def central_member(rundir: str, dbdir: str) -> tuple[list[raft.ClusterStatus], str]:
    """On a central member: its view of the NB/SB clusters (`cluster/status`, the parser
    `dockovn central status` uses) and its ovn-northd's state."""
    return central.cluster_status(central.CentralConfig(rundir=rundir, dbdir=dbdir))


def encryption_state(sb: Southbound) -> tuple[tuple[str, str] | None, Generations,
                                              list[PublishedKey]]:
    """(what encryption the central requires, the key generations, the WireGuard keys
    hosts published)."""
    keys = TunnelKeys(sb)
    return HostTrust(sb).encryption(), keys.generations(), keys.published()
