"""Recorders: the objects that turn the service's events into the metrics of ``metrics``.

Each keeps the label children it has used (``labels()`` takes a lock and hashes its
arguments on every call, ~1 us), so recording on the hot path is one dict lookup and one
``inc``/``observe``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

from chemagent.observability.context import current_request
from chemagent.observability.metrics import (
    CACHE_BYTES,
    CACHE_COMPUTATIONS,
    CACHE_ENTRIES,
    CACHE_EVICTIONS,
    CACHE_L2_DEGRADED,
    CACHE_OPERATION_DURATION,
    CACHE_REQUESTS,
    QUERIES,
    QUERY_DURATION,
    STEP_DURATION,
)

if TYPE_CHECKING:
    from chemagent.execution.query_service import QueryRecord
    from chemagent.execution.runner import StepRecord


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


class RequestSteps:
    """A step-runner observer that tells the current request what its steps did.

    The access log reports the request's worst cache tier; a step refused because the
    worker's queue was full marks the request as shed (``queue_full``).
    """

    def __call__(self, record: StepRecord) -> None:
        request = current_request()
        if request is None:
            return
        request.step(record.cache)
        if record.error == "Overloaded":
            request.shed = "queue_full"


class QueryMetrics:
    """A query-service observer: ``chemagent_queries_total`` and the query histogram."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], Counter] = {}
        self._durations: dict[str, Histogram] = {}

    def __call__(self, record: QueryRecord) -> None:
        counter = self._counts.get((record.intent, record.status))
        if counter is None:
            counter = self._counts[record.intent, record.status] = QUERIES.labels(
                record.intent, record.status
            )
        counter.inc()
        if record.status == "invalid":
            return  # refused before it ran: no duration worth a histogram
        histogram = self._durations.get(record.intent)
        if histogram is None:
            histogram = self._durations[record.intent] = QUERY_DURATION.labels(record.intent)
        histogram.observe(record.seconds)
