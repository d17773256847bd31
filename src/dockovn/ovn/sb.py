"""Reads from the OVN Southbound DB: which chassis each logical port is bound to, and
what OVN's load-balancer health checks found."""

from __future__ import annotations

from ovsdbapp.schema.ovn_southbound import impl_idl

from dockovn.ovsdb import BoundedTransactions, OwnConnection, SslFiles, close_api, commit, open_api


class _SbApi(BoundedTransactions, OwnConnection, impl_idl.OvnSbApiIdlImpl):
    pass


class Southbound:
    def __init__(self, remote: str, timeout: float = 10.0, ssl: SslFiles | None = None):
        self.api = open_api(_SbApi, remote, "OVN_Southbound", timeout,
                            tables=("Chassis", "Chassis_Private", "Port_Binding", "Encap",
                                    "Service_Monitor"),
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
