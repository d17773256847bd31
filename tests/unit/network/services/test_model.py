"""The pure parts of services: labels, VIPs, and the backends every host computes."""

from __future__ import annotations

import ipaddress

import pytest

from dockovn.network import external_ids
from dockovn.network.services.model import (ServiceError, ServiceLb, desired, highest_free,
                                            parse_vip, registry_ids)
from dockovn.ovn.lb import LoadBalancer
from dockovn.ovn.nb import LogicalPort


def port(name: str, ip: str | None, service: str | None = "web", number: str = "8080",
         up: bool | None = True) -> LogicalPort:
    ids = {external_ids.ENDPOINT_ID: name}
    if service:
        ids.update({external_ids.SERVICE: service, external_ids.SERVICE_PORT: number})
    addresses = (f"0a:58:00:00:00:01 {ip}",) if ip else ("router",)
    return LogicalPort("u-" + name, name, "sw", addresses, ids, up=up)


def lb(target: int | None = None, health_ip: str | None = "10.0.0.254") -> ServiceLb:
    row = LoadBalancer("uuid", "lb", "tcp", {}, {}, (), {}, {})
    return ServiceLb("web", "sw", ipaddress.IPv4Address("10.0.0.250"), 80, target, health_ip,
                     (), row)


def test_labels_to_registry_keys():
    assert registry_ids({}) == {}
    assert registry_ids({"other": "x"}) == {}
    assert registry_ids({"dockovn.service": "orders", "dockovn.port": " 8080"}) == {
        external_ids.SERVICE: "orders", external_ids.SERVICE_PORT: "8080"}


@pytest.mark.parametrize("labels, why", [
    ({"dockovn.service": "orders"}, "dockovn.port is missing"),
    ({"dockovn.port": "80"}, "dockovn.service is missing"),
    ({"dockovn.service": "orders", "dockovn.port": "http"}, "not a TCP port"),
    ({"dockovn.service": "orders", "dockovn.port": "0"}, "not a TCP port"),
    ({"dockovn.service": "orders", "dockovn.port": "65536"}, "not a TCP port"),
    ({"dockovn.service": "or_ders", "dockovn.port": "80"}, "service name"),
    ({"dockovn.service": "-orders", "dockovn.port": "80"}, "service name"),
    ({"dockovn.service": "", "dockovn.port": "80"}, "service name"),
])
def test_bad_labels_are_refused_with_a_reason(labels, why):
    with pytest.raises(ServiceError, match=why):
        registry_ids(labels)


def test_vip_parsing():
    assert parse_vip("192.168.1.250:80") == (ipaddress.IPv4Address("192.168.1.250"), 80)
    for bad in ("192.168.1.250", "192.168.1.250:", "192.168.1.250:99999", "x:80", "[::1]:80"):
        with pytest.raises(ServiceError):
            parse_vip(bad)


def test_backends_are_the_bound_instances_in_address_order():
    ports = [port("c", "10.0.0.10"), port("a", "10.0.0.9"), port("b", "10.0.0.2", number="9000"),
             port("other", "10.0.0.3", service="api"), port("plain", "10.0.0.4", service=None),
             port("unbound", "10.0.0.5", up=None), port("bad", "10.0.0.6", number="x"),
             port("responder", None)]
    vips, mappings = desired(lb(), ports)
    # Numeric order (10.0.0.9 before 10.0.0.10), each instance's own port.
    assert vips == {"10.0.0.250:80": "10.0.0.2:9000,10.0.0.9:8080,10.0.0.10:8080"}
    assert mappings == {"10.0.0.2": "b:10.0.0.254", "10.0.0.9": "a:10.0.0.254",
                        "10.0.0.10": "c:10.0.0.254"}
    # The same answer whatever order a host's cache lists the ports in.
    assert desired(lb(), list(reversed(ports))) == (vips, mappings)


def test_target_port_overrides_and_no_health_check_means_no_mappings():
    vips, mappings = desired(lb(target=8443, health_ip=None),
                             [port("a", "10.0.0.9"), port("b", "10.0.0.2", number="9000")])
    assert vips == {"10.0.0.250:80": "10.0.0.2:8443,10.0.0.9:8443"}
    assert mappings == {}


def test_no_instances_gives_an_empty_backend_list():
    assert desired(lb(), []) == ({"10.0.0.250:80": ""}, {})


def test_health_check_address_is_the_highest_free():
    subnet = ipaddress.ip_network("10.0.0.0/29")
    assert highest_free(subnet, set()) == "10.0.0.6"
    assert highest_free(subnet, {"10.0.0.6", "10.0.0.5"}) == "10.0.0.4"
    with pytest.raises(ServiceError, match="no free address"):
        highest_free(subnet, {f"10.0.0.{n}" for n in range(1, 7)})
