"""`dockovn ui`'s own logic without a cluster: the watcher tells the page only about a
changed picture, the server streams each picture to every open page, and the trace form's
bad input is refused before any trace runs. (The page against a real cluster, in a real
browser: tests/multihost/test_observability.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from dockovn.ui.server import Live, make_app
from dockovn.ui.state import Sources, Watcher


def test_the_watcher_passes_on_changes_only():
    pictures = iter([{"hosts": ["h1"]}, {"hosts": ["h1"]}, {"hosts": ["h1", "h2"]}])
    seen = []
    watcher = Watcher(Sources(None, None, "", "", doctor=None), seen.append,
                      read=lambda _src: next(pictures), raft=lambda _src: {"nb": []})
    for _ in range(3):
        watcher.refresh()
    assert seen == [{"hosts": ["h1"], "raft": {"nb": []}, "doctor": []},
                    {"hosts": ["h1", "h2"], "raft": {"nb": []}, "doctor": []}]


@pytest.fixture
def served():
    """The app on a free loopback port, its event loop in a thread."""
    loop = asyncio.new_event_loop()
    traces = []

    def trace(src, dst, protocol, port):
        traces.append((src, dst, protocol, port))
        return {"through": False, "reason": "dropped by policy p", "policy": "p", "notes": []}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live = Live(loop)
    ready = threading.Event()

    async def start():
        runner = web.AppRunner(make_app(live, trace))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}", live, traces
    loop.call_soon_threadsafe(loop.stop)


def test_every_picture_reaches_an_open_page(served):
    url, live, _ = served
    live.publish({"n": 1})
    stream = urllib.request.urlopen(url + "/events", timeout=10)
    got = []
    while len(got) < 2:
        line = stream.readline()
        if line.startswith(b"data:"):
            got.append(json.loads(line[5:]))
            if len(got) == 1:
                live.publish({"n": 2})
    assert got == [{"n": 1}, {"n": 2}]
    assert json.loads(urllib.request.urlopen(url + "/state", timeout=5).read()) == {"n": 2}
    assert b"EventSource" in urllib.request.urlopen(url + "/static/app.js", timeout=5).read()


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/trace", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_trace_form(served):
    url, _, traces = served
    assert _post(url, {"src": "a"})[0] == 400                       # no destination
    status, answer = _post(url, {"src": "a", "dst": "b", "protocol": "tcp"})
    assert status == 400 and "port" in answer["error"]              # tcp without a port
    assert _post(url, {"src": "a", "dst": "b", "protocol": "sctp", "port": 1})[0] == 400
    assert traces == []
    status, answer = _post(url, {"src": "web", "dst": "db", "protocol": "tcp", "port": "81"})
    assert status == 200 and answer["policy"] == "p"
    assert traces == [("web", "db", "tcp", 81)]
