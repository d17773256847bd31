"""Fixtures that start real components: ovsdb-server with OVN's NB schema, Open vSwitch,
and the driver under test as its own process. Nothing here mocks OVN, OVS or Docker."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from dockovn.deploy import openvswitch, procs
from dockovn.host.ovs import LocalSwitch
from dockovn.ovn.nb import Northbound

from tests.support.daemons import DriverProcess, nb_server
from tests.support.plugin_client import PluginClient

TEST_BRIDGE = "dkt-br"  # protocol tests plug into this bridge, not br-int


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (veths, OVS)")


@pytest.fixture(scope="session")
def workdir():
    path = tempfile.mkdtemp(prefix="dockovn-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nb_db(workdir):
    """A real ovsdb-server serving an empty OVN Northbound DB."""
    server = nb_server(os.path.join(workdir, "nb"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nb(nb_db):
    """An ovsdbapp client of ``nb_db``, for checking what the driver wrote."""
    client = Northbound(nb_db.remote)
    yield client
    client.close()


@pytest.fixture(scope="session")
def system_ovs():
    _need_root()
    started = openvswitch.start()
    yield openvswitch.OvsPaths()
    if started:
        openvswitch.stop()


@pytest.fixture(scope="session")
def test_bridge(system_ovs):
    db = f"--db={system_ovs.remote}"
    procs.run(["ovs-vsctl", db, "--may-exist", "add-br", TEST_BRIDGE,
               "--", "set", "Bridge", TEST_BRIDGE, "datapath_type=netdev"], "test bridge")
    yield TEST_BRIDGE
    procs.run(["ovs-vsctl", db, "--if-exists", "del-br", TEST_BRIDGE], "removing test bridge")


@pytest.fixture(scope="session")
def ovs(system_ovs, test_bridge):
    client = LocalSwitch(system_ovs.remote, test_bridge)
    yield client
    client.close()


@pytest.fixture(scope="session")
def driver(workdir, nb_db, test_bridge):
    """The driver under test on a private socket, against the private NB and test bridge."""
    proc = DriverProcess(
        plugin_dir=os.path.join(workdir, "plugins"),
        log_path=os.path.join(workdir, "driver.log"),
        args=("--nb", nb_db.remote, "--bridge", test_bridge,
              "--docker-host", f"unix://{workdir}/no-docker.sock", "--request-timeout", "5",
              # No name server: it would hold this machine's name-server address for the
              # whole session, and the e2e driver (which serves names) could not have it.
              "--dns-address", ""),
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def plugin(driver) -> PluginClient:
    return PluginClient(driver.socket)
