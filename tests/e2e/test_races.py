"""Races found in review, reproduced through a real dockerd: each test drives the
interleaving that broke and checks what a user would see."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import docker as sdk
import pytest

from dockovn.deploy import dockerd
from dockovn.host.docker_engine import DockerEngine
from dockovn.network.overlay.replication import NetworkReplicator

from tests.e2e.conftest import LABEL
from tests.e2e.test_overlay_single_host import IMAGE, network, unique
from tests.support.docker_objects import remove

pytestmark = pytest.mark.e2e


def test_parallel_network_creates_without_subnet_get_their_own_pools(client, cleanup):
    """Three `docker network create --ipam-driver dockovn` without --subnet at once:
    three subnets, and removing one leaves the others working."""
    ipam = sdk.types.IPAMConfig(driver="dockovn")

    def create(_):
        return client.networks.create(unique("auto"), driver="dockovn", ipam=ipam)

    with ThreadPoolExecutor(3) as ex:
        nets = list(ex.map(create, range(3)))
    cleanup.extend(nets)
    subnets = []
    for net in nets:
        net.reload()
        subnets.append(net.attrs["IPAM"]["Config"][0]["Subnet"])
    assert len(set(subnets)) == 3, subnets
    remove(nets[0])
    c = client.containers.run(IMAGE, "sleep 600", detach=True, network=nets[1].name,
                              name=unique("c"), labels={LABEL: "1"})
    cleanup.append(c)
    c.reload()
    ip = c.attrs["NetworkSettings"]["Networks"][nets[1].name]["IPAddress"]
    assert ip.startswith(subnets[1].rsplit(".", 1)[0] + ".")


class EngineCreatingANetworkMidPass(DockerEngine):
    """The real dockerd; a network is created at the worst moment of a replication
    pass: right before the pass lists Docker's networks."""

    def __init__(self, make_network):
        super().__init__(dockerd.DockerdConfig().host)
        self.make_network = make_network

    def networks(self, driver):
        if self.make_network is not None:
            self.make_network()
            self.make_network = None
        return super().networks(driver)


def test_replication_never_removes_a_network_created_during_its_pass(client, cleanup, nb):
    made = []
    engine = EngineCreatingANetworkMidPass(
        lambda: made.append(network(client, cleanup, "10.61.0.0/24")))
    replicator = NetworkReplicator(nb, lambda: engine)
    try:
        for _ in range(3):  # the pass that saw it being made, and the ones after
            replicator.reconcile(engine)
    finally:
        engine.close()
    assert made, "the network was not created"
    made[0].reload()  # raises NotFound if the pass removed it from dockerd
    assert made[0].attrs["Driver"] == "dockovn"
