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

from prometheus_client import Counter, Histogram

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


class PrometheusCacheTelemetry:
    """The :class:`~chemagent.cache.telemetry.CacheTelemetry` that feeds the metrics above."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], Counter] = {}
        self._operations: dict[tuple[str, str], Histogram] = {}

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
