"""Response models of ``GET /v1/performance`` (the pod's performance summary)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Latency(BaseModel):
    """Percentiles interpolated inside histogram buckets (like PromQL's
    ``histogram_quantile``, at most one bucket wide off), and the exact maximum."""

    p50: float | None = Field(description="Seconds; null before the first observation.")
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None = Field(description="The slowest one seen since the pod started.")


class IntentPerformance(BaseModel):
    """Plain-English queries of one intent since the pod started."""

    intent: str = Field(examples=["lookup"])
    count: int = Field(description="Queries answered, every status included.")
    statuses: dict[str, int] = Field(
        description="Per status: ok, partial, failed, rejected, invalid, cancelled, error.",
        examples=[{"ok": 40, "failed": 2}],
    )
    latency_seconds: Latency


class StepPerformance(BaseModel):
    """Steps of one kind since the pod started (REST calls and queries alike)."""

    step: str = Field(examples=["resolve"])
    count: int
    outcomes: dict[str, int] = Field(description="Per outcome: ok, error, timeout.")
    cache: dict[str, int] = Field(description="Per source of the result: l1, l2, miss, stale.")
    latency_seconds: Latency


class SlowQuery(BaseModel):
    """One of the slowest recent queries (never its text)."""

    intent: str
    status: str
    http_status: int
    seconds: float
    steps: int = Field(description="Steps in the query's plan.")
    trace_id: str | None = Field(description="Find the trace (and its logs) with this.")
    at: datetime = Field(description="When it ended (UTC).")


class Failure(BaseModel):
    """A query or a step that ended in an error."""

    kind: Literal["query", "step"]
    name: str = Field(description="The query's intent or the step's kind.")
    error: str = Field(
        description="A step's error code (step_timeout, invalid_molecule, internal, ...); "
        "a query's status (failed, error, invalid).",
    )
    status: int = Field(description="The HTTP status it maps to.")
    trace_id: str | None
    at: datetime = Field(description="When it ended (UTC).")


class PerformanceSummary(BaseModel):
    """The pod's performance since it started, summed over its worker processes."""

    started_at: datetime = Field(description="When the pod's server started (UTC).")
    uptime_seconds: float
    workers: int = Field(description="Live worker processes whose recent entries are merged.")
    worker_pid: int = Field(description="The worker process that answered this call.")
    source: Literal["multiprocess", "process"] = Field(
        description="Where counts come from: every worker's Prometheus files, or this process."
    )
    window_seconds: float = Field(description="How far back slowest_queries looks.")
    queries_total: int
    intents: list[IntentPerformance] = Field(description="Busiest first.")
    steps: list[StepPerformance] = Field(description="Busiest first.")
    slowest_queries: list[SlowQuery] = Field(description="Slowest first.")
    recent_failures: list[Failure] = Field(
        description="Server-side failures (status >= 500), newest first."
    )
    recent_client_errors: list[Failure] = Field(
        description="Requests the caller can fix (4xx), newest first."
    )
