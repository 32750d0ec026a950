"""Tracing: OpenTelemetry spans exported by the standard ``OTEL_*`` variables, or none.

Export is on when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` names an exporter
(``otlp``, ``console``); ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn
it off. The protocol is ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` /
``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the default, or ``grpc``); the
exporters read their own endpoint, headers, timeout and TLS variables, and the batch
processor its ``OTEL_BSP_*``. The sampler is ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG``, by default ``parentbased_traceidratio`` at 0.1: a caller's
sampling decision is kept, and 1 in 10 new traces is recorded.

With export off there is no SDK at all: each request still gets a trace id (the caller's
``traceparent`` or a random one) for its logs, error bodies and response headers, through
a non-recording span that costs ~2 us; step spans are not created.

:func:`configure_tracing` runs in each worker's lifespan, after gunicorn forks, so every
worker has its own span processor and exporter thread.
"""

from __future__ import annotations

import logging
import os
import random
import re
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

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

log = logging.getLogger(__name__)

TRACER_NAME = "chemagent"
DEFAULT_SAMPLER = "parentbased_traceidratio"
DEFAULT_RATIO = 0.1
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_random = random.SystemRandom()  # ids must not repeat across forked workers


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable has a value this service cannot use (the message names it)."""


@dataclass
class _Tracing:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _Tracing()


def enabled() -> bool:
    """Whether spans are recorded and exported (an SDK provider is configured)."""
    return _state.tracer is not None


def tracer() -> Tracer | None:
    """The service's tracer, or None when export is off (then open no spans at all)."""
    return _state.tracer


def export_requested(env: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables in ``env`` ask for spans to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def sampler_from(env: Mapping[str, str]) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER``/``_ARG`` name (default: parent-based 10%).

    Raises:
        TracingConfigError: an unknown sampler name or a ratio outside 0..1.
    """
    from opentelemetry.sdk.trace import sampling

    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    fixed: dict[str, Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "parentbased_always_on": sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": sampling.ParentBased(sampling.ALWAYS_OFF),
    }
    if name in fixed:
        return fixed[name]
    if name not in ("traceidratio", "parentbased_traceidratio"):
        known = ", ".join([*fixed, "traceidratio", "parentbased_traceidratio"])
        raise TracingConfigError(f"OTEL_TRACES_SAMPLER={name!r} is not one of: {known}.")
    raw = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        ratio = float(raw) if raw else DEFAULT_RATIO
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise TracingConfigError(
            f"OTEL_TRACES_SAMPLER_ARG={raw!r} must be a ratio between 0 and 1, e.g. 0.1."
        )
    ratio_sampler = sampling.TraceIdRatioBased(ratio)
    return ratio_sampler if name == "traceidratio" else sampling.ParentBased(ratio_sampler)


def _exporter(env: Mapping[str, str]) -> Any:
    name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={name!r} is not supported; use otlp, console or none."
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPSpanExporter,
        )

        return HTTPSpanExporter()
    raise TracingConfigError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use http/protobuf or grpc."
    )


def configure_tracing(
    service_version: str, env: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Create this process's tracer provider when the ``OTEL_*`` variables ask for export.

    Call once per worker process, after any fork (the app lifespan does). The provider is
    not made global: tests build many apps in one process; instrumentations get it passed.

    Args:
        service_version: becomes the ``service.version`` resource attribute.
        env: the environment to read (default ``os.environ``).

    Returns:
        The provider (the caller shuts it down with :func:`shutdown_tracing`), or None
        when export is off.

    Raises:
        TracingConfigError: an unusable sampler, exporter or protocol.
    """
    env = os.environ if env is None else env
    if not export_requested(env):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"service.version": service_version}
    # Resource.create lets these attributes win over OTEL_SERVICE_NAME and
    # OTEL_RESOURCE_ATTRIBUTES, so name the service only when the operator did not.
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = "chemagent"
    resource = Resource.create(attributes)
    provider = TracerProvider(sampler=sampler_from(env), resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter(env)))
    _state.provider = provider
    _state.tracer = provider.get_tracer(TRACER_NAME, service_version)
    log.info("tracing: exporting spans (%s)", type(provider.sampler).__name__)
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter (end of the lifespan); tracing is off afterwards."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def remote_parent(traceparent: str | None) -> SpanContext | None:
    """The caller's span context from a W3C ``traceparent`` value, if it is valid."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    flags = TraceFlags(int(match.group(3), 16) & 0x01)
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)


class _Carrier:
    """Reads a request's headers for the OTel propagators (W3C trace context, baggage)."""

    @staticmethod
    def get(scope: Mapping[str, Any], key: str) -> list[str] | None:
        value = _header(scope, key.encode("latin-1"))
        return None if value is None else [value]

    @staticmethod
    def keys(scope: Mapping[str, Any]) -> list[str]:
        return [k.decode("latin-1") for k, _ in scope.get("headers", ())]


def start_server_span(scope: Mapping[str, Any], method: str) -> tuple[Span, object]:
    """Open the request's server span and make it current; ``(span, token)``.

    With export on, a real span, child of the caller's ``traceparent``; with it off, a
    non-recording span carrying the caller's trace id (or a new one). Either way
    :func:`current_ids` works for the rest of the request. End with :func:`end_span`.
    """
    tracer = _state.tracer
    if tracer is not None:
        from opentelemetry import propagate

        parent = propagate.extract(scope, getter=_Carrier)  # type: ignore[arg-type]
        span = tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        )
        return span, otel_context.attach(trace.set_span_in_context(span, parent))
    caller = remote_parent(_header(scope, b"traceparent"))
    span = NonRecordingSpan(
        SpanContext(
            caller.trace_id if caller else _random.getrandbits(128) or 1,
            _random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=caller.trace_flags if caller else TraceFlags(0),
        )
    )
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_span(span: Span, token: object) -> None:
    """End what :func:`start_server_span` opened and restore the previous context."""
    span.end()
    otel_context.detach(token)  # type: ignore[arg-type]


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
def local_trace() -> Iterator[str]:
    """A trace context for work outside HTTP (the CLI's in-process query); yields its id."""
    span, token = start_server_span({}, "cli")
    try:
        yield f"{span.get_span_context().trace_id:032x}"
    finally:
        end_span(span, token)
