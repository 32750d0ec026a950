"""Traces end to end: a real ``chemagent serve`` exports to a real OTLP receiver in the test.

The receivers (tests/otlp_receiver.py) decode what the SDK's exporters send, over
OTLP/HTTP and OTLP/gRPC. Each test sends requests with a ``traceparent`` and checks the
span tree that arrives: the server span under the caller's span, ``query.parse`` and
``query.plan`` under it, one ``step <kind>`` per plan node under ``query.plan``, Redis
client spans under the steps (or the server span), and the same trace id in the
response headers and in every JSON log line of the request.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from chemagent import __version__
from chemagent.observability import instrumentation, tracing
from tests.integration.conftest import CliFn, ServeFn, ServerProcess, free_port
from tests.otlp_receiver import ReceivedSpan, SpanStore, otlp_grpc_receiver, otlp_http_receiver
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

TRACED = {
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within ~0.1 s, not the default 5 s
}
QUERY = "Compare the LogP of aspirin and ibuprofen"
USER_TEXT = re.compile("aspirin|ibuprofen", re.IGNORECASE)
# "SET ? ? ? ?", a pipeline one command a line: command names, never keys or values.
REDIS_STATEMENT = re.compile(r"^[A-Z]+( \?)*(\n[A-Z]+( \?)*)*$")


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, SpanStore]]:
    with otlp_http_receiver() as receiver:
        yield receiver


def caller(sampled: bool = True) -> tuple[str, str, str]:
    """A caller's ``(trace_id, span_id, traceparent)``."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r} in {sorted(s.name for s in spans)}"
    return found[0]


def has(*names: str) -> Any:
    return lambda spans: {s.name for s in spans} >= set(names)


def json_lines(
    server: ServerProcess, request_id: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The server's JSON log lines of one request, once its access line is written."""
    deadline = time.monotonic() + timeout
    while True:
        lines = []
        for text in server.stderr().splitlines():
            if text.startswith("{"):
                line = json.loads(text)
                if line.get("request_id") == request_id:
                    lines.append(line)
        if any(line["logger"] == "chemagent.access" for line in lines):
            return lines
        if time.monotonic() > deadline:
            pytest.fail(f"no access line for request {request_id}:\n{server.stderr()[-3000:]}")
        time.sleep(0.05)


def test_query_trace_over_otlp_http_with_redis_and_logs(
    serve: ServeFn, http_receiver: tuple[str, SpanStore], redis_server: RedisServer
) -> None:
    url, store = http_receiver
    server = serve(
        env={
            **TRACED,
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "CHEMAGENT_REDIS_URL": redis_server.url,
            "CHEMAGENT_LOG_FORMAT": "json",
        }
    )
    trace_id, parent_id, traceparent = caller()
    with server.client() as http:
        response = http.post(
            "/v1/query", json={"query": QUERY}, headers={"traceparent": traceparent}
        )
    assert response.status_code == 200, response.text
    assert response.headers["x-trace-id"] == trace_id
    assert response.headers["traceparent"].startswith(f"00-{trace_id}-")
    assert response.headers["traceparent"].endswith("-01")

    spans = store.wait_for(trace_id, has("POST /v1/query", "query.parse", "query.plan"))
    root = only(spans, "POST /v1/query")
    assert (root.kind, root.parent_span_id) == ("server", parent_id)
    assert root.attributes["http.route"] == "/v1/query"
    assert root.attributes["http.response.status_code"] == 200
    assert response.headers["traceparent"] == f"00-{trace_id}-{root.span_id}-01"
    assert root.resource["service.name"] == "chemagent"
    assert root.resource["service.version"] == __version__

    parse, plan = only(spans, "query.parse"), only(spans, "query.plan")
    assert parse.parent_span_id == plan.parent_span_id == root.span_id
    assert parse.attributes[tracing.INTENT] == plan.attributes[tracing.INTENT] == "compare"
    assert plan.attributes[tracing.QUERY_STATUS] == "ok"
    steps = [s for s in spans if s.name.startswith("step ")]
    assert len(steps) == plan.attributes[tracing.PLAN_NODES] == len(response.json()["steps"])
    for step in steps:
        assert step.parent_span_id == plan.span_id
        assert step.attributes[tracing.STEP_KIND] == step.name.removeprefix("step ")
        assert step.attributes[tracing.STEP_OUTCOME] == "ok"
        assert step.attributes[tracing.CACHE_TIER] in ("miss", "l1", "l2", "stale")
        assert not step.error
    compounds = {s.attributes.get(tracing.COMPOUND_ID) for s in steps}
    assert {"CHEMBL25", "CHEMBL521"} <= compounds  # aspirin, ibuprofen: by ID, not by name

    redis = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert redis, f"no Redis client spans in {sorted(s.name for s in spans)}"
    step_ids = {s.span_id for s in steps}
    for span in redis:
        assert span.kind == "client"
        assert span.parent_span_id in step_ids | {root.span_id}
        assert REDIS_STATEMENT.match(span.attributes["db.statement"]), span.attributes
    assert any(s.parent_span_id in step_ids for s in redis)  # L2 reads and writes of steps

    for span in spans:  # the query text is nowhere: not in names, not in attributes
        assert not USER_TEXT.search(span.name)
        assert not USER_TEXT.search(json.dumps(span.attributes)), span

    lines = json_lines(server, response.headers["x-request-id"])
    assert {line["trace_id"] for line in lines} == {trace_id}
    (access,) = [line for line in lines if line["logger"] == "chemagent.access"]
    assert access["span_id"] == root.span_id
    assert (access["route"], access["status"]) == ("/v1/query", 200)


def test_rest_call_over_otlp_grpc(serve: ServeFn) -> None:
    with otlp_grpc_receiver() as (url, store):
        server = serve(
            env={
                **TRACED,
                "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            }
        )
        trace_id, parent_id, traceparent = caller()
        with server.client() as http:
            response = http.get("/v1/compounds/CHEMBL25", headers={"traceparent": traceparent})
        assert response.status_code == 200
        assert response.headers["x-trace-id"] == trace_id
        spans = store.wait_for(trace_id, has("GET /v1/compounds/{chembl_id}", "step compound"))
    root = only(spans, "GET /v1/compounds/{chembl_id}")
    assert (root.kind, root.parent_span_id) == ("server", parent_id)
    step = only(spans, "step compound")
    assert step.parent_span_id == root.span_id  # a REST call has no query.* spans
    assert step.attributes[tracing.COMPOUND_ID] == "CHEMBL25"
    assert not any(s.name.startswith("query.") for s in spans)


def test_default_sampler_keeps_the_callers_decision(
    serve: ServeFn, http_receiver: tuple[str, SpanStore]
) -> None:
    """parentbased_traceidratio (the default): 01 from the caller is recorded, 00 is not."""
    url, store = http_receiver
    server = serve(env={"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100"})
    unsampled, _, unsampled_parent = caller(sampled=False)
    sampled, _, sampled_parent = caller(sampled=True)
    with server.client() as http:
        first = http.get("/v1/compounds/CHEMBL25", headers={"traceparent": unsampled_parent})
        second = http.get("/v1/compounds/CHEMBL25", headers={"traceparent": sampled_parent})
    assert first.headers["x-trace-id"] == unsampled  # still the caller's trace in the logs
    assert first.headers["traceparent"].endswith("-00")
    assert second.headers["traceparent"].endswith("-01")
    store.wait_for(sampled, has("GET /v1/compounds/{chembl_id}", "step compound"))
    # The unsampled request ended first: had it been exported, it would be here by now.
    assert store.of_trace(unsampled) == []


def test_gunicorn_workers_flush_their_spans_at_shutdown(
    serve: ServeFn, http_receiver: tuple[str, SpanStore]
) -> None:
    """Each worker builds its own exporter after the fork and flushes it when it stops."""
    url, store = http_receiver
    server = serve(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before the shutdown
        },
        args=["--workers", "2"],
    )
    traces = []
    with server.client() as http:
        for _ in range(6):
            trace_id, _, traceparent = caller()
            response = http.get("/v1/compounds/CHEMBL25", headers={"traceparent": traceparent})
            assert response.headers["x-trace-id"] == trace_id
            traces.append(trace_id)
    assert store.requests == 0
    assert server.stop() == 0
    for trace_id in traces:
        spans = store.wait_for(trace_id, has("GET /v1/compounds/{chembl_id}"), timeout=5)
        root = only(spans, "GET /v1/compounds/{chembl_id}")
        assert only(spans, "step compound").parent_span_id == root.span_id


def test_a_bad_otel_value_stops_serve_naming_it(cli: CliFn) -> None:
    started = time.monotonic()
    result = cli(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "half"},
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 15
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("invalid configuration: OTEL_TRACES_SAMPLER='half' is not one of")


class _Echo(BaseHTTPRequestHandler):
    """An upstream that remembers the ``traceparent`` each request carried."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("traceparent"))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    _Echo.seen.clear()


def test_httpx_client_spans_carry_the_trace_and_no_query_string(upstream: str) -> None:
    """The upstream clients (LLM, ChEMBL) use httpx: a client span under the caller's
    span, the trace propagated to the upstream, the URL recorded without its query."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation.instrument_clients(provider)

    async def call() -> tuple[int, str]:
        tracer = provider.get_tracer("test")
        async with httpx.AsyncClient(trust_env=False) as http:
            with tracer.start_as_current_span("step targets") as step:
                response = await http.get(f"{upstream}/molecule", params={"pref_name": "aspirin"})
            # Outside any sampled span: no client span, the request still goes out.
            await http.get(f"{upstream}/status")
        return response.status_code, f"{step.get_span_context().span_id:016x}"

    try:
        status, step_id = asyncio.run(call())
    finally:
        instrumentation.uninstrument_clients()
    assert status == 200
    client = only(list(_spans(exporter)), "GET")
    assert client.kind == "client"
    assert client.parent_span_id == step_id
    # Old or new HTTP semantic conventions (OTEL_SEMCONV_STABILITY_OPT_IN): either way.
    urls = [client.attributes[k] for k in instrumentation.URL_ATTRIBUTES if k in client.attributes]
    assert urls == [f"{upstream}/molecule"]
    assert 200 in (
        client.attributes.get("http.status_code"),
        client.attributes.get("http.response.status_code"),
    )
    assert len(_Echo.seen) == 2
    propagated = _Echo.seen[0] or ""
    assert propagated.startswith(f"00-{client.trace_id}-{client.span_id}-")
    assert int(propagated[-2:], 16) & 0x01  # sampled (0x02, "random trace id", may be set)
    assert _Echo.seen[1] is None  # no trace, nothing to propagate


def _spans(exporter: InMemorySpanExporter) -> Iterator[ReceivedSpan]:
    """The in-memory exporter's spans in the receiver's shape."""
    for span in exporter.get_finished_spans():
        yield ReceivedSpan(
            trace_id=f"{span.context.trace_id:032x}",
            span_id=f"{span.context.span_id:016x}",
            parent_span_id=f"{span.parent.span_id:016x}" if span.parent else "",
            name=span.name,
            kind=span.kind.name.lower(),
            attributes=dict(span.attributes or {}),
            error=span.status.status_code.name == "ERROR",
            resource=dict(span.resource.attributes),
            flags=int(span.context.trace_flags),
        )
