"""Cache statistics and administration: stats (public), invalidation and warming (admin).

Each worker process has its own L1, counters and warmer: these endpoints answer for the
worker that serves the call. Redis (L2) is shared, so invalidation and warming reach
every pod through it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from chemagent.api.admin import AdminDep
from chemagent.api.cache_models import (
    CacheInvalidation,
    CacheStats,
    WarmReportBody,
    WarmRequest,
    WarmStarted,
)
from chemagent.api.deps import StateDep
from chemagent.api.models import ErrorBody
from chemagent.api.state import AppState
from chemagent.errors import InvalidInput
from chemagent.execution.warm import CacheWarmer, background_concurrency
from chemagent.steps.registry import list_step_kinds

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["cache"])

WARMER = "chemagent_warmer"
"""The lifespan state key of this worker's :class:`CacheWarmer`."""
STATS_PATH = "/v1/cache/stats"

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "No bearer token, or not the admin token (with WWW-Authenticate: Bearer).",
    },
    403: {"model": ErrorBody, "description": "CHEMAGENT_ADMIN_TOKEN is not set on this server."},
    422: {"model": ErrorBody, "description": "Invalid parameters; the detail says what to fix."},
}


def start_warmer(state: AppState) -> CacheWarmer:
    """This worker's warmer; starts warming CHEMAGENT_CACHE_WARM_FILE in the background.

    Called by the lifespan once the cache has started: the pod is ready at once, and the
    warm logs one summary line when it ends. Stop it with :meth:`CacheWarmer.aclose`.
    """
    warmer = CacheWarmer(state.operations, state.queries)
    if state.settings.cache_warm_file is not None:
        warmer.start_file(
            state.settings.cache_warm_file,
            concurrency=background_concurrency(state.settings.max_workers),
        )
    return warmer


async def get_warmer(request: Request) -> CacheWarmer:
    warmer: CacheWarmer = getattr(request.state, WARMER)
    return warmer


WarmerDep = Annotated[CacheWarmer, Depends(get_warmer)]


@router.get(
    "/cache/stats",
    response_model=CacheStats,
    summary="Cache statistics of the worker that answers: tiers, counters, policy, warm.",
)
async def cache_stats(state: StateDep, warmer: WarmerDep) -> CacheStats:
    """Per tier hits, misses, errors, stale, evictions, entries and latency since this
    worker started; the key namespace and TTL policy; the last warm. No token needed."""
    cache = state.cache
    stats = cache.stats()
    namespace, policy = cache.namespace, cache.policy
    return CacheStats.model_validate(
        {
            "namespace": {
                "prefix": namespace.prefix,
                "schema_version": namespace.schema,
                "build": namespace.build,
                "rdkit_version": namespace.rdkit_version,
                "library_name": namespace.library_name,
                "library_version": namespace.library_version,
            },
            "policy": {
                "default_ttl_seconds": policy.default_ttl,
                "ttl_seconds": dict(policy.ttl),
                "negative_ttl_seconds": policy.negative_ttl,
                "stale_while_revalidate_seconds": dict(policy.stale_while_revalidate),
                "stale_if_error_seconds": dict(policy.stale_if_error),
                "l1_max_ttl_seconds": policy.l1_max_ttl,
                "l1_max_entries": cache.l1.maxsize,
                "uncacheable": sorted(policy.uncacheable),
                "local_only": sorted(policy.local_only),
                "expensive": sorted(policy.expensive),
            },
            "l1": stats["l1"],
            "l2": stats["l2"],
            "counters": {k: v for k, v in stats.items() if k not in ("l1", "l2", "broadcast")},
            "broadcast": stats["broadcast"],
            "warm": warmer.last.to_dict() if warmer.last is not None else None,
        }
    )


@router.delete(
    "/cache",
    response_model=CacheInvalidation,
    responses=ADMIN_ERRORS,
    summary="Remove cached results: one key, every key of a step kind, or everything.",
)
async def invalidate_cache(
    state: AdminDep,
    key: Annotated[
        str | None,
        Query(max_length=512, description="One cache key (as stored in Redis)."),
    ] = None,
    kind: Annotated[
        str | None,
        Query(max_length=64, description="A step kind: every key of it, all versions."),
    ] = None,
    everything: Annotated[
        bool, Query(alias="all", description="true: every key of this namespace.")
    ] = False,
) -> CacheInvalidation:
    """Needs the admin token. Send exactly one of `key`, `kind`, `all=true`.

    Redis (L2) and the L1 of the worker that answers are cleared at once; with Redis, every
    other worker and pod clears its L1 within milliseconds (a Redis pub/sub broadcast).
    Without Redis, or while it is down, other workers' L1 copies live at most
    CHEMAGENT_CACHE_L1_MAX_TTL_SECONDS (300 s by default). Query sessions are never removed.
    """
    chosen = [name for name, value in (("key", key), ("kind", kind)) if value is not None]
    if everything:
        chosen.append("all=true")
    if len(chosen) != 1:
        sent = f"sent {' and '.join(chosen)}" if chosen else "sent none"
        raise InvalidInput(
            f"Send exactly one of ?key=KEY, ?kind=KIND or ?all=true ({sent}); "
            f"keys start with {state.cache.namespace.prefix}."
        )
    if kind is not None:
        return await _by_kind(state, kind)
    if key is not None:
        if not key.startswith(state.cache.namespace.prefix):
            raise InvalidInput(
                f"That key is not in this deployment's cache namespace; keys start with "
                f"{state.cache.namespace.prefix} (see GET {STATS_PATH})."
            )
        deleted = await state.cache.invalidate(key)
        return _invalidated(state, deleted, "key", key)
    deleted = await state.cache.invalidate(everything=True)
    return _invalidated(state, deleted, "all", None)


async def _by_kind(state: AppState, kind: str) -> CacheInvalidation:
    known = [k.name for k in list_step_kinds()]
    if kind not in known:
        raise InvalidInput(f"'{kind[:64]}' is not a step kind; send one of: {', '.join(known)}.")
    deleted = await state.cache.invalidate(kind=kind)
    return _invalidated(state, deleted, "kind", kind)


def _invalidated(
    state: AppState, deleted: int, scope: str, target: str | None
) -> CacheInvalidation:
    # Operators want invalidations in the log; the count and scope only, never a token.
    log.info("cache invalidated: %s %s, %d entries", scope, target or "", deleted)
    return CacheInvalidation.model_validate(
        {"deleted": deleted, "scope": scope, "target": target, "l2": state.cache.l2.state}
    )


@router.post(
    "/cache/warm",
    response_model=WarmReportBody,
    responses={
        **ADMIN_ERRORS,
        202: {"model": WarmStarted, "description": "Started in the background (wait=false)."},
        409: {"model": ErrorBody, "description": "A warm is already running on this worker."},
    },
    summary="Compute IDs, SMILES and queries into the cache.",
)
async def warm_cache(body: WarmRequest, state: AdminDep, warmer: WarmerDep) -> JSONResponse:
    """Needs the admin token. Items are warmed a few at a time (half the CPU threads), one
    warm per worker at a time (409 while one runs). Failures are counted and the first 10
    reported; they never fail the call. With wait=true, a warm that outlasts the request
    deadline keeps running after the 504: follow it in GET /v1/cache/stats."""
    _check_lengths(body.items, state)
    concurrency = background_concurrency(state.settings.max_workers)
    if body.wait:
        report = await warmer.warm(body.items, concurrency=concurrency, source="api")
        return JSONResponse(WarmReportBody.model_validate(report.to_dict()).model_dump())
    report = warmer.start(body.items, concurrency=concurrency, source="api")
    started = WarmStarted(
        items=report.items,
        progress=STATS_PATH,
        detail=f"Warming {report.items} item{'' if report.items == 1 else 's'} in the "
        f"background on this worker; its report is 'warm' in GET {STATS_PATH}.",
    )
    return JSONResponse(started.model_dump(), status_code=202)


def _check_lengths(items: list[str], state: AppState) -> None:
    limit = max(state.settings.max_smiles_length, state.settings.max_query_length)
    for number, item in enumerate(items, 1):
        if len(item) > limit:
            raise InvalidInput(
                f"Item {number} is {len(item):,} characters long; the limit is {limit:,} "
                "(CHEMAGENT_MAX_SMILES_LENGTH / CHEMAGENT_MAX_QUERY_LENGTH)."
            )
