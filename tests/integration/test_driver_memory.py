"""What the driver keeps in memory follows the networks: nothing stays for a network
Docker deleted (a long-lived driver on a host where networks come and go would grow
without end). Real NB and OVS; the driver in this process, to count what it holds."""

from __future__ import annotations

import uuid

import pytest

from dockovn.network.api import (CreateEndpointRequest, CreateNetworkRequest, EndpointRequest,
                                 NetworkRequest)
from dockovn.network.overlay.driver import OverlayDriver

pytestmark = pytest.mark.integration


def _id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def _network(n: int) -> CreateNetworkRequest:
    return CreateNetworkRequest.model_validate({
        "NetworkID": _id(), "Options": {"com.docker.network.generic": {}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": f"10.77.{n}.0/24",
                      "Gateway": f"10.77.{n}.1/24"}], "IPv6Data": []})


def test_a_deleted_network_leaves_no_address_map(nb, ovs):
    driver = OverlayDriver(nb, ovs, "memory-host")
    for n in range(5):
        net = _network(n)
        driver.create_network(net)
        endpoint = CreateEndpointRequest.model_validate({
            "NetworkID": net.network_id, "EndpointID": _id(),
            "Interface": {"Address": f"10.77.{n}.2/24"}})
        driver.create_endpoint(endpoint)
        assert driver.address_maps == 1  # Docker's IPAM: the map answers "address taken"
        ids = {"NetworkID": net.network_id, "EndpointID": endpoint.endpoint_id}
        driver.delete_endpoint(EndpointRequest.model_validate(ids))
        driver.delete_network(NetworkRequest.model_validate({"NetworkID": net.network_id}))
        assert driver.address_maps == 0
        assert nb.switch(net.network_id) is None
    # A DeleteNetwork for what is gone already (another host removed it) holds nothing.
    driver.delete_network(NetworkRequest.model_validate({"NetworkID": _id()}))
    assert driver.address_maps == 0
