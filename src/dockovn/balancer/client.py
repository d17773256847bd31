"""LoadBalancerClient: pick an instance, rewrite a URI for it, run a call with failover.

In the spirit of Ribbon / Spring Cloud LoadBalancer, for any Python caller (in a
container or on a host)::

    registry = NbRegistry("tcp:10.0.0.1:6641")
    lb = LoadBalancerClient(registry, rule=ZoneAvoidanceRule())
    reply = lb.execute("orders", lambda i: requests.get(
        lb.reconstruct_uri(i, "http://orders/api/v1/orders"), timeout=2))

Every choice is made from the source's in-memory lists; nothing here does I/O
except the caller's own ``fn``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar
from urllib.parse import urlsplit

from dockovn.balancer.instances import InstanceSource, ServiceInstance
from dockovn.balancer.rules import ChooseContext, RoundRobinRule, Rule
from dockovn.balancer.stats import ServerStats

LOG = logging.getLogger(__name__)

T = TypeVar("T")

# The caller's zone when not given: the hostname of the chassis it runs on, the
# same value the registry reads from dockovn:hostname.
ZONE_ENV = "DOCKOVN_ZONE"


class BalancerError(Exception):
    """Base of the balancer's own errors."""


class NoInstancesError(BalancerError, LookupError):
    """The service has no instance to call (none registered, up, available or untried)."""


class BadServiceUri(BalancerError, ValueError):
    """A URI given to reconstruct_uri that does not address the instance's service."""


@dataclass(frozen=True)
class Attempt:
    instance: ServiceInstance
    error: BaseException

    def __str__(self) -> str:
        return (f"{self.instance.instance_id} at {self.instance.address}: "
                f"{type(self.error).__name__}: {self.error}")


class AllAttemptsFailed(BalancerError):
    """Every attempt of an ``execute`` failed; ``attempts`` says where and how."""

    def __init__(self, service_id: str, attempts: list[Attempt]):
        self.service_id = service_id
        self.attempts = attempts
        tried = "; ".join(str(a) for a in attempts)
        super().__init__(f"service {service_id}: all {len(attempts)} attempt(s) failed: {tried}")


class LoadBalancerClient:
    """Client-side load balancing over one InstanceSource.

    ``retries_next``: how many other instances ``execute`` tries after the first
    fails (Ribbon's MaxAutoRetriesNextServer). ``retry_on``: the exceptions that
    mean "this instance failed" (they count against its circuit and move on to the
    next instance); anything else goes straight back to the caller, uncounted.
    """

    def __init__(self, source: InstanceSource, rule: Rule | None = None,
                 zone: str | None = None, stats: ServerStats | None = None,
                 retries_next: int = 1,
                 retry_on: tuple[type[BaseException], ...] = (Exception,),
                 timer: Callable[[], float] = time.perf_counter):
        if retries_next < 0:
            raise ValueError("retries_next must be 0 or more")
        self.source = source
        self.rule = rule if rule is not None else RoundRobinRule()
        self.zone = zone if zone is not None else (os.environ.get(ZONE_ENV) or None)
        self.stats = stats if stats is not None else ServerStats()
        self.retries_next = retries_next
        self.retry_on = retry_on
        self._timer = timer
        self._choosing = threading.Lock()
        # Instances that leave take their stats with them, so a new container that
        # reuses an address starts clean and the stats do not grow forever.
        self._unsubscribe = source.subscribe(self._instances_changed)

    def _instances_changed(self, service_id: str, instances: tuple[ServiceInstance, ...]) -> None:
        self.stats.forget(service_id, (i.instance_id for i in instances))

    def close(self) -> None:
        self._unsubscribe()

    def __enter__(self) -> "LoadBalancerClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def choose(self, service_id: str, *,
               exclude: Iterable[ServiceInstance] = ()) -> ServiceInstance:
        """One instance of the service, by the rule; never one in ``exclude``.

        Raises NoInstancesError when there is none to give.
        """
        instances = self.source.instances(service_id)
        if not instances:
            raise NoInstancesError(f"no instances of service {service_id}")
        skip = {i.instance_id for i in exclude}
        candidates = [i for i in instances if i.instance_id not in skip]
        if not candidates:
            raise NoInstancesError(f"no untried instances of service {service_id} "
                                   f"(all {len(instances)} tried)")
        chosen = self.rule.choose(candidates, ChooseContext(service_id, self.stats, self.zone))
        if chosen is None:
            raise NoInstancesError(f"no available instance of service {service_id}: "
                                   f"{type(self.rule).__name__} refused all "
                                   f"{len(candidates)} instance(s)")
        return chosen

    def reconstruct_uri(self, instance: ServiceInstance, uri: str) -> str:
        return reconstruct_uri(instance, uri)

    def execute(self, service_id: str, fn: Callable[[ServiceInstance], T],
                retries_next: int | None = None) -> T:
        """``fn(instance)`` on a chosen instance; on failure, on another one.

        Up to ``1 + retries_next`` attempts, each on an instance not tried yet in this
        call (fewer if the service has fewer instances). Each attempt's time, load
        and outcome go into ``self.stats``. Raises NoInstancesError if the first
        choice finds nothing, AllAttemptsFailed (chained to the last error) if every
        attempt failed.
        """
        retries = self.retries_next if retries_next is None else retries_next
        if retries < 0:
            raise ValueError("retries_next must be 0 or more")
        attempts: list[Attempt] = []
        for _ in range(1 + retries):
            try:
                # Choosing and counting the request in as one step: otherwise two
                # threads can both see an idle instance (best available) or an
                # untried half-open circuit (availability) and both take it.
                with self._choosing:
                    instance = self.choose(service_id, exclude=[a.instance for a in attempts])
                    self.stats.started(instance)
            except NoInstancesError:
                if not attempts:
                    raise
                break  # every instance has had its turn: report what happened
            start = self._timer()
            try:
                result = fn(instance)
            except self.retry_on as exc:
                self.stats.failed(instance)
                attempts.append(Attempt(instance, exc))
                LOG.debug("service %s: attempt %d failed: %s", service_id, len(attempts),
                          attempts[-1])
                continue
            except BaseException:
                self.stats.finished(instance)
                raise
            self.stats.succeeded(instance, self._timer() - start)
            return result
        raise AllAttemptsFailed(service_id, attempts) from attempts[-1].error


def reconstruct_uri(instance: ServiceInstance, uri: str) -> str:
    """``http://orders/path?q`` -> ``http://192.168.1.5:8080/path?q`` for an instance
    of ``orders``: the host (and any port) becomes the instance's address; scheme,
    user info, path, query and fragment are kept character for character.

    Raises BadServiceUri if the URI is not absolute or its host is not the service.
    """
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        raise BadServiceUri(f"{uri!r} is not an absolute URI like "
                            f"'http://{instance.service_id}/path'")
    # Splice the text rather than urlunsplit(): that would normalise what it can
    # ("?" with an empty query dropped, say), and the caller's URI is theirs.
    head = len(parts.scheme) + len("://")
    end = head + len(parts.netloc)
    if uri[head - 3:head] != "://" or uri[head:end] != parts.netloc:
        # urlsplit() silently drops tabs and newlines: then offsets do not match.
        raise BadServiceUri(f"{uri!r}: cannot rewrite a URI with control characters")
    host = parts.hostname or ""
    if host != instance.service_id.lower():
        raise BadServiceUri(f"{uri!r} does not address service {instance.service_id!r} "
                            f"(its host is {host!r})")
    userinfo, at, _ = parts.netloc.rpartition("@")
    return uri[:head] + userinfo + at + instance.address + uri[end:]
