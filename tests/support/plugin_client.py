"""Talk to a plugin socket exactly as dockerd does: POST /<Method>, raw JSON body."""

from __future__ import annotations

import json
from typing import Any

from dockovn.host.unix_http import UnixHTTPConnection


class PluginClient:
    def __init__(self, socket_path: str):
        self.socket_path = socket_path

    def raw(self, method: str, body: bytes) -> tuple[int, dict[str, Any], str]:
        """(HTTP status, decoded reply, Content-Type)."""
        conn = UnixHTTPConnection(self.socket_path)
        try:
            conn.request("POST", f"/{method}", body=body,
                         headers={"Content-Type": "application/json",
                                  "Accept": "application/vnd.docker.plugins.v1+json"})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data), resp.getheader("Content-Type", "")
        finally:
            conn.close()

    def call(self, method: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        status, reply, _ = self.raw(method, json.dumps({} if body is None else body).encode())
        return status, reply
