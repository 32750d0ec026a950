"""TelemetryMiddleware against fake ASGI apps: labels, in-flight, status, shed, access log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from chemagent.observability.context import current_request
from chemagent.observability.middleware import TelemetryMiddleware, route_of

pytestmark = pytest.mark.anyio


class Route:
    def __init__(self, path: str) -> None:
        self.path = path


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class App:
    """Answers ``status``; sets a route template like Starlette's router does."""

    def __init__(self, status: int = 200, route: str | None = "/v1/things/{id}") -> None:
        self.status = status
        self.route = route
        self.in_flight_seen: float | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.route is not None:
            scope["route"] = Route(self.route)
        self.in_flight_seen = sample("http_requests_in_flight")
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(app: Any, method: str = "GET", path: str = "/v1/things/CHEMBL25") -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    await app(scope, receive, send)
    return sent


async def test_requests_are_counted_by_route_template_not_path() -> None:
    labels = {"method": "GET", "route": "/v1/things/{id}", "status": "200"}
    before = sample("http_requests_total", **labels)
    count_before = sample("http_request_duration_seconds_count", **labels)
    inner = App()
    await call(TelemetryMiddleware(inner, access_log=False))
    await call(TelemetryMiddleware(inner, access_log=False), path="/v1/things/other")
    assert sample("http_requests_total", **labels) == before + 2
    assert sample("http_request_duration_seconds_count", **labels) == count_before + 2
    assert inner.in_flight_seen is not None
    assert inner.in_flight_seen >= 1
    assert sample("http_requests_in_flight") == 0


async def test_unmatched_routes_and_odd_methods_have_fixed_labels() -> None:
    labels = {"method": "other", "route": "none", "status": "404"}
    before = sample("http_requests_total", **labels)
    await call(TelemetryMiddleware(App(404, route=None), access_log=False), method="BREW")
    assert sample("http_requests_total", **labels) == before + 1
    assert route_of({"route": object()}) == "none"


async def test_an_app_that_raises_counts_as_500_and_leaves_no_request_in_flight() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("bug")

    labels = {"method": "POST", "route": "none", "status": "500"}
    before = sample("http_requests_total", **labels)
    with pytest.raises(RuntimeError):
        await call(TelemetryMiddleware(broken, access_log=False), method="POST")
    assert sample("http_requests_total", **labels) == before + 1
    assert sample("http_requests_in_flight") == 0


async def test_a_shed_request_is_counted_once_with_its_reason() -> None:
    async def shedding(scope: Any, receive: Any, send: Any) -> None:
        request = current_request()
        assert request is not None
        request.step("miss")
        request.shed = "queue_full"
        request.shed = "queue_full"  # two refused steps, one request
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    before = sample("chemagent_requests_shed_total", reason="queue_full")
    await call(TelemetryMiddleware(shedding, access_log=False))
    assert sample("chemagent_requests_shed_total", reason="queue_full") == before + 1


async def test_response_headers_carry_the_ids() -> None:
    sent = await call(TelemetryMiddleware(App(), access_log=False))
    headers = dict(sent[0]["headers"])
    trace_id = headers[b"x-trace-id"].decode()
    version, in_parent, span_id, flags = headers[b"traceparent"].decode().split("-")
    assert (version, in_parent, len(span_id), flags) == ("00", trace_id, 16, "00")
    assert len(headers[b"x-request-id"]) == 32


async def test_the_access_line_has_the_fields_and_no_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = Route("/v1/search")
        request = current_request()
        assert request is not None
        for tier in ("l1", "l2", "l1"):
            request.step(tier)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    with caplog.at_level(logging.INFO, logger="chemagent.access"):
        await call(TelemetryMiddleware(app), path="/v1/search")
    (record,) = [r for r in caplog.records if r.name == "chemagent.access"]
    fields = vars(record)
    assert fields["route"] == "/v1/search"
    assert fields["status"] == 200
    assert fields["cache"] == "l2"  # the worst tier any step used
    assert fields["steps"] == 3
    assert fields["duration_ms"] >= 0
    assert record.levelno == logging.INFO


async def test_a_server_error_is_logged_at_error_level(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="chemagent.access"):
        await call(TelemetryMiddleware(App(503)))
    (record,) = [r for r in caplog.records if r.name == "chemagent.access"]
    assert record.levelno == logging.ERROR
    assert vars(record)["cache"] == "none"


async def test_the_access_log_can_be_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="chemagent.access"):
        await call(TelemetryMiddleware(App(), access_log=False))
    assert not [r for r in caplog.records if r.name == "chemagent.access"]


def test_request_steps_marks_a_refused_step_as_shed() -> None:
    from chemagent.execution.runner import StepRecord
    from chemagent.execution.step import Step
    from chemagent.observability.context import RequestTelemetry, request_var
    from chemagent.observability.recorders import RequestSteps

    request = RequestTelemetry("req-00000001")
    token = request_var.set(request)
    try:
        observe = RequestSteps()
        observe(StepRecord(Step.of("parse", "CCO"), "ok", "l1", 0.001))
        observe(StepRecord(Step.of("properties", "CCO"), "error", "miss", 0.0, "Overloaded"))
    finally:
        request_var.reset(token)
    assert request.tiers == {"l1": 1, "miss": 1}
    assert request.shed == "queue_full"
    RequestSteps()(StepRecord(Step.of("parse", "CCO"), "ok", "l1", 0.001))  # no request: no-op


def test_shed_series_exist_at_zero_before_any_shed(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import CollectorRegistry, Counter

    from chemagent.observability import middleware

    registry = CollectorRegistry()
    fresh = Counter("shed_probe", "test", ["reason"], registry=registry)
    monkeypatch.setattr(middleware, "REQUESTS_SHED", fresh)
    TelemetryMiddleware(App(), access_log=False)
    for reason in ("queue_full", "deadline"):
        assert registry.get_sample_value("shed_probe_total", {"reason": reason}) == 0.0


async def test_probes_get_ids_but_no_recorded_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from chemagent.observability import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    try:
        probe = await call(TelemetryMiddleware(App(), access_log=False), path="/readyz")
        await call(TelemetryMiddleware(App(), access_log=False), path="/v1/things/CHEMBL25")
    finally:
        tracing.activate(None)
    assert dict(probe[0]["headers"])[b"x-trace-id"]
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /v1/things/{id}"]
