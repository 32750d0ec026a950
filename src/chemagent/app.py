"""``create_app(settings)`` and the lifespan that owns every long-lived resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from chemagent import __version__
from chemagent.api.deadline import RequestDeadline
from chemagent.api.errors import install_error_handlers
from chemagent.api.fast_path import CompoundFastPath, compound_route
from chemagent.api.plain_errors import JsonPlainErrors
from chemagent.api.routes import (
    cache,
    compounds,
    health,
    metrics,
    performance,
    query,
    search,
    tools,
)
from chemagent.api.routes.page import install_page
from chemagent.api.state import AppState
from chemagent.cache.sessions import MemorySessions, RedisSessions, SessionStore
from chemagent.cache.setup import build_cache, namespace_for
from chemagent.chem import RDKIT_VERSION
from chemagent.chem.molecule import MoleculeLimits
from chemagent.execution.llm_fallback import LLMFallback
from chemagent.execution.operations import Operations
from chemagent.execution.plan_runner import PlanExecutor
from chemagent.execution.query_service import QueryService
from chemagent.execution.runner import StepRunner
from chemagent.library.load import load
from chemagent.observability.build import record_build_info
from chemagent.observability.logging import configure_logging
from chemagent.observability.middleware import TelemetryMiddleware
from chemagent.observability.performance import PerformanceStore
from chemagent.observability.recorders import (
    PrometheusCacheTelemetry,
    QueryMetrics,
    RequestSteps,
    StepHistogram,
)
from chemagent.observability.tracing import configure_tracing, shutdown_tracing
from chemagent.observability.upstream import LLMClassificationMetrics, UpstreamMetrics
from chemagent.settings import Settings
from chemagent.steps.context import StepContext
from chemagent.steps.registry import list_step_kinds

log = logging.getLogger(__name__)

DESCRIPTION = """\
ChemAgent answers questions about small molecules: compound lookup, ChEMBL-compatible
property panels, similarity and substructure search, standardization and depiction over
a bundled library of ChEMBL approved drugs (or your own).

Errors are JSON `{"error", "detail", "trace_id"}`; a 4xx detail says what to fix.
"""


def build_state(settings: Settings) -> AppState:
    """Load the library and build the runner: the blocking part of start-up."""
    library = load(settings.library)
    context = StepContext(
        library=library,
        limits=MoleculeLimits(settings.max_smiles_length, settings.max_heavy_atoms),
        max_results=settings.max_top_k,
        online=settings.chembl_url is not None,
    )
    context.warm()
    manifest = library.manifest
    cache = build_cache(
        settings,
        namespace=namespace_for(
            rdkit_version=RDKIT_VERSION,
            library_name=manifest.name,
            library_version=manifest.version,
            library_created=manifest.created,
            max_results=settings.max_top_k,
        ),
        known_kinds=(kind.name for kind in list_step_kinds()),
        telemetry=PrometheusCacheTelemetry(),
    )
    executor = ThreadPoolExecutor(settings.max_workers, thread_name_prefix="chemagent-cpu")
    # 64 queued steps per thread: ~1 s of typical work; beyond that, shed with a 503.
    runner = StepRunner(
        context,
        executor,
        step_timeout=settings.step_timeout_seconds,
        max_pending=settings.max_workers * 64,
        cache=cache,
    )
    performance_store = PerformanceStore.from_environment()
    runner.observers += [StepHistogram(), RequestSteps(), performance_store.step]
    operations = Operations(
        runner,
        max_batch=settings.max_batch_size,
        max_results=settings.max_top_k,
        batch_concurrency=settings.max_workers * 2,
    )
    sessions = make_sessions(settings)
    queries = QueryService(
        PlanExecutor(runner),
        sessions,
        max_workers=settings.max_workers,
        deadline=settings.request_timeout_seconds,
        max_query_length=settings.max_query_length,
        classifier=LLMFallback.from_settings(
            settings, upstream=UpstreamMetrics("llm"), on_result=LLMClassificationMetrics()
        ),
    )
    queries.observers += [QueryMetrics(), performance_store.query]
    return AppState(
        settings=settings,
        library=library,
        executor=executor,
        runner=runner,
        cache=cache,
        operations=operations,
        sessions=sessions,
        queries=queries,
        performance=performance_store,
    )


def make_sessions(settings: Settings) -> SessionStore:
    """Sessions in Redis when it is configured (shared by every pod), else in-process."""
    if settings.redis_url:
        return RedisSessions.from_url(
            settings.redis_url,
            ttl=settings.session_ttl_seconds,
            max_sessions=settings.session_max_count,
            deadline_seconds=settings.redis_timeout_seconds,
            breaker_failures=settings.redis_breaker_failures,
            breaker_reset_seconds=settings.redis_breaker_reset_seconds,
            max_connections=settings.redis_max_connections,
        )
    return MemorySessions(ttl=settings.session_ttl_seconds, max_sessions=settings.session_max_count)


class ChemAgentAPI(FastAPI):
    """FastAPI inside ChemAgent's own pure ASGI layers, outermost first:

    * :class:`TelemetryMiddleware`: the body-limit 413 and the 500 handler run outside
      user middleware, and they need the request id, the trace id and the metrics too;
    * :class:`RequestDeadline`: a deadline for every request, the fast path's included;
    * :class:`CompoundFastPath`: the compound lookup's short way through;
    * :class:`JsonPlainErrors`: Starlette's own plain-text errors rendered as JSON.
    """

    def build_middleware_stack(self) -> Any:
        return TelemetryMiddleware(self.service_stack(), access_log=self.state.access_log)

    def service_stack(self) -> Any:
        """Every layer under the telemetry (``benchmarks/http_apps.py`` measures it alone)."""
        framework = JsonPlainErrors(super().build_middleware_stack(), self.state.max_body_bytes)
        fast = CompoundFastPath(framework, compound_route(compounds.router.routes))
        return RequestDeadline(fast, seconds=self.state.request_timeout_seconds)


def create_app(settings: Settings | None = None) -> ChemAgentAPI:
    """Build the ASGI app. Nothing is loaded until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Here, not in the CLI: each worker process (uvicorn --workers, gunicorn) runs the
        # lifespan, while only the parent runs the CLI.
        configure_logging(settings.log_level, settings.log_format)
        configure_tracing(__version__)  # after the fork: one span processor per worker
        state = await asyncio.to_thread(build_state, settings)
        record_build_info(__version__, settings.git_commit, RDKIT_VERSION)
        log.info("library %s loaded: %d compounds", state.library.manifest.name, len(state.library))
        await state.cache.start()
        warmer = cache.start_warmer(state)  # CHEMAGENT_CACHE_WARM_FILE, in the background
        try:
            yield {"chemagent": state, cache.WARMER: warmer}
        finally:
            # uvicorn runs this after the drain and the last response (api/draining.py).
            state.draining = True
            log.info("server stopped; closing the cache, Redis and the HTTP clients")
            await warmer.aclose()  # before the cache and the pool its steps run on
            await state.cache.aclose()  # background refreshes first: they use the pool
            state.executor.shutdown(wait=False, cancel_futures=True)
            await state.cache.l2.aclose()
            await state.sessions.aclose()
            if isinstance(state.queries.classifier, LLMFallback):
                await state.queries.classifier.aclose()
            log.info("clients closed")
            shutdown_tracing()  # flushes the last spans

    app = ChemAgentAPI(
        title="ChemAgent",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.max_body_bytes = settings.max_body_bytes
    app.state.access_log = settings.access_log
    app.state.request_timeout_seconds = settings.request_timeout_seconds
    install_error_handlers(app)
    for module in (health, metrics, performance, compounds, search, tools, query, cache):
        app.include_router(module.router)
    install_page(app)
    return app
