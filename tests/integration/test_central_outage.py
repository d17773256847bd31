"""OVN central goes away and comes back: requests fail fast with a clear Err,
and the driver recovers by itself."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.support import wait
from tests.support.daemons import DriverProcess, nb_server
from tests.support.plugin_client import PluginClient

pytestmark = pytest.mark.integration


def create_network(client, nid):
    return client.call("NetworkDriver.CreateNetwork", {
        "NetworkID": nid, "IPv4Data": [{"Pool": "10.60.0.0/24", "Gateway": "10.60.0.1/24"}]})


def test_requests_fail_fast_while_nb_is_down_and_recover(workdir, test_bridge):
    folder = os.path.join(workdir, "nb-outage")
    server = nb_server(folder)
    proc = DriverProcess(plugin_dir=os.path.join(workdir, "plugins-outage"),
                         log_path=os.path.join(workdir, "driver-outage.log"),
                         args=("--nb", server.remote, "--bridge", test_bridge,
                               "--docker-host", f"unix://{workdir}/no-docker.sock",
                               "--request-timeout", "5")).start()
    try:
        client = PluginClient(proc.socket)
        server.stop()
        time.sleep(0.5)
        t0 = time.monotonic()
        status, reply = create_network(client, uuid.uuid4().hex * 2)
        elapsed = time.monotonic() - t0
        assert status == 200 and "OVN central is unreachable" in reply["Err"]
        assert elapsed < 6  # bounded by the request timeout, never a hang
        # Every kind of call answers while central is down (none hangs dockerd).
        status, reply = client.call("IpamDriver.RequestPool", {"Pool": "10.61.0.0/24"})
        assert "unreachable" in reply["Error"] or "timed out" in reply["Error"]

        server.start()  # same DB file, same socket
        nid = uuid.uuid4().hex * 2
        wait.until(lambda: create_network(client, nid) == (200, {}), 30,
                   what="driver reconnected to NB")
    finally:
        proc.stop()
        server.stop()
