"""Recorders: the objects that turn the service's events into the metrics of ``metrics``.

Each keeps the label children it has used (:class:`~.metrics.Children`), so recording on
the hot path is one dict lookup and one ``inc``/``observe``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    Children,
)

if TYPE_CHECKING:
    from chemagent.execution.query_service import QueryRecord
    from chemagent.execution.runner import StepRecord


class PrometheusCacheTelemetry:
    """The :class:`~chemagent.cache.telemetry.CacheTelemetry` that feeds the metrics above."""

    def __init__(self) -> None:
        self._requests = Children(CACHE_REQUESTS)
        self._operations = Children(CACHE_OPERATION_DURATION)
        self._computed = Children(CACHE_COMPUTATIONS)
        self._entries = CACHE_ENTRIES.labels("l1")
        self._bytes = CACHE_BYTES.labels("l1")
        self._evicted = CACHE_EVICTIONS.labels("l1")
        self._evictions_seen = 0

    def request(self, tier: str, result: str) -> None:
        self._requests[tier, result].inc()

    def operation(self, tier: str, op: str, seconds: float) -> None:
        self._operations[tier, op].observe(seconds)

    def computed(self, kind: str) -> None:
        self._computed[(kind,)].inc()

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
        self._children = Children(STEP_DURATION)

    def __call__(self, record: StepRecord) -> None:
        self._children[record.step.kind, record.outcome, record.cache].observe(record.seconds)


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
        self._counts = Children(QUERIES)
        self._durations = Children(QUERY_DURATION)

    def __call__(self, record: QueryRecord) -> None:
        self._counts[record.intent, record.status].inc()
        if record.status == "invalid":
            return  # refused before it ran: no duration worth a histogram
        self._durations[(record.intent,)].observe(record.seconds)
