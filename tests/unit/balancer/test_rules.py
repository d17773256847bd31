"""Each balancing rule's distribution, as properties over random instance lists and stats."""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from dockovn.balancer import (
    AvailabilityFilteringRule,
    BestAvailableRule,
    ChooseContext,
    RandomRule,
    RoundRobinRule,
    ServerStats,
    WeightedResponseTimeRule,
    ZoneAvoidanceRule,
)

from tests.support.balancer import ZONES, FakeClock, instance_lists, instances

THRESHOLD = 3


def context(stats: ServerStats | None = None, zone: str | None = None) -> ChooseContext:
    return ChooseContext("svc", stats or ServerStats(failure_threshold=THRESHOLD), zone)


def trip(stats: ServerStats, inst, failures: int = THRESHOLD) -> None:
    for _ in range(failures):
        stats.started(inst)
        stats.failed(inst)


def load(stats: ServerStats, inst, active: int) -> None:
    for _ in range(active):
        stats.started(inst)


# -- round robin ----------------------------------------------------------------------------


@given(n=st.integers(1, 10), k=st.integers(1, 5), warmup=st.integers(0, 25))
def test_round_robin_visits_every_instance_equally(n, k, warmup):
    rule, insts, ctx = RoundRobinRule(), instances(n), context()
    for _ in range(warmup):
        rule.choose(insts, ctx)
    assert Counter(rule.choose(insts, ctx) for _ in range(k * n)) == {i: k for i in insts}


@given(n=st.integers(2, 8))
def test_round_robin_never_repeats_back_to_back(n):
    rule, insts, ctx = RoundRobinRule(), instances(n), context()
    picks = [rule.choose(insts, ctx) for _ in range(3 * n)]
    assert all(a != b for a, b in zip(picks, picks[1:]))


def test_round_robin_counts_per_service_and_gives_none_for_nothing():
    rule, insts = RoundRobinRule(), instances(3)
    a, b = ChooseContext("a", ServerStats()), ChooseContext("b", ServerStats())
    assert [rule.choose(insts, a) for _ in range(2)] == insts[:2]
    assert rule.choose(insts, b) == insts[0]  # b has its own turn
    assert rule.choose([], a) is None


# -- random -----------------------------------------------------------------------------------


@given(insts=instance_lists(), seed=st.integers(0, 2**32))
def test_random_covers_all_instances_and_only_them(insts, seed):
    rule, ctx = RandomRule(random.Random(seed)), context()
    picks = {rule.choose(insts, ctx) for _ in range(40 * len(insts))}
    assert picks == set(insts)  # misses one with probability ~ n * e^-40


# -- weighted response time ----------------------------------------------------------------


def within_five_sigma(counts: Counter, insts, weights, draws: int) -> bool:
    total = sum(weights)
    for inst, weight in zip(insts, weights):
        p = weight / total
        if abs(counts[inst] - p * draws) > 5 * math.sqrt(draws * p * (1 - p)) + 1:
            return False
    return True


@settings(max_examples=25)
@given(times=st.lists(st.floats(0.001, 2.0), min_size=2, max_size=5),
       seed=st.integers(0, 2**32))
def test_weighted_response_time_follows_inverse_times(times, seed):
    insts, stats = instances(len(times)), ServerStats()
    for inst, t in zip(insts, times):
        stats.started(inst)
        stats.succeeded(inst, t)
    rule, ctx = WeightedResponseTimeRule(random.Random(seed)), context(stats)

    weights = rule.weights(insts, ctx)
    for (t1, w1) in zip(times, weights):
        for (t2, w2) in zip(times, weights):
            if t1 < t2:
                assert w1 > w2  # faster, heavier

    draws = 1500
    counts = Counter(rule.choose(insts, ctx) for _ in range(draws))
    assert within_five_sigma(counts, insts, weights, draws)
    fastest, slowest = insts[times.index(min(times))], insts[times.index(max(times))]
    if max(times) >= 2 * min(times):
        assert counts[fastest] > counts[slowest]


@settings(max_examples=20)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32))
def test_weighted_response_time_is_uniform_without_stats(n, seed):
    insts = instances(n)
    rule, ctx = WeightedResponseTimeRule(random.Random(seed)), context()
    assert rule.weights(insts, ctx) == [1.0] * n
    draws = 300 * n
    counts = Counter(rule.choose(insts, ctx) for _ in range(draws))
    assert within_five_sigma(counts, insts, [1.0] * n, draws)


def test_weighted_response_time_gives_newcomers_the_average_weight():
    insts, stats = instances(3), ServerStats()
    for inst, t in zip(insts[:2], (0.1, 0.4)):
        stats.started(inst)
        stats.succeeded(inst, t)
    weights = WeightedResponseTimeRule().weights(insts, context(stats))
    assert weights[2] == (10 + 2.5) / 2


# -- best available --------------------------------------------------------------------------


@given(data=st.data(), insts=instance_lists())
def test_best_available_picks_the_least_busy_available_instance(data, insts):
    stats = ServerStats(failure_threshold=THRESHOLD)
    tripped = data.draw(st.lists(st.booleans(), min_size=len(insts), max_size=len(insts)))
    active = data.draw(st.lists(st.integers(0, 4), min_size=len(insts), max_size=len(insts)))
    for inst, is_tripped, n in zip(insts, tripped, active):
        if is_tripped:
            trip(stats, inst)
        load(stats, inst, n)
    rule, ctx = BestAvailableRule(), context(stats)

    for _ in range(len(insts)):
        chosen = rule.choose(insts, ctx)
        available = [i for i, t in zip(insts, tripped) if not t] or insts
        assert chosen in available
        assert stats.active(chosen) == min(stats.active(i) for i in available)


@given(n=st.integers(1, 6))
def test_best_available_spreads_sequential_calls(n):
    # No load anywhere: every instance ties, and ties must not all go to the first.
    rule, insts, ctx = BestAvailableRule(), instances(n), context()
    assert {rule.choose(insts, ctx) for _ in range(n)} == set(insts)


# -- availability filtering ---------------------------------------------------------------


@given(data=st.data(), insts=instance_lists(), fallback=st.booleans())
def test_availability_filtering_skips_open_circuits(data, insts, fallback):
    stats = ServerStats(failure_threshold=THRESHOLD)
    failures = data.draw(st.lists(st.integers(0, 5), min_size=len(insts), max_size=len(insts)))
    for inst, f in zip(insts, failures):
        trip(stats, inst, f)
    rule = AvailabilityFilteringRule(fallback_to_all=fallback)
    closed = [i for i, f in zip(insts, failures) if f < THRESHOLD]

    picks = [rule.choose(insts, context(stats)) for _ in range(2 * len(insts))]
    if closed:
        assert set(picks) == set(closed)  # only closed ones, and every one in turn
    elif fallback:
        assert set(picks) == set(insts)
    else:
        assert picks == [None] * len(picks)


@given(extra=st.integers(0, 6), base=st.floats(0.5, 20), cap=st.floats(1, 100))
def test_a_circuit_reopens_after_its_back_off(extra, base, cap):
    clock = FakeClock()
    stats = ServerStats(failure_threshold=THRESHOLD, backoff=base, max_backoff=cap, clock=clock)
    bad, good = instances(2)
    trip(stats, bad, THRESHOLD + extra)
    rule = AvailabilityFilteringRule()
    back_off = min(cap, base * 2 ** extra)

    clock.advance(back_off * 0.99)
    assert {rule.choose([bad, good], context(stats)) for _ in range(4)} == {good}
    clock.advance(back_off * 0.02)  # half-open: one trial may go
    assert bad in {rule.choose([bad, good], context(stats)) for _ in range(4)}

    stats.started(bad)  # the trial is in flight: no second one meanwhile
    assert {rule.choose([bad, good], context(stats)) for _ in range(4)} == {good}
    stats.failed(bad)  # the trial failed: open again, for twice as long (up to the cap)
    clock.advance(min(cap, base * 2 ** (extra + 1)) * 0.99)
    assert {rule.choose([bad, good], context(stats)) for _ in range(4)} == {good}


def test_a_successful_trial_closes_the_circuit():
    clock = FakeClock()
    stats = ServerStats(failure_threshold=THRESHOLD, backoff=5, clock=clock)
    bad, good = instances(2)
    trip(stats, bad)
    clock.advance(5)
    stats.started(bad)
    stats.succeeded(bad, 0.01)
    rule = AvailabilityFilteringRule()
    assert {rule.choose([bad, good], context(stats)) for _ in range(4)} == {bad, good}
    trip(stats, bad, THRESHOLD - 1)  # the count started again from zero
    assert bad in {rule.choose([bad, good], context(stats)) for _ in range(4)}


def test_availability_filtering_respects_an_active_limit():
    stats, (busy, idle) = ServerStats(), instances(2)
    load(stats, busy, 2)
    rule = AvailabilityFilteringRule(max_active=2)
    assert {rule.choose([busy, idle], context(stats)) for _ in range(4)} == {idle}


# -- zone avoidance -------------------------------------------------------------------------------


@given(data=st.data(), insts=instance_lists(), zone=st.sampled_from(ZONES),
       from_rule=st.booleans())
def test_zone_avoidance_prefers_available_instances_in_the_callers_zone(
        data, insts, zone, from_rule):
    stats = ServerStats(failure_threshold=THRESHOLD)
    tripped = data.draw(st.lists(st.booleans(), min_size=len(insts), max_size=len(insts)))
    for inst, t in zip(insts, tripped):
        if t:
            trip(stats, inst)
    # The zone comes from the rule, or else from the client (the context).
    rule = ZoneAvoidanceRule(zone=zone if from_rule else None)
    ctx = context(stats, zone=None if from_rule else zone)
    available = [i for i, t in zip(insts, tripped) if not t]
    local = [i for i in available if i.zone == zone]

    picks = {rule.choose(insts, ctx) for _ in range(2 * len(insts))}
    assert picks == set(local or available or insts)


def test_zone_avoidance_without_a_zone_balances_over_all():
    insts = instances(4)
    rule = ZoneAvoidanceRule()
    assert {rule.choose(insts, context()) for _ in range(4)} == set(insts)
