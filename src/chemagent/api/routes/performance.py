"""``GET /v1/performance``: the pod's performance summary (the monitoring API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from chemagent.api.deps import StateDep
from chemagent.api.models import ErrorBody
from chemagent.api.performance_models import PerformanceSummary
from chemagent.observability.performance import KEEP, WINDOW_SECONDS

router = APIRouter(prefix="/v1", tags=["operations"])

DESCRIPTION = f"""\
Per intent and per step kind: counts, outcomes and latency percentiles (p50, p90, p95,
p99) since the pod started, with the exact maximum; the slowest queries of the last
{WINDOW_SECONDS / 60:g} minutes and the latest failures, each with its trace id (never the
query text).

**Per pod.** Under gunicorn a request reaches one worker, yet this describes them all:

* counts and percentiles are read from the Prometheus histograms every worker writes to
  `PROMETHEUS_MULTIPROC_DIR` (the values `/metrics` exports, dead workers included), so
  they are exact and current; percentiles are interpolated inside a bucket like
  `histogram_quantile`, at most one bucket wide off;
* slow queries, failures and maxima are kept by each worker in fixed-size structures
  (the {KEEP} slowest per half window, rings of the last {KEEP} failures) and written to
  a small file beside the Prometheus files at most once a second; the answering worker
  merges its own with the others', so another worker's entries show within ~1 s.

Memory and time are bounded whatever the traffic; a missing or corrupt file is skipped.
"""


@router.get(
    "/performance",
    response_model=PerformanceSummary,
    summary="Performance of this pod: per intent and step, slowest queries, failures.",
    description=DESCRIPTION,
    responses={422: {"model": ErrorBody, "description": "slowest or failures out of range."}},
)
async def performance(
    state: StateDep,
    slowest: Annotated[
        int, Query(ge=0, le=KEEP, description="How many of the slowest recent queries.")
    ] = 10,
    failures: Annotated[
        int, Query(ge=0, le=KEEP, description="How many recent failures of each kind.")
    ] = 20,
) -> dict[str, Any]:
    # Off the event loop: under gunicorn it reads every worker's metric files, like /metrics.
    return await run_in_threadpool(state.performance.summary, slowest, failures)
