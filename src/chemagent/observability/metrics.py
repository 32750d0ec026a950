"""Prometheus metrics of the step runner and the cache (names per ARCHITECTURE.md).

Label children are created once and kept (``labels()`` takes a lock and hashes its
arguments on every call); label values come from fixed sets (step kinds, outcomes,
tiers), never from user input.

Buckets: steps range from ~10 us (an L1 hit) to the 10 s step deadline, so the step
histogram spans 100 us .. 10 s in roughly 1-2.5-5 steps; cache operations range from
~1 us (an L1 lookup) to the 50 ms Redis deadline (and a little past it on a timeout),
so their histogram spans 5 us .. 250 ms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from chemagent.execution.runner import StepRecord

STEP_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CACHE_BUCKETS = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)  # fmt: skip

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


class PrometheusCacheTelemetry:
    """The :class:`~chemagent.cache.telemetry.CacheTelemetry` that feeds the metrics above."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], Counter] = {}
        self._operations: dict[tuple[str, str], Histogram] = {}
        self._computed: dict[str, Counter] = {}
        self._entries = CACHE_ENTRIES.labels("l1")
        self._bytes = CACHE_BYTES.labels("l1")
        self._evicted = CACHE_EVICTIONS.labels("l1")
        self._evictions_seen = 0

    def request(self, tier: str, result: str) -> None:
        child = self._requests.get((tier, result))
        if child is None:
            child = self._requests[tier, result] = CACHE_REQUESTS.labels(tier, result)
        child.inc()

    def operation(self, tier: str, op: str, seconds: float) -> None:
        child = self._operations.get((tier, op))
        if child is None:
            child = self._operations[tier, op] = CACHE_OPERATION_DURATION.labels(tier, op)
        child.observe(seconds)

    def computed(self, kind: str) -> None:
        child = self._computed.get(kind)
        if child is None:
            child = self._computed[kind] = CACHE_COMPUTATIONS.labels(kind)
        child.inc()

    def l1_usage(self, entries: int, size: int, evictions: int) -> None:
        self._entries.set(entries)
        self._bytes.set(size)
        if evictions > self._evictions_seen:
            self._evicted.inc(evictions - self._evictions_seen)
        self._evictions_seen = evictions

    def l2_state(self, state: str) -> None:
        CACHE_L2_DEGRADED.set(1 if state == "degraded" else 0)


class StepHistogram:
    """A step-runner observer: one observation per step, children cached by label."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, str], Histogram] = {}

    def __call__(self, record: StepRecord) -> None:
        labels = (record.step.kind, record.outcome, record.cache)
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = STEP_DURATION.labels(*labels)
        child.observe(record.seconds)
