"""The page's web server (aiohttp): the page, its live updates and ``trace``.

- ``GET /`` and ``/static/*``: the page (ui/static).
- ``GET /events``: server-sent events (EventSource in the browser): the whole picture
  as JSON at once, then again each time it changes. The watcher's thread hands each new
  picture to the event loop, which wakes every open stream.
- ``GET /state``: the picture now, as JSON (for scripts, and for a page whose stream
  broke while it reconnects).
- ``POST /trace`` ``{"src", "dst", "protocol": "icmp|tcp|udp", "port"}``: `dockovn
  trace`'s verdict for that pair, run in a worker thread (it forks ovn-trace).

It listens on the host's loopback by default: the page shows every container and
network of the cluster, and can trace between any two.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Callable

from aiohttp import web

LOG = logging.getLogger(__name__)

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
KEEPALIVE = 15.0  # seconds between comments on an idle stream (proxies close silent ones)


class Live:
    """The latest picture and a way to wait for the next one (event-loop side)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.state: dict = {}
        self.version = 0
        # Replaced at each picture: its waiters wake, later ones wait for the next. No
        # lock, so a page closed mid-wait (its handler closed) leaves nothing half-held.
        self._next = asyncio.Event()

    def publish(self, state: dict) -> None:
        """From any thread: a new picture."""
        self.loop.call_soon_threadsafe(self._set, state)

    def _set(self, state: dict) -> None:
        self.state, self.version = state, self.version + 1
        arrived, self._next = self._next, asyncio.Event()
        arrived.set()

    async def next(self, seen: int, timeout: float) -> tuple[int, dict] | None:
        """The picture after version ``seen``; None if none came within ``timeout``."""
        if self.version <= seen:
            try:
                await asyncio.wait_for(self._next.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        return self.version, self.state


def make_app(live: Live, trace: Callable[[str, str, str, int | None], dict]) -> web.Application:
    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(os.path.join(STATIC, "index.html"))

    async def state(_request: web.Request) -> web.Response:
        return web.json_response(live.state, dumps=lambda o: json.dumps(o, default=str))

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        seen = 0
        if live.version:
            seen = live.version
            await response.write(_event(live.state))
        while True:
            got = await live.next(seen, KEEPALIVE)
            if got is None:
                await response.write(b": still here\n\n")
                continue
            seen, picture = got
            await response.write(_event(picture))

    async def run_trace(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            src, dst = str(body["src"]), str(body["dst"])
            protocol = str(body.get("protocol") or "icmp")
            port = int(body["port"]) if body.get("port") not in (None, "") else None
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        if protocol not in ("icmp", "tcp", "udp") or (protocol != "icmp" and port is None):
            return web.json_response({"error": "protocol is icmp, or tcp/udp with a port"},
                                     status=400)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, trace, src, dst, protocol, port)
        return web.json_response(result)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/state", state)
    app.router.add_get("/events", events)
    app.router.add_post("/trace", run_trace)
    app.router.add_static("/static", STATIC)
    return app


def _event(state: dict) -> bytes:
    return f"data: {json.dumps(state, default=str)}\n\n".encode()
