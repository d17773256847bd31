"""Reads from the OVN Southbound DB: which chassis each logical port is bound to."""

from __future__ import annotations

from ovsdbapp.backend.ovs_idl import connection, idlutils
from ovsdbapp.schema.ovn_southbound import impl_idl


class Southbound:
    def __init__(self, remote: str, timeout: float = 10.0):
        helper = idlutils.get_schema_helper(remote, "OVN_Southbound")
        for table in ("Chassis", "Port_Binding", "Encap"):
            helper.register_table(table)
        self._conn = connection.Connection(connection.OvsdbIdl(remote, helper), timeout=timeout)
        self.api = impl_idl.OvnSbApiIdlImpl(self._conn)

    def close(self) -> None:
        try:
            self._conn.stop(timeout=2)
        except Exception:
            pass

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
