"""The plugin's HTTP side: one route, one table, JSON in and out.

dockerd POSTs ``/<Method>`` with a JSON body on our unix socket. A single
table maps the method to its request type and the backend call, so adding a
method is one line. Rules from libnetwork's docs/remote.md:

- a request that cannot be decoded (bad JSON, missing or mistyped fields):
  HTTP 400 with ``{"Err": ...}``;
- a request understood but not doable: HTTP 200 with ``{"Err": ...}``;
- an unknown method: HTTP 404, so dockerd treats it as not implemented.

dockerd puts no timeout on legacy plugins, so each call is bounded here: a
backend stuck on an unreachable NB answers Err instead of hanging `docker run`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dockovn import deadline, metrics
from dockovn.network.api import (
    CreateEndpointRequest,
    CreateNetworkRequest,
    DiscoveryRequest,
    DriverError,
    Empty,
    EndpointRequest,
    IpamDriver,
    JoinRequest,
    NetworkDriver,
    NetworkRequest,
    ReleaseAddressRequest,
    ReleasePoolRequest,
    RequestAddressRequest,
    RequestPoolRequest,
)

LOG = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.docker.plugins.v1+json"
PLUGIN_DIR = "/run/docker/plugins"


def _noop(_req=None) -> Empty:
    return Empty()


def method_table(driver: NetworkDriver, ipam: IpamDriver | None
                 ) -> dict[str, tuple[type[BaseModel] | None, Callable]]:
    """Method name -> (request type or None when the body is ignored, handler)."""
    implements = ["NetworkDriver"] + (["IpamDriver"] if ipam is not None else [])
    table = {
        "Plugin.Activate": (None, lambda: {"Implements": implements}),
        "NetworkDriver.GetCapabilities": (None, driver.get_capabilities),
        "NetworkDriver.CreateNetwork": (CreateNetworkRequest, driver.create_network),
        "NetworkDriver.DeleteNetwork": (NetworkRequest, driver.delete_network),
        # Swarm-only calls: nothing to allocate outside swarm.
        "NetworkDriver.AllocateNetwork": (NetworkRequest, _noop),
        "NetworkDriver.FreeNetwork": (NetworkRequest, _noop),
        "NetworkDriver.CreateEndpoint": (CreateEndpointRequest, driver.create_endpoint),
        "NetworkDriver.EndpointOperInfo": (EndpointRequest, driver.endpoint_oper_info),
        "NetworkDriver.DeleteEndpoint": (EndpointRequest, driver.delete_endpoint),
        "NetworkDriver.Join": (JoinRequest, driver.join),
        "NetworkDriver.Leave": (EndpointRequest, driver.leave),
        "NetworkDriver.DiscoverNew": (DiscoveryRequest, _noop),
        "NetworkDriver.DiscoverDelete": (DiscoveryRequest, _noop),
        # (the underlay has none: its containers leave through the VM's own network)
        "NetworkDriver.ProgramExternalConnectivity": (
            EndpointRequest, getattr(driver, "program_external_connectivity", _noop)),
        "NetworkDriver.RevokeExternalConnectivity": (
            EndpointRequest, getattr(driver, "revoke_external_connectivity", _noop)),
    }
    if ipam is not None:
        table.update({
            "IpamDriver.GetCapabilities": (None, ipam.get_capabilities),
            "IpamDriver.GetDefaultAddressSpaces": (None, ipam.get_default_address_spaces),
            "IpamDriver.RequestPool": (RequestPoolRequest, ipam.request_pool),
            "IpamDriver.ReleasePool": (ReleasePoolRequest, ipam.release_pool),
            "IpamDriver.RequestAddress": (RequestAddressRequest, ipam.request_address),
            "IpamDriver.ReleaseAddress": (ReleaseAddressRequest, ipam.release_address),
        })
    return table


def describe_validation_error(method: str, exc: ValidationError) -> str:
    """One line naming each bad field, e.g. ``EndpointID: missing``."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "missing":
            problems.append(f"{where}: missing")
        else:
            problems.append(f"{where}: {err['msg']}")
    return f"{method}: invalid request: " + "; ".join(problems)


def _reply(body: Any, status: int = 200) -> web.Response:
    if isinstance(body, BaseModel):
        body = body.to_json()
    return web.Response(status=status, body=json.dumps(body), content_type=CONTENT_TYPE)


def _err(message: str, status: int = 200, method: str = "") -> web.Response:
    body = {"Err": message}
    if method.startswith("IpamDriver."):
        # libnetwork's IPAM client reads "Error" (docs/ipam.md), its network
        # driver client "Err": a 200 reply with only "Err" would look like success.
        body["Error"] = message
    return _reply(body, status)


class PluginApp:
    def __init__(self, driver: NetworkDriver, ipam: IpamDriver | None = None,
                 request_timeout: float = 10.0, workers: int = 16):
        self.table = method_table(driver, ipam)
        self.request_timeout = request_timeout
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockovn-req")
        self.app = web.Application()
        self.app.router.add_post("/{method}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        method = request.match_info["method"]
        response, outcome = await self._answer(method, request)
        if method in self.table:  # (not one label per path a caller made up)
            metrics.PLUGIN_REQUESTS.labels(method, outcome).inc()
            metrics.PLUGIN_SECONDS.labels(method).observe(time.perf_counter() - started)
        return response

    async def _answer(self, method: str, request: web.Request) -> tuple[web.Response, str]:
        """The reply to one request, and its outcome for the metrics."""
        entry = self.table.get(method)
        if entry is None:
            return _err(f"{method} is not implemented by dockovn", 404, method), "bad_request"
        model, call = entry
        args = ()
        if model is not None:
            raw = await request.read()
            try:
                body = json.loads(raw or b"null")
            except (ValueError, UnicodeDecodeError) as exc:
                return (_err(f"{method}: request body is not valid JSON: {exc}", 400, method),
                        "bad_request")
            if not isinstance(body, dict):
                return (_err(f"{method}: request body must be a JSON object", 400, method),
                        "bad_request")
            try:
                args = (model.model_validate(body),)
            except ValidationError as exc:
                return _err(describe_validation_error(method, exc), 400, method), "bad_request"
        loop = asyncio.get_running_loop()
        try:
            # The handler's own deadline is the request timeout (its OVN transactions
            # stop there, see dockovn.deadline); a transaction already sent gets a short
            # grace for its answer, so the reply says what really happened. This outer
            # bound only catches a handler stuck elsewhere.
            result = await asyncio.wait_for(
                loop.run_in_executor(self.pool, _within, self.request_timeout, call, *args),
                self.request_timeout + deadline.ANSWER_GRACE + 1)
        except DriverError as exc:
            LOG.warning("%s refused: %s", method, exc)
            return _err(str(exc), 200, method), "refused"
        except asyncio.TimeoutError:
            LOG.error("%s timed out after %ss", method, self.request_timeout)
            return _err(f"{method} timed out after {self.request_timeout:g}s "
                        "(is OVN Northbound reachable?)", 200, method), "timeout"
        except Exception as exc:  # a bug: say so, but never a traceback or a 500
            LOG.exception("%s failed", method)
            return _err(f"{method} failed: {type(exc).__name__}: {exc}", 200, method), "failed"
        LOG.debug("%s ok", method)
        return _reply(result), "ok"


def _within(seconds: float, call: Callable, *args):
    with deadline.bounded(seconds):
        return call(*args)


def socket_path(name: str = "dockovn", plugin_dir: str = PLUGIN_DIR) -> str:
    return os.path.join(plugin_dir, f"{name}.sock")


def remove_stale_socket(path: str) -> None:
    """Remove a socket left by a driver that died; refuse if one still answers."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise RuntimeError(f"another driver is already listening on {path}")


async def serve(plugin: PluginApp, path: str, stop: asyncio.Event) -> None:
    """Serve on the unix socket ``path`` until ``stop`` is set, then remove it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    remove_stale_socket(path)
    runner = web.AppRunner(plugin.app, access_log=None)
    await runner.setup()
    site = web.UnixSite(runner, path)
    await site.start()
    os.chmod(path, 0o660)  # root (dockerd) only: the driver runs privileged operations
    LOG.info("listening on %s", path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if os.path.exists(path):
            os.unlink(path)
        plugin.pool.shutdown(wait=False, cancel_futures=True)
