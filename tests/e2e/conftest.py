"""The whole stack on this machine, started with the same code as `dockovn up`:
Open vSwitch, OVN central, ovn-controller, dockerd, and the driver under test
on /run/docker/plugins/dockovn.sock (a driver already running there is
stopped first, so the code under test is what dockerd talks to)."""

from __future__ import annotations

import os
import shutil

import docker
import pytest

from dockovn.deploy import central, chassis, dockerd, driver_daemon, openvswitch
from dockovn.host import links
from dockovn.metrics import exporter as metrics_exporter
from dockovn.network.names import service as names_service
from dockovn.ovn.nb import Northbound

from tests.support.daemons import DriverProcess

LABEL = "dockovn-test"
PLUGIN_DIR = "/run/docker/plugins"


def docker_cli() -> str:
    """The client that matches Debian's dockerd (a newer client may speak a newer API)."""
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


def remove_leftovers(client: docker.DockerClient, names=()) -> None:
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        c.remove(force=True)
    for name in names:
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    for net in client.networks.list():
        if net.attrs.get("Driver") == "dockovn" and (
                net.name.startswith("dkt-") or net.name in names):
            net.reload()  # a listing leaves out the attached containers
            for c in net.attrs.get("Containers") or {}:
                client.containers.get(c).remove(force=True)
            net.remove()


NAMES_RESYNC = 3  # seconds (see the driver's args)


@pytest.fixture(scope="session")
def stack(workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    started = []  # undo steps, run in reverse even if set-up fails halfway
    try:
        # The driver's name server leaves its address on loopback (on purpose: see
        # network/names/service.py); the machine gets it back as it was.
        started.append(lambda: links.remove_local_address(names_service.DEFAULT_ADDRESS))
        if openvswitch.start():
            started.append(openvswitch.stop)
        if central.start(central.LOCAL):
            started.append(central.stop)
        host = chassis.HostConfig(central=chassis.LOCAL, encap_ip="127.0.0.1")
        setup = chassis.setup(host)
        if setup.controller_started:
            started.append(lambda: chassis.stop_controller(host))
        # Whatever `dockovn up` (or an earlier run) left there: we test this checkout,
        # and give the machine its driver back afterwards.
        if driver_daemon.stop():
            started.append(driver_daemon.start)
        driver = DriverProcess(plugin_dir=PLUGIN_DIR,
                               log_path=os.path.join(workdir, "e2e-driver.log"),
                               # gc only when a test asks (tests plant stale state and
                               # check what `dockovn gc` finds); the periodic pass is
                               # tested on the multi-host harness.
                               args=("--pidfile", driver_daemon.DriverDaemonConfig().pidfile,
                                     "--gc-interval", "0",
                                     # names and labels copied again from Docker this
                                     # often (60 s by default), so a test sees it happen
                                     "--names-resync", str(NAMES_RESYNC),
                                     # the default, said: tests/e2e/test_metrics.py reads it
                                     "--metrics-address", metrics_exporter.DEFAULT_ADDRESS))
        started.append(driver.stop)
        driver.start()
        if dockerd.start():
            started.append(dockerd.stop)
        dockerd.ensure_image(dockerd.DockerdConfig().host)
        # The driver's pass at start runs once dockerd answers: let it finish before
        # tests plant stale state for `dockovn gc` (it would take some of it).
        driver.wait_for_log("gc at start: removed")
        client = docker.DockerClient(base_url=dockerd.DockerdConfig().host, timeout=120)
        started.append(client.close)
        started.append(lambda: remove_leftovers(client, names=("busybox", "foo", "bar")))
        remove_leftovers(client, names=("busybox", "foo", "bar"))
        nb = Northbound(setup.settings["ovn-nb"])
        started.append(nb.close)
        yield {"docker": client, "nb": nb, "driver": driver}
    finally:
        for undo in reversed(started):
            undo()


@pytest.fixture
def client(stack) -> docker.DockerClient:
    return stack["docker"]


@pytest.fixture
def nb(stack) -> Northbound:
    return stack["nb"]


@pytest.fixture
def cleanup(client):
    """Names of containers and networks a test made, removed afterwards even if it fails."""
    made: list = []
    yield made
    for obj in reversed(made):
        try:
            obj.reload()
            if isinstance(obj, docker.models.containers.Container):
                obj.remove(force=True)
            else:
                obj.remove()
        except docker.errors.NotFound:
            pass
