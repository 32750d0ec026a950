"""Tracing: OTEL_* configuration, trace context parsing, and the spans of the real step
runner and query service (recorded by the SDK's in-memory exporter)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags

from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import DisabledL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.sessions import MemorySessions
from chemagent.cache.tiered import TieredCache
from chemagent.errors import CompoundNotFound, StepTimeout
from chemagent.execution import runner as runner_module
from chemagent.execution.plan_runner import PlanExecutor
from chemagent.execution.query_service import QueryOptions, QueryService
from chemagent.execution.runner import StepRunner, compound_id, result_count
from chemagent.execution.step import Step
from chemagent.observability import instrumentation, tracing
from chemagent.observability.tracing import TracingConfigError
from chemagent.steps import registry
from chemagent.steps.context import StepContext

pytestmark = pytest.mark.anyio

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "requested"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
    ],
    ids=["nothing", "endpoint", "traces-endpoint", "disabled", "none", "console", "both"],
)
def test_export_requested(env: dict[str, str], requested: bool) -> None:
    assert tracing.export_requested(env) is requested
    assert (tracing.read_config(env) is not None) is requested


def test_no_sdk_without_an_exporter() -> None:
    """With no OTEL_* set, the SDK is never imported: requests pay for a trace id only."""
    code = (
        "import sys\n"
        "from chemagent.observability import tracing\n"
        "from chemagent.observability.middleware import TelemetryMiddleware\n"
        "assert tracing.configure_tracing('1', {}) is None\n"
        "assert tracing.tracer() is None\n"
        "with tracing.local_trace() as trace_id:\n"
        "    assert len(trace_id) == 32\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize(
    ("name", "arg", "description"),
    [
        ("", "", "ParentBased{root:TraceIdRatioBased{0.1}"),
        ("parentbased_traceidratio", "0.25", "ParentBased{root:TraceIdRatioBased{0.25}"),
        ("traceidratio", "1", "TraceIdRatioBased{1.0}"),
        ("always_on", "", "AlwaysOnSampler"),
        ("ALWAYS_OFF", "", "AlwaysOffSampler"),
        ("parentbased_always_on", "", "ParentBased{root:AlwaysOnSampler"),
        ("parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler"),
    ],
)
def test_sampler_selection(name: str, arg: str, description: str) -> None:
    sampler = tracing.sampler_from({"OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": arg})
    assert sampler.get_description().startswith(description)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER="),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG="),
        ({"OTEL_TRACES_SAMPLER_ARG": "ten percent"}, "OTEL_TRACES_SAMPLER_ARG="),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL="),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER="),
        ({"OTEL_TRACES_EXPORTER": "none,otlp"}, "OTEL_TRACES_EXPORTER="),
        ({"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED="),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT="),
        ({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="),
        ({"OTEL_BSP_SCHEDULE_DELAY": "-1"}, "OTEL_BSP_SCHEDULE_DELAY="),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "nan"}, "OTEL_BSP_MAX_QUEUE_SIZE="),
        (
            {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"},
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE",
        ),
        ({"OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, "OTEL_EXPORTER_OTLP_INSECURE="),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION="),
        ({"OTEL_EXPORTER_OTLP_CERTIFICATE": "/no/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE="),
        ({"OTEL_PROPAGATORS": "tracecontext,b3"}, "OTEL_PROPAGATORS names b3"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES must"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(TracingConfigError, match=variable):
        tracing.read_config({**ENDPOINT, **env})


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:s3cret@collector:99999"},
        {**ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS": "api-key s3cret"},
        {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x=1,=s3cret"},
    ],
    ids=["no-scheme", "bad-port", "header-without-equals", "header-without-key"],
)
def test_secrets_are_not_echoed(env: dict[str, str]) -> None:
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_") as failure:
        tracing.read_config(env)
    assert "s3cret" not in str(failure.value)


def test_good_values_are_read(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    config = tracing.read_config(
        {
            **ENDPOINT,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%20def,tenant=1",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca),
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
            "OTEL_PROPAGATORS": "tracecontext,baggage",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        }
    )
    assert config is not None
    assert config.exporters == ("otlp",)
    assert config.protocol == "grpc"
    assert config.timeout_seconds == 2.5  # the spec's milliseconds, not Python's seconds
    assert config.batch == tracing.BatchOptions(100, 30000, 64, 64)


def test_traces_variables_win_over_the_general_ones() -> None:
    config = tracing.read_config(
        {
            **ENDPOINT,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "3000",
        }
    )
    assert config is not None
    assert (config.protocol, config.timeout_seconds) == ("http/protobuf", 3.0)


@pytest.mark.parametrize(
    ("env", "kinds"),
    [
        (ENDPOINT, [HttpSpanExporter]),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, [GrpcSpanExporter]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, [HttpSpanExporter, ConsoleSpanExporter]),
    ],
    ids=["http", "grpc", "otlp+console"],
)
def test_exporter_selection(env: dict[str, str], kinds: list[type]) -> None:
    config = tracing.read_config(env)
    assert config is not None
    exporters = [tracing.exporter_for(name, config) for name in config.exporters]
    try:
        assert [type(e) for e in exporters] == kinds
    finally:
        for exporter in exporters:
            exporter.shutdown()


def test_configure_builds_a_provider_named_after_the_service() -> None:
    env = {
        **ENDPOINT,
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=from-ops",
    }
    provider = tracing.configure_tracing("1.2.3", env)
    try:
        assert provider is not None
        assert tracing.tracer() is not None
        attributes = provider.resource.attributes
        assert attributes["service.name"] == "chemagent"
        assert provider.sampler is ALWAYS_ON
    finally:
        tracing.shutdown_tracing()
    assert tracing.tracer() is None
    assert not instrumentation._active  # client instrumentations undone


def test_configure_refuses_a_bad_value_before_building_anything() -> None:
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_SAMPLER="):
        tracing.configure_tracing("1", {**ENDPOINT, "OTEL_TRACES_SAMPLER": "sometimes"})
    assert tracing.tracer() is None


class _StuckExporter(SpanExporter):
    """A collector that never answers."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Any) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.wait(30)


def test_shutdown_waits_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "SHUTDOWN_SECONDS", 0.2)
    exporter = _StuckExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    started = time.monotonic()
    tracing.shutdown_tracing()
    elapsed = time.monotonic() - started
    exporter.release.set()
    assert 0.2 <= elapsed < 2


# --- trace context ------------------------------------------------------------------------


def test_remote_parent_reads_a_w3c_traceparent() -> None:
    parent = tracing.remote_parent("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01")
    assert parent is not None
    assert f"{parent.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{parent.span_id:016x}" == "b7ad6b7169203331"
    assert parent.is_remote
    assert parent.trace_flags == TraceFlags.SAMPLED
    unsampled = tracing.remote_parent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02")
    assert unsampled is not None
    assert unsampled.trace_flags == TraceFlags.DEFAULT  # only the sampled bit is kept


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # unknown version
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",  # short span id
    ],
)
def test_remote_parent_ignores_invalid_values(value: str | None) -> None:
    assert tracing.remote_parent(value) is None


# --- spans of the runner and the query service ----------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every span recorded in memory as soon as it ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))  # parentbased_always_on
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    yield exporter
    tracing.shutdown_tracing()


@pytest.fixture
def runner(ctx: StepContext, cpu_pool: ThreadPoolExecutor) -> StepRunner:
    cache = TieredCache(
        L1Cache(100), DisabledL2(), CachePolicy(), CacheNamespace(SCHEMA, "r", "lib", "1")
    )
    return StepRunner(ctx, cpu_pool, step_timeout=5.0, max_pending=8, cache=cache)


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_concurrent_steps_are_children_of_the_current_span(
    runner: StepRunner, spans: InMemorySpanExporter
) -> None:
    steps = [Step.of("compound", "CHEMBL25"), Step.of("resolve", "ibuprofen")]
    with tracing.child_span("request") as request:
        assert request is not None
        results = await runner.run_all(steps)
    assert not [r for r in results if isinstance(r, BaseException)]
    found = by_name(spans)
    request_id = request.get_span_context().span_id
    (compound,) = found["step compound"]
    (resolve,) = found["step resolve"]
    assert parent_of(compound) == parent_of(resolve) == request_id
    assert compound.context.trace_id == request.get_span_context().trace_id
    assert compound.attributes == {
        tracing.STEP_KIND: "compound",
        tracing.CACHE_TIER: "miss",
        tracing.STEP_OUTCOME: "ok",
        tracing.COMPOUND_ID: "CHEMBL25",
    }
    assert resolve.attributes is not None
    assert resolve.attributes[tracing.COMPOUND_ID] == "CHEMBL521"  # a name, resolved
    assert resolve.attributes[tracing.RESULT_COUNT] == 1
    assert compound.status.status_code is StatusCode.UNSET


async def test_a_cached_step_names_its_tier(
    runner: StepRunner, spans: InMemorySpanExporter
) -> None:
    step = Step.of("compound", "CHEMBL25")
    await runner.run(step)
    await runner.run(step)
    first, second = by_name(spans)["step compound"]
    assert first.attributes is not None
    assert second.attributes is not None
    assert (first.attributes[tracing.CACHE_TIER], second.attributes[tracing.CACHE_TIER]) == (
        "miss",
        "l1",
    )
    assert first.context.trace_id != second.context.trace_id  # no parent: a trace each


async def test_a_failed_step_has_error_status_and_no_user_text(
    runner: StepRunner, spans: InMemorySpanExporter
) -> None:
    with pytest.raises(CompoundNotFound):
        await runner.run(Step.of("compound", "CHEMBL999999999"))
    with pytest.raises(CompoundNotFound):
        await runner.run(Step.of("compound", "secret name"))
    by_id, by_name_ = by_name(spans)["step compound"]
    for span in (by_id, by_name_):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "CompoundNotFound"
        assert span.attributes is not None
        assert span.attributes[tracing.STEP_OUTCOME] == "error"
        assert span.attributes[tracing.ERROR_TYPE] == "CompoundNotFound"
        assert not span.events  # no exception event: its message quotes the input
    assert by_id.attributes is not None
    assert by_name_.attributes is not None
    assert by_id.attributes[tracing.COMPOUND_ID] == "CHEMBL999999999"
    assert tracing.COMPOUND_ID not in by_name_.attributes
    assert "secret" not in repr(by_name_.to_json())


@pytest.fixture
def temporary_kind() -> Iterator[Callable[..., None]]:
    added: list[str] = []

    def add(name: str, fn: Callable[..., Any], timeout_seconds: float | None = None) -> None:
        registry.register(
            name, version=1, description="unit test kind", timeout_seconds=timeout_seconds
        )(fn)
        added.append(name)

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


async def test_a_timed_out_step_has_error_status(
    runner: StepRunner, spans: InMemorySpanExporter, temporary_kind: Callable[..., None]
) -> None:
    release = threading.Event()

    def stuck(ctx: StepContext, text: str, params: Mapping[str, Any]) -> None:
        release.wait(5)

    temporary_kind("unit_stuck", stuck, timeout_seconds=0.05)
    try:
        with pytest.raises(StepTimeout):
            await runner.run(Step.of("unit_stuck", "x"))
    finally:
        release.set()
    (span,) = by_name(spans)["step unit_stuck"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[tracing.STEP_OUTCOME] == "timeout"
    assert span.attributes[tracing.ERROR_TYPE] == "step_timeout"


async def test_the_step_thread_sees_the_step_span(
    runner: StepRunner, spans: InMemorySpanExporter, temporary_kind: Callable[..., None]
) -> None:
    """A log line written by a step function (in the pool) names the step's span."""

    def ids(ctx: StepContext, text: str, params: Mapping[str, Any]) -> Any:
        return tracing.current_ids()

    temporary_kind("unit_ids", ids)
    trace_id, span_id = await runner.run(Step.of("unit_ids", "x"))
    (span,) = by_name(spans)["step unit_ids"]
    assert (trace_id, span_id) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a span was opened")


async def test_tracing_off_does_no_span_work(
    runner: StepRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing, "start_child_span", _forbidden)
    monkeypatch.setattr(runner_module, "describe_step", _forbidden)
    assert tracing.tracer() is None
    record = await runner.run(Step.of("compound", "CHEMBL25"))
    assert record["chembl_id"] == "CHEMBL25"
    with tracing.child_span("query.parse") as span:
        assert span is None


async def test_no_child_spans_under_an_unsampled_request(
    runner: StepRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default sampler follows the parent: a step of an unsampled request makes no span."""
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))
    tracing.activate(provider)
    try:
        tracer = tracing.tracer()
        assert tracer is not None
        request, token = tracing.start_child_span(tracer, "GET /v1/compounds/{chembl_id}")
        assert not request.is_recording()  # a root at ratio 0: not sampled
        monkeypatch.setattr(tracing, "start_child_span", _forbidden)
        try:
            assert tracing.child_tracer() is None
            record = await runner.run(Step.of("compound", "CHEMBL25"))
            with tracing.child_span("query.parse") as span:
                assert span is None
        finally:
            tracing.end_span(request, token)
        assert record["chembl_id"] == "CHEMBL25"
    finally:
        tracing.shutdown_tracing()


async def test_untraced_background_work_makes_no_spans(
    runner: StepRunner, spans: InMemorySpanExporter
) -> None:
    with tracing.untraced():
        await runner.run(Step.of("compound", "CHEMBL25"))
    await runner.run(Step.of("compound", "CHEMBL25"))  # outside: a root span of its own
    assert [s.name for s in spans.get_finished_spans()] == ["step compound"]


def test_a_sampler_that_ignores_the_parent_still_gets_children() -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)
    tracing.activate(provider)
    try:
        unsampled = NonRecordingSpan(SpanContext(1, 2, is_remote=False))
        with trace.use_span(unsampled):
            assert tracing.child_tracer() is tracing.tracer() is not None
    finally:
        tracing.shutdown_tracing()


def query_service(runner: StepRunner) -> QueryService:
    return QueryService(
        PlanExecutor(runner),
        MemorySessions(ttl=60, max_sessions=10),
        max_workers=4,
        deadline=10.0,
    )


async def test_query_spans_parse_then_plan_with_steps_under_plan(
    runner: StepRunner, spans: InMemorySpanExporter
) -> None:
    service = query_service(runner)
    with tracing.child_span("POST /v1/query") as request:
        assert request is not None
        outcome = await service.run(
            "Compare the LogP of aspirin and ibuprofen", QueryOptions(remember=False)
        )
    assert outcome.status_code == 200
    found = by_name(spans)
    (parse,) = found["query.parse"]
    (plan,) = found["query.plan"]
    request_id = request.get_span_context().span_id
    assert parent_of(parse) == parent_of(plan) == request_id
    assert parse.end_time is not None
    assert plan.start_time is not None
    assert parse.end_time <= plan.start_time  # parsing, then planning: one after the other
    assert parse.attributes == {
        tracing.INTENT: "compare",
        tracing.INTENT_SOURCE: "rules",
        tracing.ENTITY_COUNT: 3,
    }
    assert plan.attributes == {
        tracing.INTENT: "compare",
        tracing.QUERY_STATUS: "ok",
        tracing.PLAN_NODES: 5,
        tracing.PLAN_LAYERS: 3,
    }
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("step ")]
    assert len(steps) == 5
    assert {parent_of(s) for s in steps} == {plan.context.span_id}
    text = repr([s.to_json() for s in spans.get_finished_spans()])
    assert "ibuprofen" not in text.lower()  # no query text anywhere, only IDs


async def test_a_failed_query_plan_span(runner: StepRunner, spans: InMemorySpanExporter) -> None:
    service = query_service(runner)
    outcome = await service.run("What is CHEMBL999999999?", QueryOptions(remember=False))
    assert outcome.status_code == 404
    (plan,) = by_name(spans)["query.plan"]
    assert plan.attributes is not None
    assert plan.attributes[tracing.QUERY_STATUS] == "failed"
    assert plan.status.status_code is StatusCode.UNSET  # a 4xx is the caller's mistake
    (step,) = by_name(spans)["step compound"]
    assert step.status.status_code is StatusCode.ERROR


async def test_child_span_marks_an_escaping_exception(spans: InMemorySpanExporter) -> None:
    with pytest.raises(asyncio.CancelledError), tracing.child_span("query.plan"):
        raise asyncio.CancelledError
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes == {tracing.ERROR_TYPE: "CancelledError"}


# --- what a step span names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "value", "expected"),
    [
        (Step.of("compound", " chembl25 "), None, "CHEMBL25"),
        (Step.of("compound", "aspirin"), {"chembl_id": "CHEMBL25"}, "CHEMBL25"),
        (Step.of("resolve", "aspirin"), {"matches": [{"chembl_id": "CHEMBL25"}]}, "CHEMBL25"),
        (Step.of("resolve", "aspirin"), {"matches": []}, None),
        (Step.of("similarity", "CC(=O)Oc1ccccc1C(=O)O"), {"hits": [{"chembl_id": "X1"}]}, None),
        (Step.of("properties", "CC(=O)O"), {"molecule_properties": {}}, None),
        (Step.of("compound", "a name"), {"chembl_id": "not an id; DROP"}, None),
        (Step.of("compound", "T7"), {"chembl_id": "T7"}, "T7"),  # a custom library's ID
    ],
)
def test_compound_id(step: Step, value: Any, expected: str | None) -> None:
    assert compound_id(step, value) == expected


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ([1, 2, 3], 3),
        ({"total": 40, "hits": [1, 2]}, 2),
        ({"matches": []}, 0),
        ({"records": [1], "missing": []}, 1),
        ({"ranking": [1, 2]}, 2),
        ({"chembl_id": "CHEMBL25"}, None),
        (None, None),
    ],
)
def test_result_count(value: Any, count: int | None) -> None:
    assert result_count(value) == count


# --- client instrumentation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (httpx.URL("https://llm.example/v1/chat?q=aspirin#top"), "https://llm.example/v1/chat"),
        (
            httpx.URL("http://user:pw@chembl:8080/molecule?pref_name=x"),
            "http://chembl:8080/molecule",
        ),
        ((b"https", b"example.org", 443, b"/a/b?smiles=CCO"), "https://example.org:443/a/b"),
        (httpx.URL("http://[::1]:9000/x?y=1"), "http://[::1]:9000/x"),
    ],
)
def test_without_query(url: object, expected: str) -> None:
    assert instrumentation.without_query(url) == expected


def test_scrub_url_replaces_the_recorded_url() -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)
    span = provider.get_tracer("t").start_span(
        "GET", attributes={"url.full": "https://h/x?name=aspirin", "http.url": "https://h/x?n=1"}
    )
    request = SimpleNamespace(url=httpx.URL("https://h/x?name=aspirin"))
    instrumentation.scrub_url(span, request)
    assert span.attributes is not None  # type: ignore[attr-defined]
    attributes = dict(span.attributes)  # type: ignore[attr-defined]
    assert attributes == {"url.full": "https://h/x", "http.url": "https://h/x"}


@pytest.mark.parametrize(
    ("flags", "recorded"),
    [(None, False), (TraceFlags(0), False), (TraceFlags(1), True)],
    ids=["no-parent", "unsampled-parent", "sampled-parent"],
)
def test_client_spans_only_under_a_sampled_span(flags: TraceFlags | None, recorded: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = instrumentation.SampledOnlyProvider(provider).get_tracer("redis")
    parent = trace.INVALID_SPAN
    if flags is not None:
        parent = NonRecordingSpan(SpanContext(7, 8, is_remote=True, trace_flags=flags))
    with trace.use_span(parent):
        with tracer.start_as_current_span("GET") as span:
            assert span.is_recording() is recorded
        assert tracer.start_span("SET").is_recording() is recorded
        with pytest.raises(KeyError), tracer.start_as_current_span("DEL"):
            raise KeyError("the command's error passes through")
    assert len(exporter.get_finished_spans()) == (2 if recorded else 0)


def test_instrument_and_uninstrument_the_clients() -> None:
    import redis.asyncio

    def patched() -> list[bool]:
        return [
            hasattr(redis.asyncio.Redis.execute_command, "__wrapped__"),
            hasattr(httpx.AsyncHTTPTransport.handle_async_request, "__wrapped__"),
        ]

    instrumentation.instrument_clients(None)
    assert patched() == [False, False]
    instrumentation.instrument_clients(TracerProvider())
    try:
        assert patched() == [True, True]
    finally:
        instrumentation.uninstrument_clients()
    assert patched() == [False, False]
    assert not instrumentation._active
