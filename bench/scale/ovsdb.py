"""Plain OVSDB JSON-RPC (RFC 7047) on the harness central's unix sockets, for the scale
benchmark: counting rows without a client that caches the whole database, and writing
(then removing) many synthetic logical switch ports in a few big transactions.

One short connection per call: nothing here is on a measured path, and a command-line
transaction of 1,000 ports would not fit in one argument (Linux caps each at 128 KiB).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import uuid
from typing import Any

NB = "OVN_Northbound"
SB = "OVN_Southbound"
TAG_KEY, TAG_VALUE = "dockovn-bench", "scale-synthetic"  # on every synthetic switch
FAKE_HOST = "dksc-synthetic-host"                       # their ports' dockovn:host


class OvsdbError(RuntimeError):
    pass


def call(path: str, method: str, params: list, timeout: float = 120.0) -> Any:
    """One JSON-RPC request on unix socket ``path``; the result, or OvsdbError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(json.dumps({"method": method, "params": params, "id": 1}).encode())
        decoder, buf = json.JSONDecoder(), ""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise OvsdbError(f"{path}: connection closed before the reply")
            buf += chunk.decode()
            while buf.strip():
                try:
                    msg, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break  # not all there yet
                buf = buf.lstrip()[end:]
                if msg.get("method") == "echo":  # the server's keep-alive
                    sock.sendall(json.dumps({"result": msg.get("params", []),
                                             "id": msg.get("id")}).encode())
                    continue
                if msg.get("id") != 1:
                    continue
                if msg.get("error"):
                    raise OvsdbError(f"{method}: {msg['error']}")
                return msg["result"]
    finally:
        sock.close()


def transact(path: str, db: str, ops: list[dict], timeout: float = 120.0) -> list:
    result = call(path, "transact", [db, *ops], timeout)
    errors = [r for r in result if isinstance(r, dict) and r.get("error")]
    if errors:
        raise OvsdbError(f"transaction failed: {errors[:3]}")
    return result


def select(path: str, db: str, table: str, columns: list[str],
           where: list | None = None) -> list[dict]:
    return transact(path, db, [{"op": "select", "table": table, "where": where or [],
                                "columns": columns}])[0]["rows"]


def count(path: str, db: str, table: str, where: list | None = None) -> int:
    return len(select(path, db, table, ["_uuid"], where))


def container_ports(nb: str) -> tuple[int, int]:
    """(container ports, of them up): NB ports carrying a Docker endpoint."""
    rows = select(nb, NB, "Logical_Switch_Port", ["up", "external_ids"])
    mine = [r for r in rows if any(k == "dockovn:endpoint-id" for k, _ in r["external_ids"][1])]
    up = sum(1 for r in mine if r["up"] is True or r["up"] == ["set", [True]])
    return len(mine), up


def _hex_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def add_synthetic(nb: str, ports: int, per_switch: int = 1000) -> tuple[float, str]:
    """``ports`` logical switch ports shaped like dockovn's (an endpoint of a host that is
    not there, "MAC IP" addresses and port security), on tagged switches of ``per_switch``
    ports each, one transaction per switch. (seconds, the last port's name)."""
    if not 0 < per_switch <= 4000 or ports > 40 * per_switch:
        raise ValueError("at most 40 switches of 1..4000 ports (10.160.0.0/20 .. 10.199.0.0/20)")
    t0 = time.monotonic()
    made, last, index = 0, "", 0
    now = str(int(time.time()))
    while made < ports:
        n = min(per_switch, ports - made)
        switch = _hex_id()
        subnet = ipaddress.ip_network(f"10.{160 + index}.0.0/20")  # 4,094 addresses each
        ops, refs = [], []
        for i in range(n):
            name = _hex_id()
            ip = subnet.network_address + 2 + i
            mac = "0a:58:" + ":".join(f"{b:02x}" for b in ip.packed)
            ref = f"p{i}"
            refs.append(["named-uuid", ref])
            ops.append({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": ref,
                        "row": {"name": name, "addresses": f"{mac} {ip}",
                                "port_security": f"{mac} {ip}",
                                "external_ids": ["map", [
                                    ["dockovn:network-id", switch], ["dockovn:endpoint-id", name],
                                    ["dockovn:host", FAKE_HOST], ["dockovn:hostname", FAKE_HOST],
                                    ["dockovn:created-at", now]]]}})
            last = name
        ops.append({"op": "insert", "table": "Logical_Switch",
                    "row": {"name": switch, "ports": ["set", refs],
                            "external_ids": ["map", [
                                [TAG_KEY, TAG_VALUE], ["dockovn:network-id", switch],
                                ["dockovn:subnet", str(subnet)], ["dockovn:mtu", "1442"],
                                ["dockovn:created-by", FAKE_HOST], ["dockovn:created-at", now],
                                ["dockovn:ipam", "docker"]]]}})
        transact(nb, NB, ops, timeout=300)
        made += n
        index += 1
    return time.monotonic() - t0, last


def remove_synthetic(nb: str) -> int:
    """Delete the tagged switches; their ports go with them (Logical_Switch_Port is not a
    root table). The number of switches removed."""
    result = transact(nb, NB, [{"op": "delete", "table": "Logical_Switch", "where": [
        ["external_ids", "includes", ["map", [[TAG_KEY, TAG_VALUE]]]]]}], timeout=300)
    return result[0].get("count", 0)
