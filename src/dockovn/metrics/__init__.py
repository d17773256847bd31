"""dockovn's Prometheus metrics: what the driver counts as it works.

Every metric lives in ``REGISTRY`` (dockovn's own, not prometheus_client's global one,
so a test or a second exporter in one process never sees another's). The request path
only increments counters and observes histograms here (a lock and an addition each);
what has a state (connections, pools, ports, OVS and OVN counters) is read when
Prometheus scrapes, by the collectors in ``metrics.state`` and ``metrics.daemons``.

Names follow Prometheus' conventions: ``dockovn_`` first, base units (seconds), counters
end in ``_total``. The exporter is ``metrics.exporter``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Docker's plugin calls are a few ms (bench/results); a timed-out one is 10 s.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)
_DNS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5)

PLUGIN_REQUESTS = Counter(
    "dockovn_plugin_requests", "Docker plugin requests answered, by method and outcome "
    "(ok; refused: an {\"Err\"} the driver chose; bad_request; timeout; failed: a bug).",
    ["method", "outcome"], registry=REGISTRY)
PLUGIN_SECONDS = Histogram(
    "dockovn_plugin_request_duration_seconds", "Time from a plugin request's arrival to "
    "its answer, by method.", ["method"], buckets=_REQUEST_BUCKETS, registry=REGISTRY)

TXN_RETRIES = Counter(
    "dockovn_ovsdb_transaction_retries", "Transactions sent again because the database "
    "answered 'try again' (a Raft election, a write that raced another host's).", ["db"],
    registry=REGISTRY)

DNS_QUERIES = Counter(
    "dockovn_names_queries", "Queries the name server answered, by kind of answer (answer, "
    "no_data, nxdomain, refused: not a dockovn name, Docker asks its next server; other).",
    ["answer"], registry=REGISTRY)
DNS_SECONDS = Histogram(
    "dockovn_names_query_duration_seconds", "Time to answer one name-server query.",
    buckets=_DNS_BUCKETS, registry=REGISTRY)

SYNCS = Counter(
    "dockovn_syncs", "Passes of the background syncs (policy_membership: this host's ports "
    "in their policies' groups; service_backends: VIP backends from the registry; names: "
    "container names from Docker to NB; networks: networks to this host's dockerd), by "
    "outcome (ok, failed).", ["sync", "outcome"], registry=REGISTRY)
GC_REMOVED = Counter(
    "dockovn_gc_removed", "Stale items the garbage collector removed, by kind.", ["kind"],
    registry=REGISTRY)


@contextmanager
def counted_sync(name: str):
    """Count one pass of a background sync as ok, or failed if it raises."""
    try:
        yield
    except Exception:
        SYNCS.labels(name, "failed").inc()
        raise
    SYNCS.labels(name, "ok").inc()


def dns_answer_kind(reply: bytes | None) -> str:
    """The kind of a DNS reply on the wire (its header alone)."""
    if reply is None or len(reply) < 12:
        return "other"
    rcode = reply[3] & 0x0F
    if rcode == 0:
        return "answer" if int.from_bytes(reply[6:8], "big") else "no_data"
    return {3: "nxdomain", 5: "refused"}.get(rcode, "other")


def observe_dns(started: float, reply: bytes | None) -> None:
    DNS_SECONDS.observe(time.perf_counter() - started)
    DNS_QUERIES.labels(dns_answer_kind(reply)).inc()
