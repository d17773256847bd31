"""The driver's Prometheus metrics on one host (real dockerd, OVS, OVN): what `docker
run` and `docker rm` did shows in the counters, its port and pool in the gauges, and
OVS's and OVN's own counters beside them. (A real Prometheus scrapes two hosts in
tests/multihost/test_observability.py.)"""

from __future__ import annotations

import dns.message
import docker as sdk
import dns.query
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from dockovn.metrics.exporter import DEFAULT_ADDRESS
from dockovn.network.names.service import DEFAULT_ADDRESS as NAME_SERVER
from tests.e2e.test_overlay_single_host import (container, endpoint_of, network, unique,
                                               wait_bound)
from tests.support import wait

pytestmark = pytest.mark.e2e

URL = f"http://{DEFAULT_ADDRESS}/metrics"


def scrape() -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the driver's endpoint."""
    text = requests.get(URL, timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_container_shows_in_the_metrics(stack, client, nb, cleanup):
    before = scrape()
    net = client.networks.create(unique("met"), driver="dockovn", ipam=sdk.types.IPAMConfig(
        driver="dockovn", pool_configs=[sdk.types.IPAMPool(subnet="10.68.0.0/24")]))
    cleanup.append(net)
    c = container(client, cleanup, net)
    wait_bound(nb, endpoint_of(c, net))
    after = scrape()
    for method in ("NetworkDriver.CreateNetwork", "NetworkDriver.CreateEndpoint",
                   "NetworkDriver.Join", "IpamDriver.RequestAddress"):
        assert value(after, "dockovn_plugin_requests_total", method=method, outcome="ok") \
            >= value(before, "dockovn_plugin_requests_total", method=method, outcome="ok") + 1, \
            method
    assert value(after, "dockovn_plugin_request_duration_seconds_count",
                 method="NetworkDriver.Join") >= 1
    assert value(after, "dockovn_host_ports", network=net.name) == 1
    # its pool: the gateway's address and the container's
    assert value(after, "dockovn_pool_addresses_used", pool=_pool(after, "10.68.0.0/24"),
                 subnet="10.68.0.0/24") == 2
    assert value(after, "dockovn_pool_addresses_capacity", pool=_pool(after, "10.68.0.0/24"),
                 subnet="10.68.0.0/24") == 254
    assert value(after, "dockovn_ovsdb_connected", db="nb") == 1
    assert value(after, "dockovn_ovsdb_connected", db="ovs") == 1
    # OVS's and OVN's own counters, from this host's daemons
    for daemon in ("ovs-vswitchd", "ovn-controller"):
        assert value(after, "dockovn_daemon_up", daemon=daemon) == 1, daemon
        assert any(k[0] == "dockovn_daemon_coverage_events_total" and ("daemon", daemon) in k[1]
                   for k in after), daemon
    assert any(k[0] == "dockovn_daemon_stopwatch_samples_total" for k in after)

    c.remove(force=True)
    cleanup.remove(c)
    assert wait.until(lambda: value(scrape(), "dockovn_host_ports", network=net.name) == 0,
                      10, what="the port gone from the gauge")
    done = scrape()
    for method in ("NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint",
                   "IpamDriver.ReleaseAddress"):
        assert value(done, "dockovn_plugin_requests_total", method=method, outcome="ok") \
            >= value(before, "dockovn_plugin_requests_total", method=method, outcome="ok") + 1
    assert value(done, "dockovn_pool_addresses_used", pool=_pool(done, "10.68.0.0/24"),
                 subnet="10.68.0.0/24") == 1


def test_refusals_and_name_queries_are_counted(stack, client, cleanup):
    def refusals(samples) -> float:
        return value(samples, "dockovn_plugin_requests_total",
                     method="NetworkDriver.CreateNetwork", outcome="refused")

    def queries(samples) -> float:
        return sum(v for (name, _), v in samples.items()
                   if name == "dockovn_names_queries_total")

    before = scrape()
    with pytest.raises(Exception, match="mtu"):  # the driver's {"Err"}, through Docker
        network(client, cleanup, "10.69.0.0/24", options={"mtu": "abc"})
    dns.query.udp(dns.message.make_query("no-such-container-here.", "A"), NAME_SERVER,
                  timeout=5)
    after = scrape()
    assert refusals(after) == refusals(before) + 1
    assert queries(after) == queries(before) + 1
    assert value(after, "dockovn_names_query_duration_seconds_count") \
        == value(before, "dockovn_names_query_duration_seconds_count") + 1


def _pool(samples, subnet: str) -> str:
    return next(dict(labels)["pool"] for (name, labels) in samples
                if name == "dockovn_pool_addresses_used" and dict(labels)["subnet"] == subnet)
