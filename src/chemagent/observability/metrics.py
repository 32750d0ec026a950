"""Every Prometheus metric of the service, declared in one place (names per ARCHITECTURE.md).

docs/OBSERVABILITY.md's catalogue is generated from this module
(``scripts/metrics_catalogue.py``), so the two cannot drift.

Label values come from fixed sets (route templates, step kinds, intents, outcomes, tiers),
never from user input: an unmatched route is ``none``, an unknown method ``other``.
Recorders (:mod:`chemagent.observability.recorders`) create label children once and keep
them, since ``labels()`` takes a lock and hashes its arguments on every call.

Buckets, from measurements on this service:

* HTTP requests: a cached lookup answers in ~0.3 ms, a cold similarity search over
  100k compounds in ~50 ms, a query plan in up to seconds, and the request deadline is
  30 s: 100 us .. 30 s.
* Steps and queries: ~10 us (an L1 hit) to the 10 s step deadline: 100 us .. 10 s in
  roughly 1-2.5-5 steps.
* Cache operations: ~1 us (an L1 lookup) to the 50 ms Redis deadline (a little past it on
  a timeout): 5 us .. 250 ms.
* Upstream calls (ChEMBL, the LLM): 1 ms on a LAN to the 10 s client timeout.

Under gunicorn every worker writes its values to ``PROMETHEUS_MULTIPROC_DIR`` and a
scrape sums them; gauges say how (``multiprocess_mode``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)


class Children(dict[tuple[str, ...], _Metric], Generic[_Metric]):
    """The label children of one metric, keyed by their label values, made on first use.

    ``children[labels]`` is one dict lookup on the hot path; ``metric.labels()`` (a lock
    and a hash of its arguments, ~1 us) runs only the first time a label set is seen.
    """

    def __init__(self, metric: _Metric, *known: tuple[str, ...]) -> None:
        super().__init__()
        self.metric = metric
        for labels in known:  # series that must exist at 0 before their first event
            self[labels] = metric.labels(*labels)

    def __missing__(self, labels: tuple[str, ...]) -> _Metric:
        child: _Metric = self.metric.labels(*labels)
        self[labels] = child
        return child


STEP_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
HTTP_BUCKETS = (*STEP_BUCKETS, 30.0)
UPSTREAM_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CACHE_BUCKETS = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)  # fmt: skip

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template (unmatched: none) and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response body, by method, route "
    "template and status code.",
    ["method", "route", "status"],
    buckets=HTTP_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being served now, summed over the live workers.",
    multiprocess_mode="livesum",
)
SHED_REASONS = ("queue_full", "deadline")
REQUESTS_SHED = Counter(
    "chemagent_requests_shed",
    "Requests refused or cut short to protect the service, by reason: queue_full (a step "
    "was refused because too many were queued on the worker), deadline (the request "
    "deadline passed before a response started).",
    ["reason"],
)
BUILD_INFO = Gauge(
    "chemagent_build_info",
    "Always 1; the labels say which build runs: service version, git commit, RDKit version.",
    ["version", "commit", "rdkit"],
    multiprocess_mode="max",
)
QUERIES = Counter(
    "chemagent_queries",
    "Plain-English queries, by intent (unknown until parsed) and status: ok, partial, "
    "failed, rejected (out of scope or unreadable), invalid (refused before it ran), "
    "cancelled (the caller left), error.",
    ["intent", "status"],
)
QUERY_DURATION = Histogram(
    "chemagent_query_duration_seconds",
    "Time to answer one plain-English query (parse, plan, steps, answer), by intent.",
    ["intent"],
    buckets=STEP_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "chemagent_upstream_request_duration_seconds",
    "Calls to upstream services (chembl, llm), by upstream, endpoint name and status code "
    "(or error: timeout, connect, invalid).",
    ["upstream", "endpoint", "status"],
    buckets=UPSTREAM_BUCKETS,
)
UPSTREAM_CIRCUIT_OPEN = Gauge(
    "chemagent_upstream_circuit_open",
    "1 while calls to the upstream are skipped by its circuit breaker, else 0 (the highest "
    "value over the live workers).",
    ["upstream"],
    multiprocess_mode="livemax",
)
LLM_CLASSIFICATIONS = Counter(
    "chemagent_llm_classifications",
    "Queries the rules could not read, sent to the LLM fallback, by result: ok (became an "
    "intent), invalid (the answer failed validation), unavailable (no usable answer).",
    ["result"],
)
STEP_DURATION = Histogram(
    "chemagent_step_duration_seconds",
    "Time to serve one step, by kind, outcome (ok, error, timeout) and where the result "
    "came from (l1, l2, miss = computed, stale = served past its TTL).",
    ["step", "outcome", "cache"],
    buckets=STEP_BUCKETS,
)
CACHE_REQUESTS = Counter(
    "chemagent_cache_requests",
    "Cache lookups by tier (l1, l2) and result (hit, miss, error, stale).",
    ["tier", "result"],
)
CACHE_OPERATION_DURATION = Histogram(
    "chemagent_cache_operation_duration_seconds",
    "Duration of cache tier operations (get, set, delete, scan, lock, unlock), failures included.",
    ["tier", "op"],
    buckets=CACHE_BUCKETS,
)


CACHE_COMPUTATIONS = Counter(
    "chemagent_cache_computations",
    "Step values computed on a cache miss, by step kind: once per computation, however "
    "many requests awaited it (the step histogram's cache=miss counts every request).",
    ["step"],
)
CACHE_ENTRIES = Gauge(
    "chemagent_cache_entries",
    "Entries held by the in-process tier (l1), summed over live workers.",
    ["tier"],
    multiprocess_mode="livesum",
)
CACHE_BYTES = Gauge(
    "chemagent_cache_bytes",
    "Estimated bytes (JSON size) held by the in-process tier (l1), summed over live workers.",
    ["tier"],
    multiprocess_mode="livesum",
)
CACHE_EVICTIONS = Counter(
    "chemagent_cache_evictions",
    "Entries evicted from the in-process tier (l1) to make room (expiries not included).",
    ["tier"],
)
CACHE_L2_DEGRADED = Gauge(
    "chemagent_cache_l2_degraded",
    "1 while the shared Redis tier is failing or skipped by its circuit breaker, else 0 "
    "(the highest value over the live workers).",
    multiprocess_mode="livemax",
)
