"""The server span decides sampling before the SDK, with the SDK's own rule."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from chemagent.observability import sampling, tracing
from chemagent.observability.tracing_config import root_bound

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def traceparent(sampled: bool) -> str:
    return f"00-{CALLER_TRACE}-b7ad6b7169203331-{'01' if sampled else '00'}"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing as configure_tracing sets it up at ratio 0.5, spans kept in memory."""
    env = {"OTEL_TRACES_SAMPLER_ARG": "0.5"}
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(0.5)),
        id_generator=sampling.id_generator(random.Random(7)),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider, root_bound=root_bound(env))
    yield exporter
    tracing.activate(None)


def serve(headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bool]:
    """(trace id, recorded) of one server span."""
    scope = {"type": "http", "path": "/v1/compounds/CHEMBL25", "headers": headers or []}
    span, token = tracing.start_server_span(scope, "GET")
    trace_id = span.get_span_context().trace_id
    recorded = span.is_recording()
    tracing.end_span(span, token)
    return trace_id, recorded


def test_new_traces_are_sampled_by_the_sdks_rule(exported: InMemorySpanExporter) -> None:
    rule = TraceIdRatioBased(0.5)
    decisions = [serve() for _ in range(400)]
    sampled = [trace_id for trace_id, recorded in decisions if recorded]
    assert 140 <= len(sampled) <= 260  # ~200 at 0.5
    for trace_id, recorded in decisions:
        assert recorded == (trace_id & sampling.LOW_64 < rule.bound)
    # The SDK's spans carry the ids they were sampled with, once each.
    assert sorted(s.context.trace_id for s in exported.get_finished_spans()) == sorted(sampled)
    assert len(set(sampled)) == len(sampled)


def test_an_unsampled_caller_is_followed_without_the_sdk(
    exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = tracing.tracer()
    assert tracer is not None

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("the SDK was called for an unsampled request")

    monkeypatch.setattr(tracer, "start_span", forbidden)
    trace_id, recorded = serve([(b"traceparent", traceparent(sampled=False).encode())])
    assert (f"{trace_id:032x}", recorded) == (CALLER_TRACE, False)


def test_a_sampled_caller_is_recorded_as_the_parent(exported: InMemorySpanExporter) -> None:
    trace_id, recorded = serve([(b"traceparent", traceparent(sampled=True).encode())])
    assert (f"{trace_id:032x}", recorded) == (CALLER_TRACE, True)
    (span,) = exported.get_finished_spans()
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"


def test_a_chosen_id_is_used_once() -> None:
    generator = sampling.id_generator(random.Random(1))
    sampling.choose_trace_id(12345)
    assert generator.generate_trace_id() == 12345
    assert generator.generate_trace_id() != 12345


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, TraceIdRatioBased(0.1).bound),
        ({"OTEL_TRACES_SAMPLER_ARG": "0.25"}, TraceIdRatioBased(0.25).bound),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0),
        ({"OTEL_PROPAGATORS": "tracecontext"}, TraceIdRatioBased(0.1).bound),
        # The SDK decides everything else:
        ({"OTEL_TRACES_SAMPLER": "traceidratio"}, None),  # ignores the caller's flag
        ({"OTEL_TRACES_SAMPLER": "always_on"}, None),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, None),
        ({"OTEL_PROPAGATORS": "b3"}, None),  # the caller's context is not a traceparent
        ({"OTEL_PROPAGATORS": "tracecontext,b3"}, None),
    ],
)
def test_where_the_server_span_decides(env: dict[str, str], expected: int | None) -> None:
    assert root_bound(env) == expected
