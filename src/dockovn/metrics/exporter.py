"""Serving the metrics in Prometheus' text format over HTTP (``GET /metrics``).

An aiohttp site in the process' own event loop (the driver's, beside the plugin socket,
or ``dockovn metrics`` alone). A scrape runs the collectors in a worker thread: they ask
the OVS and OVN daemons over their sockets, which must not hold the loop (or the plugin
requests it serves).

Containers must not read it (it names every network and pool): the default address is
the host's loopback, which containers cannot reach (host/firewall.py drops what they send
to 127.0.0.0/8), and ``allow`` turns away a peer the host reaches through a container
network's gateway port, whichever address it asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

LOG = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:9476"  # 9476: free in Prometheus' port allocations list


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"metrics address {text!r}: want HOST:PORT, e.g. {DEFAULT_ADDRESS}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"metrics address {text!r}: {host!r} is not an IP address") from None
    return host, int(port)


def metrics_app(registry: CollectorRegistry,
                allow: Callable[[str], bool] = lambda peer: True) -> web.Application:
    def scrape(peer: str) -> bytes | None:
        # In a worker thread, ``allow`` too: it may ask the kernel through a library
        # that runs an event loop of its own (pyroute2).
        return generate_latest(registry) if allow(peer) else None

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, scrape,
                                                                request.remote or "")
        if body is None:
            return web.Response(status=403, text="metrics are not served to containers\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def serve_metrics(address: str, registry: CollectorRegistry, stop: asyncio.Event,
                        allow: Callable[[str], bool] = lambda peer: True) -> None:
    """Serve ``registry`` on ``address`` until ``stop`` is set. A port that cannot be
    bound is logged, not fatal: the driver's job is the plugin socket."""
    host, port = parse_address(address)
    runner = web.AppRunner(metrics_app(registry, allow), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError as exc:
        LOG.error("metrics are off: cannot listen on %s: %s", address, exc)
        await runner.cleanup()
        return
    LOG.info("metrics on http://%s/metrics", address)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
