"""The libnetwork remote protocol as dockerd speaks it, for replaying against a driver.

dockerd's plugin client (moby pkg/plugins/client.go + transport.go) sends
``POST /<Method>`` with a JSON body, the header
``Accept: application/vnd.docker.plugins.v1.2+json`` and *no* Content-Type, and
keeps the connection open between calls. The replay does the same, so neither
driver gets a cheaper (or dearer) request than it would from dockerd. The
missing Content-Type matters for the upstream driver: Flask only leaves the body
in ``request.data`` when no form content type is declared.

The bodies below are the ones dockerd 20.10 sends (checked on this machine by
logging what it posted to a stub plugin): for `docker run -d --net=X`
CreateEndpoint then Join, for `docker rm -f` Leave then DeleteEndpoint, and
nothing else per container (the container's gateway is docker_gwbridge's
endpoint, so Program/RevokeExternalConnectivity go to the bridge driver).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

from dockovn.host.unix_http import UnixHTTPConnection

ACCEPT = "application/vnd.docker.plugins.v1.2+json"

# What a container with no published ports carries in CreateEndpoint / Join options.
ENDPOINT_OPTIONS = {"com.docker.network.endpoint.exposedports": [],
                    "com.docker.network.portmap": []}


class PluginCallError(RuntimeError):
    """The driver answered with an HTTP error or ``{"Err": ...}``."""


class PluginClient:
    """One keep-alive connection to a plugin, on a unix socket or loopback TCP."""

    def __init__(self, *, unix_path: str | None = None, tcp: tuple[str, int] | None = None,
                 timeout: float = 60.0):
        if (unix_path is None) == (tcp is None):
            raise ValueError("give exactly one of unix_path, tcp")
        self.unix_path, self.tcp, self.timeout = unix_path, tcp, timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.unix_path:
                self._conn = UnixHTTPConnection(self.unix_path, self.timeout)
            else:
                self._conn = http.client.HTTPConnection(*self.tcp, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, method: str, body: bytes) -> tuple[int, bytes]:
        conn = self._connection()
        conn.request("POST", f"/{method}", body=body, headers={"Accept": ACCEPT})
        resp = conn.getresponse()
        return resp.status, resp.read()

    def call(self, method: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(seconds, reply). Raises PluginCallError on an HTTP error or an Err reply.

        The clock covers sending the request to having read the whole reply, as
        dockerd waits for it; encoding the body happens before the clock starts.
        """
        payload = json.dumps(body).encode()
        start = time.perf_counter()
        try:
            status, data = self._post(method, payload)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed an idle keep-alive connection: reconnect and resend,
            # timing only the successful attempt (dockerd's client does the same).
            self.close()
            start = time.perf_counter()
            status, data = self._post(method, payload)
        elapsed = time.perf_counter() - start
        try:
            reply = json.loads(data or b"{}")
        except ValueError:
            raise PluginCallError(f"{method}: HTTP {status}, not JSON: {data[:200]!r}") from None
        if status != 200 or (isinstance(reply, dict) and reply.get("Err")):
            raise PluginCallError(f"{method}: HTTP {status}: {reply}")
        return elapsed, reply


def new_id() -> str:
    """A 64-hex-digit ID like Docker's network and endpoint IDs."""
    return uuid.uuid4().hex + uuid.uuid4().hex


def create_network_body(network_id: str, subnet: str, gateway: str) -> dict[str, Any]:
    """CreateNetwork for `docker network create -d X --subnet S` (gateway from Docker's IPAM)."""
    prefix = subnet.split("/")[1]
    return {
        "NetworkID": network_id,
        "Options": {"com.docker.network.enable_ipv6": False,
                    "com.docker.network.generic": {}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": f"{gateway}/{prefix}",
                      "Pool": subnet}],
        "IPv6Data": [],
    }


def create_endpoint_body(network_id: str, endpoint_id: str, address: str) -> dict[str, Any]:
    """``address`` is "ip/prefix" from Docker's IPAM; no MAC unless --mac-address."""
    return {"NetworkID": network_id, "EndpointID": endpoint_id,
            "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": ""},
            "Options": dict(ENDPOINT_OPTIONS)}


def join_body(network_id: str, endpoint_id: str) -> dict[str, Any]:
    # The sandbox is only a name here: neither driver opens it (Docker moves the
    # interface into the namespace after Join).
    return {"NetworkID": network_id, "EndpointID": endpoint_id,
            "SandboxKey": f"/var/run/docker/netns/{endpoint_id[:12]}",
            "Options": dict(ENDPOINT_OPTIONS)}


def endpoint_body(network_id: str, endpoint_id: str) -> dict[str, Any]:
    """Leave and DeleteEndpoint."""
    return {"NetworkID": network_id, "EndpointID": endpoint_id}


def network_body(network_id: str) -> dict[str, Any]:
    return {"NetworkID": network_id}
