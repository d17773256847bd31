"""Reads from the OVN Southbound DB: which chassis each logical port is bound to, and
what OVN's load-balancer health checks found."""

from __future__ import annotations

from dataclasses import dataclass

from ovsdbapp.schema.ovn_southbound import impl_idl

from dockovn.ovsdb import (BoundedTransactions, OwnConnection, SslFiles, close_api, commit,
                           open_api, reading)


@dataclass(frozen=True)
class ChassisState:
    """A chassis as SB has it, with what its ovn-controller last acknowledged: ``nb_cfg``
    is the last NB_Global.nb_cfg it had applied (Chassis_Private), at ``nb_cfg_timestamp``
    (ms since the epoch; 0: never)."""
    name: str
    hostname: str
    encap_ips: tuple[str, ...]
    nb_cfg: int | None = None            # None: no Chassis_Private row
    nb_cfg_timestamp: int = 0


@dataclass(frozen=True)
class Binding:
    """A logical port's Port_Binding: the chassis that claimed it ("" none) and whether
    that chassis reported its flows installed (``up``; None: not reported)."""
    chassis: str
    up: bool | None


class _SbApi(BoundedTransactions, OwnConnection, impl_idl.OvnSbApiIdlImpl):
    db_label = "sb"  # in metrics (dockovn_ovsdb_transaction_retries_total)


class Southbound:
    def __init__(self, remote: str, timeout: float = 10.0, ssl: SslFiles | None = None):
        self.api = open_api(_SbApi, remote, "OVN_Southbound", timeout,
                            tables=("Chassis", "Chassis_Private", "Port_Binding", "Encap",
                                    "Service_Monitor", "SB_Global"),
                            ssl=ssl, cluster_client=True)

    def close(self) -> None:
        close_api(self.api)

    def chassis_named(self, host: str) -> str | None:
        """The chassis' name for a host given by chassis name or hostname."""
        for c in self.api.tables["Chassis"].rows.values():
            if host in (c.name, c.hostname):
                return c.name
        return None

    def delete_chassis(self, name: str) -> None:
        """Remove a chassis (with its encaps and Chassis_Private row); gone already is fine.
        Needs full SB access (the central's unix socket): a chassis' certificate may
        delete only itself."""
        commit(self.api, RuntimeError, f"deleting chassis {name}",
               self.api.chassis_del(name, if_exists=True))

    def port_chassis(self) -> dict[str, str]:
        """logical_port -> the hostname (or name) of the chassis it is bound to."""
        out = {}
        for pb in self.api.tables["Port_Binding"].rows.values():
            if pb.chassis:
                ch = pb.chassis[0]
                out[pb.logical_port] = ch.hostname or ch.name
        return out

    def chassis(self) -> list[tuple[str, str, list[str]]]:
        """(name, hostname, ["geneve 172.31.255.2", ...]) for every chassis."""
        return [(c.name, c.hostname, [f"{e.type} {e.ip}" for e in c.encaps])
                for c in self.api.tables["Chassis"].rows.values()]

    def service_monitors(self) -> dict[tuple[str, str, int], str]:
        """(logical_port, backend IP, port) -> status of OVN's health check of it:
        "online", "offline", "error", or "" before ovn-controller first reported."""
        return {(m.logical_port, m.ip, m.port): (m.status[0] if m.status else "")
                for m in self.api.tables["Service_Monitor"].rows.values()}

    # -- for `dockovn trace` (network/diagnose) ------------------------------------------

    @reading
    def chassis_state(self, name: str) -> ChassisState | None:
        """A chassis by name (the host's system-id) or hostname, with its Chassis_Private."""
        found = next((c for c in self.api.tables["Chassis"].rows.values()
                      if name in (c.name, c.hostname)), None)
        if found is None:
            return None
        private = next((p for p in self.api.tables["Chassis_Private"].rows.values()
                        if p.name == found.name), None)
        return ChassisState(
            name=found.name, hostname=found.hostname,
            encap_ips=tuple(sorted(e.ip for e in found.encaps)),
            nb_cfg=private.nb_cfg if private is not None else None,
            nb_cfg_timestamp=private.nb_cfg_timestamp if private is not None else 0)

    @reading
    def binding(self, logical_port: str) -> Binding | None:
        """The port's Port_Binding; None when northd has not made one (yet)."""
        for pb in self.api.tables["Port_Binding"].rows.values():
            if pb.logical_port == logical_port:
                return Binding(chassis=pb.chassis[0].name if pb.chassis else "",
                               up=pb.up[0] if pb.up else None)
        return None

    @reading
    def nb_cfg(self) -> int | None:
        """SB_Global.nb_cfg: the NB_Global.nb_cfg ovn-northd last passed on."""
        row = next(iter(self.api.tables["SB_Global"].rows.values()), None)
        return row.nb_cfg if row is not None else None

    # -- for `dockovn doctor` (network/diagnose) -----------------------------------------

    @reading
    def chassis_states(self) -> list[ChassisState]:
        """Every chassis with its Chassis_Private (one pass, for cluster-wide checks)."""
        private = {p.name: p for p in self.api.tables["Chassis_Private"].rows.values()}
        out = []
        for c in self.api.tables["Chassis"].rows.values():
            p = private.get(c.name)
            out.append(ChassisState(
                name=c.name, hostname=c.hostname,
                encap_ips=tuple(sorted(e.ip for e in c.encaps)),
                nb_cfg=p.nb_cfg if p is not None else None,
                nb_cfg_timestamp=p.nb_cfg_timestamp if p is not None else 0))
        return out

    @reading
    def bindings(self) -> dict[str, Binding]:
        """logical_port -> its Port_Binding, for every port (one pass)."""
        return {pb.logical_port: Binding(chassis=pb.chassis[0].name if pb.chassis else "",
                                         up=pb.up[0] if pb.up else None)
                for pb in self.api.tables["Port_Binding"].rows.values()}
