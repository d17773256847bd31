"""LoadBalancerClient: choose, execute with failover, reconstruct_uri, and ServerStats."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockovn.balancer import (
    AllAttemptsFailed,
    AvailabilityFilteringRule,
    BadServiceUri,
    BestAvailableRule,
    Circuit,
    LoadBalancerClient,
    NoInstancesError,
    RandomRule,
    RoundRobinRule,
    ServerStats,
    ServiceInstance,
    StaticInstances,
    WeightedResponseTimeRule,
    ZoneAvoidanceRule,
    reconstruct_uri,
)

from tests.support.balancer import FakeClock, instances

RULES = {
    "round-robin": RoundRobinRule,
    "random": lambda: RandomRule(random.Random(7)),
    "weighted-response-time": lambda: WeightedResponseTimeRule(random.Random(7)),
    "best-available": BestAvailableRule,
    "availability-filtering": AvailabilityFilteringRule,
    "zone-avoidance": lambda: ZoneAvoidanceRule(zone="h2"),
}


class Refused(ConnectionError):
    pass


# -- execute: failover ----------------------------------------------------------------------


@settings(max_examples=60)
@given(data=st.data(), n=st.integers(1, 8), retries=st.integers(0, 10),
       rule_name=st.sampled_from(sorted(RULES)), rounds=st.integers(1, 4))
def test_execute_fails_over_to_other_instances_and_stops_after_n_retries(
        data, n, retries, rule_name, rounds):
    insts = instances(n)
    failing = set(data.draw(st.lists(st.sampled_from(insts), unique=True)))
    lb = LoadBalancerClient(StaticInstances(insts), rule=RULES[rule_name]())

    for _ in range(rounds):  # later rounds run with the stats (circuits) of earlier ones
        tried: list[ServiceInstance] = []

        def call(inst):
            tried.append(inst)
            if inst in failing:
                raise Refused(f"{inst.address} refused")
            return inst

        try:
            result = lb.execute("svc", call, retries_next=retries)
        except AllAttemptsFailed as exc:
            assert len(tried) == min(retries + 1, n)
            assert set(tried) <= failing
            assert [a.instance for a in exc.attempts] == tried
            assert isinstance(exc.__cause__, Refused)
        else:
            assert result == tried[-1] and result not in failing
            assert set(tried[:-1]) <= failing and len(tried) <= retries + 1
        assert len(set(tried)) == len(tried)  # never the same instance twice in a call
        assert all(lb.stats.active(i) == 0 for i in insts)


def test_all_attempts_failed_names_the_service_and_each_attempt():
    insts = instances(3)
    lb = LoadBalancerClient(StaticInstances(insts), retries_next=2)

    def refuse(inst):
        raise Refused(f"connect to {inst.address}: refused")

    with pytest.raises(AllAttemptsFailed) as caught:
        lb.execute("svc", refuse)
    message = str(caught.value)
    assert message.startswith("service svc: all 3 attempt(s) failed: ")
    for inst in insts:
        assert (f"{inst.instance_id} at {inst.address}: "
                f"Refused: connect to {inst.address}") in message
    assert caught.value.service_id == "svc"


def test_no_instances_is_a_clear_error():
    lb = LoadBalancerClient(StaticInstances())
    with pytest.raises(NoInstancesError, match="^no instances of service orders$"):
        lb.choose("orders")
    with pytest.raises(NoInstancesError, match="no instances of service orders"):
        lb.execute("orders", lambda i: i)
    refusing = LoadBalancerClient(StaticInstances(instances(1)),
                                  rule=AvailabilityFilteringRule(fallback_to_all=False),
                                  stats=ServerStats(failure_threshold=1))
    with pytest.raises(AllAttemptsFailed):
        refusing.execute("svc", lambda i: 1 / 0, retries_next=0)
    with pytest.raises(NoInstancesError, match="no available instance of service svc"):
        refusing.choose("svc")


def test_errors_not_retried_go_straight_back_and_do_not_count():
    insts = instances(2)
    lb = LoadBalancerClient(StaticInstances(insts), retry_on=(ConnectionError,), retries_next=3)
    calls = []

    def bad_request(inst):
        calls.append(inst)
        raise ValueError("400 bad request")

    for _ in range(5):
        with pytest.raises(ValueError, match="400"):
            lb.execute("svc", bad_request)
    assert len(calls) == 5
    assert all(lb.stats.circuit(i) is Circuit.CLOSED and lb.stats.active(i) == 0 for i in insts)


def test_execute_records_response_times():
    clock = iter([0.0, 0.25, 1.0, 1.5])
    inst = instances(1)
    lb = LoadBalancerClient(StaticInstances(inst), timer=lambda: next(clock))
    lb.execute("svc", lambda i: None)
    assert lb.stats.response_time(inst[0]) == 0.25
    lb.execute("svc", lambda i: None)
    assert lb.stats.response_time(inst[0]) == pytest.approx(0.25 + 0.25 * (0.5 - 0.25))


def test_best_available_sends_concurrent_calls_to_idle_instances():
    # Nested calls are concurrent calls made deterministic: each starts while the
    # outer ones are still in flight.
    insts = instances(3)
    lb = LoadBalancerClient(StaticInstances(insts), rule=BestAvailableRule())
    seen = []

    def call(depth):
        def fn(inst):
            seen.append(inst)
            if depth:
                lb.execute("svc", call(depth - 1))
        return fn

    lb.execute("svc", call(2))
    assert sorted(seen, key=lambda i: i.instance_id) == insts


def test_circuit_breaker_with_execute_and_zone():
    clock = FakeClock()
    insts = instances(3)  # zones h1, h2, h3
    local = insts[1]
    lb = LoadBalancerClient(StaticInstances(insts), rule=ZoneAvoidanceRule(), zone="h2",
                            stats=ServerStats(failure_threshold=2, backoff=10, clock=clock))
    assert {lb.choose("svc") for _ in range(3)} == {local}

    down = True

    def call(inst):
        if inst == local and down:
            raise Refused("down")
        return inst

    # Two failures open the local circuit (each call fails over to a remote one).
    assert lb.execute("svc", call) != local and lb.execute("svc", call) != local
    assert lb.stats.circuit(local) is Circuit.OPEN
    assert local not in {lb.choose("svc") for _ in range(4)}
    down = False
    clock.advance(10)  # half-open: the next call tries it again and closes it
    assert lb.execute("svc", call) == local
    assert lb.stats.circuit(local) is Circuit.CLOSED


def test_zone_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOCKOVN_ZONE", "h3")
    lb = LoadBalancerClient(StaticInstances(instances(3)), rule=ZoneAvoidanceRule())
    assert lb.zone == "h3" and {lb.choose("svc").zone for _ in range(3)} == {"h3"}
    assert LoadBalancerClient(StaticInstances(), zone="h1").zone == "h1"


def test_stats_leave_with_their_instances():
    insts = instances(3)
    source = StaticInstances(insts)
    lb = LoadBalancerClient(source)
    for _ in range(3):
        lb.execute("svc", lambda i: None)
    assert all(lb.stats.snapshot(i).requests == 1 for i in insts)
    source.set("svc", insts[:2])
    assert lb.stats.snapshot(insts[2]).requests == 0
    assert lb.stats.snapshot(insts[0]).requests == 1
    lb.close()
    source.set("svc", [])
    assert lb.stats.snapshot(insts[0]).requests == 1  # unsubscribed: no more pruning


def test_instances_that_come_and_go_change_the_choices():
    a, b, c = instances(3)
    source = StaticInstances([a])
    lb = LoadBalancerClient(source)
    assert lb.choose("svc") == a
    source.set("svc", [a, b, c])
    assert {lb.choose("svc") for _ in range(3)} == {a, b, c}
    source.set("svc", [])
    with pytest.raises(NoInstancesError):
        lb.choose("svc")


# -- ServerStats --------------------------------------------------------------------------


@given(outcomes=st.lists(st.booleans(), max_size=30), threshold=st.integers(1, 5))
def test_circuit_opens_after_exactly_n_consecutive_failures(outcomes, threshold):
    stats = ServerStats(failure_threshold=threshold, clock=FakeClock())
    inst = instances(1)[0]
    run = 0
    for ok in outcomes:
        stats.started(inst)
        if ok:
            stats.succeeded(inst, 0.01)
            run = 0
        else:
            stats.failed(inst)
            run += 1
        assert stats.circuit(inst) is (Circuit.OPEN if run >= threshold else Circuit.CLOSED)


# -- reconstruct_uri ------------------------------------------------------------------------

service_ids = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
path_text = st.text(st.characters(codec="ascii", categories=("L", "N", "P", "S"),
                                  exclude_characters="?#"), max_size=30)
query_text = st.text(st.characters(codec="ascii", categories=("L", "N", "P", "S"),
                                   exclude_characters="#"), max_size=30)
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


@given(service=service_ids, scheme=st.sampled_from(["http", "https", "grpc", "HTTP"]),
       port_in_uri=st.one_of(st.none(), st.integers(1, 65535)),
       userinfo=st.sampled_from(["", "user@", "user:pw@"]),
       path=path_text, query=st.one_of(st.none(), query_text),
       fragment=st.one_of(st.none(), st.text(max_size=10).filter(
           lambda s: not any(c in s for c in "\t\r\n"))),
       host=hosts, port=st.integers(1, 65535))
def test_reconstruct_uri_keeps_everything_but_the_address(
        service, scheme, port_in_uri, userinfo, path, query, fragment, host, port):
    rest = ("/" + path) + ("" if query is None else "?" + query) + \
        ("" if fragment is None else "#" + fragment)
    netloc = userinfo + service + ("" if port_in_uri is None else f":{port_in_uri}")
    uri = f"{scheme}://{netloc}{rest}"
    inst = ServiceInstance(service, host, port)

    out = reconstruct_uri(inst, uri)
    assert out == f"{scheme}://{userinfo}{inst.address}{rest}"
    before, after = urlsplit(uri), urlsplit(out)
    assert (after.scheme, after.path, after.query, after.fragment) == \
        (before.scheme, before.path, before.query, before.fragment)
    assert after.hostname == host.lower() and after.port == port


def test_reconstruct_uri_examples():
    inst = ServiceInstance("orders", "192.168.1.5", 8080)
    lb = LoadBalancerClient(StaticInstances([inst]))
    assert lb.reconstruct_uri(inst, "http://orders/path") == "http://192.168.1.5:8080/path"
    assert reconstruct_uri(inst, "http://orders") == "http://192.168.1.5:8080"
    assert reconstruct_uri(inst, "http://ORDERS:80/a?b=c#d") == "http://192.168.1.5:8080/a?b=c#d"
    assert reconstruct_uri(inst, "http://orders?") == "http://192.168.1.5:8080?"
    assert reconstruct_uri(ServiceInstance("orders", "fd00::5", 80), "http://orders/x") == \
        "http://[fd00::5]:80/x"


@pytest.mark.parametrize("uri, why", [
    ("http://payments/x", "does not address service 'orders' \\(its host is 'payments'\\)"),
    ("http://orders.example.com/x", "its host is 'orders.example.com'"),
    ("/x", "not an absolute URI"),
    ("orders/x", "not an absolute URI"),
    ("http://ord\ners/x", "control characters"),
])
def test_reconstruct_uri_refuses_uris_of_other_hosts(uri, why):
    with pytest.raises(BadServiceUri, match=why):
        reconstruct_uri(ServiceInstance("orders", "192.168.1.5", 8080), uri)
