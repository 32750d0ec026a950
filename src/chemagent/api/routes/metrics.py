"""``GET /metrics``: Prometheus text exposition.

Under several worker processes (gunicorn) ``PROMETHEUS_MULTIPROC_DIR`` is set and each
scrape aggregates every worker's files through a fresh registry with the multiprocess
collector; otherwise the process's own registry is served.
"""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool

router = APIRouter(tags=["operations"])


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Text exposition."}},
)
async def metrics() -> Response:
    """Every metric of this service in the Prometheus text format (see docs/CACHING.md)."""
    # Off the event loop: rendering reads files in multiprocess mode.
    body = await run_in_threadpool(_exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
