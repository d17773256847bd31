"""The rules that pick one instance for a call (Ribbon's IRule, one class each).

Every rule has the same one method, ``choose(instances, context)``, and returns
one of ``instances`` or None when it has nothing to give. Rules hold no instance
lists of their own (the source does) and never block: they only read the stats
that ``LoadBalancerClient.execute`` keeps. Filtering rules (availability, zone)
narrow the list and hand it to another rule, round robin unless told otherwise.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Protocol, Sequence

from dockovn.balancer.instances import ServiceInstance
from dockovn.balancer.stats import ServerStats


@dataclass(frozen=True)
class ChooseContext:
    """What a rule may know besides the list: whose call it is, and the stats."""

    service_id: str
    stats: ServerStats
    zone: str | None = None  # the caller's zone (chassis hostname), if known


class Rule(Protocol):
    def choose(self, instances: Sequence[ServiceInstance],
               context: ChooseContext) -> ServiceInstance | None:
        ...


class RoundRobinRule:
    """Each instance in turn, one counter per service."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}

    def choose(self, instances, context):
        if not instances:
            return None
        with self._lock:
            turn = self._counters.get(context.service_id, 0)
            self._counters[context.service_id] = turn + 1
        # Modulo the list as it is now: when instances come and go, the rotation
        # carries on over the new list instead of restarting at the first one.
        return instances[turn % len(instances)]


class RandomRule:
    """Any instance, uniformly. ``rng`` for reproducible tests."""

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()

    def choose(self, instances, context):
        return self._rng.choice(instances) if instances else None


class WeightedResponseTimeRule:
    """Random, weighted by speed: an instance's weight is 1 / its average response
    time, so one twice as fast gets twice the calls.

    Uniform until some instance has a response time; an instance with none yet gets
    the average weight of the others, so newcomers are tried rather than starved.
    Failed calls record no time (see ServerStats.failed), so this rule does not
    avoid dead servers by itself: wrap it in AvailabilityFilteringRule for that.
    """

    # Below this a time is noise (and 0 would be a division by zero).
    MIN_TIME = 1e-4

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()

    def weights(self, instances: Sequence[ServiceInstance],
                context: ChooseContext) -> list[float]:
        times = [context.stats.response_time(i) for i in instances]
        measured = [1.0 / max(t, self.MIN_TIME) for t in times if t is not None]
        if not measured:
            return [1.0] * len(instances)
        newcomer = sum(measured) / len(measured)
        return [newcomer if t is None else 1.0 / max(t, self.MIN_TIME) for t in times]

    def choose(self, instances, context):
        if not instances:
            return None
        return self._rng.choices(instances, weights=self.weights(instances, context))[0]


class BestAvailableRule:
    """The instance with the fewest requests in flight, skipping open circuits.

    Ties (the usual case for a caller that makes one call at a time) go round
    robin: taking the first of them, as Ribbon does, would send every sequential
    call to the same instance. If every circuit is open, the least busy of all.
    """

    def __init__(self, tie_break: Rule | None = None):
        self._tie_break = tie_break or RoundRobinRule()

    def choose(self, instances, context):
        if not instances:
            return None
        stats = context.stats
        candidates = [i for i in instances if stats.available(i)] or list(instances)
        loads = [stats.active(i) for i in candidates]
        least = min(loads)
        return self._tie_break.choose([i for i, n in zip(candidates, loads) if n == least],
                                      context)


class AvailabilityFilteringRule:
    """Skip instances whose circuit is open (``ServerStats``: N failures in a row,
    then a back-off) or that have ``max_active`` requests in flight; pick among the
    rest with ``rule``.

    When none is left, ``fallback_to_all`` (Ribbon's behaviour) picks among all of
    them anyway: the circuits are this client's own guesses, and failing every
    call until the back-offs end would turn a blip into an outage. Without it the
    rule returns None and the call fails at once.
    """

    def __init__(self, rule: Rule | None = None, max_active: int | None = None,
                 fallback_to_all: bool = True):
        self._rule = rule or RoundRobinRule()
        self.max_active = max_active
        self.fallback_to_all = fallback_to_all

    def choose(self, instances, context):
        available = [i for i in instances if context.stats.available(i, self.max_active)]
        if available:
            return self._rule.choose(available, context)
        return self._rule.choose(instances, context) if self.fallback_to_all else None


class ZoneAvoidanceRule:
    """Prefer instances in the caller's zone (same chassis: no tunnel hop), among
    those whose circuit is not open; else any available one; else any at all.

    The zone is ``zone`` if given, else the client's (argument or DOCKOVN_ZONE).
    """

    def __init__(self, zone: str | None = None, rule: Rule | None = None):
        self.zone = zone
        self._rule = rule or RoundRobinRule()

    def choose(self, instances, context):
        available = [i for i in instances if context.stats.available(i)]
        zone = self.zone or context.zone
        if zone:
            local = [i for i in available if i.zone == zone]
            if local:
                return self._rule.choose(local, context)
        return self._rule.choose(available or list(instances), context)
