"""``GET /metrics``: Prometheus text exposition, summed over every gunicorn worker.

See :mod:`chemagent.observability.exposition` and docs/OBSERVABILITY.md.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from chemagent.observability.exposition import render

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Text exposition."}},
)
async def metrics() -> Response:
    """Every metric of this service in the Prometheus text format, summed over all workers
    of the pod (see docs/OBSERVABILITY.md for the catalogue)."""
    # Off the event loop: rendering reads files in multiprocess mode.
    body = await run_in_threadpool(render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
