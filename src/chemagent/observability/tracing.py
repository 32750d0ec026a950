"""Tracing: OpenTelemetry spans exported by the standard ``OTEL_*`` variables, or none.

Export is on when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` names exporters
(``otlp``, ``console``, comma-separated); ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none`` turn it off. Unlike the spec's default (``otlp`` to
localhost), nothing is exported when nothing is set. The protocol is
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``,
the default, or ``grpc``; the Python exporter has no ``http/json``). The sampler is
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, by default
``parentbased_traceidratio`` at 0.1: a caller's sampling decision is kept, and 1 in 10 new
traces is recorded.

The variables above, the exporters' (endpoints, headers, timeouts, compression, TLS files,
insecure), ``OTEL_BSP_*``, ``OTEL_PROPAGATORS`` and ``OTEL_RESOURCE_ATTRIBUTES`` are checked
at start (:func:`read_config`); a bad value raises :class:`TracingConfigError` naming the
variable, where the SDK would log a warning and carry on with a default (or fail at the
first request, for ``OTEL_PROPAGATORS``). Two deliberate choices:

* ``OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`` is in milliseconds, as the spec says (the Python
  exporters read it as seconds: ``10000`` would wait 2.8 hours); it is passed to the
  exporter converted.
* ``OTEL_BSP_*`` are passed to the batch processor explicitly, after the check.

Endpoints, headers, compression and TLS files are read by the exporters themselves.

With export off there is no SDK at all: each request still gets a trace id (the caller's
``traceparent`` or a random one) for its logs, error bodies and response headers, through
a non-recording span that costs ~2 us; step and query spans are not created.

:func:`configure_tracing` runs in each worker's lifespan, after gunicorn forks, so every
worker has its own span processor and exporter thread.

Span catalogue (attribute names are the constants below): the server span
``<METHOD> <route template>``; under it ``query.parse`` and ``query.plan`` for a query,
one ``step <kind>`` per step (under ``query.plan`` for a query, under the server span for a
REST call), and client spans for Redis (``GET``, ``SET``, ... without keys or values) and
httpx (the LLM fallback, the ChEMBL upstream; URLs without their query string).
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)

from chemagent.observability import sampling
from chemagent.observability.instrumentation import instrument_clients, uninstrument_clients
from chemagent.observability.propagation import Carrier, header, remote_parent
from chemagent.observability.tracing_config import (
    BatchOptions,
    TracingConfig,
    TracingConfigError,
    export_requested,
    exporter_for,
    read_config,
    resource_for,
    sampler_from,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [  # the configuration names tests and callers read from here
    "BatchOptions",
    "TracingConfig",
    "TracingConfigError",
    "export_requested",
    "read_config",
    "sampler_from",
]

log = logging.getLogger(__name__)

TRACER_NAME = "chemagent"
SHUTDOWN_SECONDS = 5.0
"""At most this long to flush the last spans at shutdown (the pod's grace period is 30 s)."""
# Mersenne Twister, not SystemRandom (two urandom syscalls per request, 1.4 us): ids need
# to be unique, not secret, and CPython reseeds `random` in every forked child, so two
# gunicorn workers never share a sequence.
_random = random.Random()  # noqa: S311 - ids, not secrets
os.register_at_fork(after_in_child=_random.seed)

# Span attributes (the span catalogue in docs/OBSERVABILITY.md). No attribute ever holds a
# query text, a SMILES or a name: only kinds, tiers, outcomes, counts and library IDs.
STEP_KIND = "chemagent.step.kind"
CACHE_TIER = "chemagent.cache.tier"
STEP_OUTCOME = "chemagent.step.outcome"
COMPOUND_ID = "chemagent.compound_id"
RESULT_COUNT = "chemagent.result.count"
INTENT = "chemagent.intent"
INTENT_SOURCE = "chemagent.intent.source"
ENTITY_COUNT = "chemagent.intent.entities"
QUERY_STATUS = "chemagent.query.status"
PLAN_NODES = "chemagent.plan.nodes"
PLAN_LAYERS = "chemagent.plan.layers"
ERROR_TYPE = "error.type"


@dataclass
class _Tracing:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None
    follows_parent: bool = False
    """The sampler is parent-based: a child of an unsampled span is never recorded."""
    root_bound: int | None = None
    """The server span decides sampling before the SDK (:mod:`.sampling`); None: no."""


_state = _Tracing()


def enabled() -> bool:
    """Whether spans are recorded and exported (an SDK provider is configured)."""
    return _state.tracer is not None


def tracer() -> Tracer | None:
    """The service's tracer, or None when export is off (then open no spans at all)."""
    return _state.tracer


def child_tracer() -> Tracer | None:
    """The tracer if a child of the current span could be recorded, else None.

    None when tracing is off, and also under an unsampled span when the sampler follows
    the parent (the default sampler, for 9 requests in 10): such a child would be dropped
    anyway, and not creating it saves ~6 us a step. Its log lines then name the
    request's span.
    """
    tracer = _state.tracer
    if tracer is None or not _state.follows_parent:
        return tracer
    context = trace.get_current_span().get_span_context()
    return None if context.is_valid and not context.trace_flags.sampled else tracer


def configure_tracing(
    service_version: str, env: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Create this process's tracer provider when the ``OTEL_*`` variables ask for export.

    Call once per worker process, after any fork (the app lifespan does). The provider is
    not made global: tests build many apps in one process; the Redis and httpx client
    instrumentations get it passed (:mod:`~chemagent.observability.instrumentation`) and
    are undone by :func:`shutdown_tracing`.

    Args:
        service_version: becomes the ``service.version`` resource attribute.
        env: the environment to read (default ``os.environ``).

    Returns:
        The provider (the caller shuts it down with :func:`shutdown_tracing`), or None
        when export is off.

    Raises:
        TracingConfigError: see :func:`read_config`.
    """
    env = os.environ if env is None else env
    config = read_config(env)
    if config is None:
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        sampler=config.sampler,
        resource=resource_for(service_version, env),
        id_generator=sampling.id_generator(_random),
    )
    for name in config.exporters:
        batch = config.batch
        processor = BatchSpanProcessor(
            exporter_for(name, config),
            max_queue_size=batch.max_queue_size,
            schedule_delay_millis=batch.schedule_delay_millis,
            max_export_batch_size=batch.max_export_batch_size,
            export_timeout_millis=batch.export_timeout_millis,
        )
        provider.add_span_processor(processor)
    activate(provider, service_version, root_bound=config.root_bound)
    instrument_clients(provider)
    log.info(
        "tracing: exporting spans (%s, %s, %s)",
        "+".join(config.exporters),
        config.protocol,
        config.sampler.get_description(),
    )
    return provider


def activate(
    provider: TracerProvider | None, service_version: str = "", *, root_bound: int | None = None
) -> None:
    """Make ``provider`` this process's (None: tracing off). Tests and benchmarks use it
    with an in-memory exporter; the service goes through :func:`configure_tracing`.
    ``root_bound``: see :attr:`TracingConfig.root_bound` (it must match the provider's
    sampler, and the provider must use :func:`.sampling.id_generator`)."""
    from opentelemetry.sdk.trace.sampling import ParentBased

    _state.root_bound = root_bound if provider is not None else None
    _state.provider = provider
    _state.tracer = None if provider is None else provider.get_tracer(TRACER_NAME, service_version)
    # ParentBased as sampler_from builds it: a local unsampled parent -> ALWAYS_OFF.
    _state.follows_parent = provider is not None and isinstance(provider.sampler, ParentBased)


def shutdown_tracing() -> None:
    """Undo the client instrumentations, flush and stop the exporters (end of the
    lifespan); tracing is off afterwards.

    Waits at most :data:`SHUTDOWN_SECONDS` for a slow or dead collector.
    """
    provider, _state.provider, _state.tracer = _state.provider, None, None
    _state.follows_parent, _state.root_bound = False, None
    uninstrument_clients()
    if provider is None:
        return
    import threading

    stopper = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
    stopper.start()
    stopper.join(SHUTDOWN_SECONDS)
    if stopper.is_alive():
        log.warning("tracing: the last spans were not exported within %g s", SHUTDOWN_SECONDS)


# --- spans ------------------------------------------------------------------------------


def _unrecorded(caller: SpanContext | None, trace_id: int = 0) -> NonRecordingSpan:
    """A span that records nothing but has ids: the caller's trace (and sampling flag), or
    a new unsampled one (``trace_id``, else random), and a new span id."""
    return NonRecordingSpan(
        SpanContext(
            caller.trace_id if caller else trace_id or _random.getrandbits(128) or 1,
            _random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=caller.trace_flags if caller else TraceFlags(0),
        )
    )


def start_server_span(
    scope: Mapping[str, Any], method: str, *, record: bool = True
) -> tuple[Span, object]:
    """Open the request's server span and make it current; ``(span, token)``.

    With export on (and ``record``), a real span, child of the caller's ``traceparent``;
    otherwise a non-recording span carrying the caller's trace id (or a new one). Either
    way :func:`current_ids` works for the rest of the request. End with :func:`end_span`.
    """
    tracer, bound = _state.tracer, _state.root_bound
    caller = trace_id = None
    if tracer is not None and record and bound is not None:  # decide before the SDK
        caller = remote_parent(header(scope, b"traceparent"))
        if caller is None:
            trace_id = _random.getrandbits(128) or 1
            if sampling.sampled_root(trace_id, bound):
                sampling.choose_trace_id(trace_id)  # the SDK's root span gets this id
            else:
                tracer = None
        elif not caller.trace_flags.sampled:
            tracer = None
    if tracer is not None and record:
        from opentelemetry import propagate

        parent = propagate.extract(scope, getter=Carrier)  # type: ignore[arg-type]
        try:
            span = tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope.get("path", "")},
            )
        finally:
            sampling.choose_trace_id(0)
        return span, otel_context.attach(trace.set_span_in_context(span, parent))
    if caller is None and trace_id is None:
        caller = remote_parent(header(scope, b"traceparent"))
    span = _unrecorded(caller, trace_id or 0)
    return span, otel_context.attach(trace.set_span_in_context(span))


def start_child_span(
    tracer: Tracer, name: str, attributes: Mapping[str, str | int] | None = None
) -> tuple[Span, object]:
    """Open a span under the current one and make it current; ``(span, token)``.

    The token restores the previous context in :func:`end_span`; both must run in the same
    task (concurrent steps each run in their own, which copied the context when created,
    so every step span gets the right parent).
    """
    span = tracer.start_span(name, attributes=attributes)
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_span(span: Span, token: object) -> None:
    """End what :func:`start_server_span` or :func:`start_child_span` opened and restore
    the previous context."""
    span.end()
    otel_context.detach(token)  # type: ignore[arg-type]


@contextmanager
def child_span(name: str) -> Iterator[Span | None]:
    """A span under the current one, current inside the block; None when tracing is off
    or the span would not be recorded (:func:`child_tracer`; then nothing at all is done).
    An exception leaving the block marks it failed."""
    tracer = child_tracer()
    if tracer is None:
        yield None
        return
    span, token = start_child_span(tracer, name)
    try:
        yield span
    except BaseException as exc:
        mark_failed(span, type(exc).__name__)
        raise
    finally:
        end_span(span, token)


def mark_failed(span: Span, error_type: str) -> None:
    """Error status and ``error.type`` (a class name or a code, never a message: messages
    quote the user's input)."""
    span.set_attribute(ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def error_status(status: int) -> Status:
    """The span status of a request answered with a 5xx."""
    return Status(StatusCode.ERROR, f"HTTP {status}")


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def current_trace_id() -> str | None:
    """The current trace id in hex (what error bodies and ``x-trace-id`` carry)."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def traceparent_of(span: Span) -> str:
    """The W3C ``traceparent`` value naming ``span``."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def untraced() -> Iterator[None]:
    """Run background work (cache warming) without spans: inside, the current span is an
    unsampled one, so with the default sampler no step or client span is made, instead
    of one single-span trace per warmed step."""
    span = _unrecorded(None)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def local_trace() -> Iterator[str]:
    """A trace context for work outside HTTP (the CLI's in-process query); yields its id."""
    span, token = start_server_span({}, "cli")
    try:
        yield f"{span.get_span_context().trace_id:032x}"
    finally:
        end_span(span, token)
