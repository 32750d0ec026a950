"""The LLM client's upstream metrics and circuit breaker, against the fake LLM server.

Metrics are read from the process-wide Prometheus registry (shared by the whole test
session), so every check compares a value before and after.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from chemagent.app import create_app
from chemagent.cache.breaker import BreakerState
from chemagent.execution.llm_fallback import LLMFallback
from chemagent.observability.upstream import LLMClassificationMetrics, UpstreamMetrics
from chemagent.sources.llm import ChatClient
from tests.service.conftest import offline_settings
from tests.service.fake_llm import FakeLLM, closed_port

pytestmark = pytest.mark.anyio

QUERY = "wat r the targits of asprin"
UNREADABLE = "hmm what about that one drug for headaches"  # the rules say UNKNOWN
DURATION = "chemagent_upstream_request_duration_seconds_count"
CIRCUIT = "chemagent_upstream_circuit_open"
CLASSIFIED = "chemagent_llm_classifications_total"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def calls(status: str) -> float:
    labels = {"upstream": "llm", "endpoint": "chat_completions", "status": status}
    return REGISTRY.get_sample_value(DURATION, labels) or 0.0


def slow_timeouts() -> float:
    """Timed-out calls that took more than 0.25 s."""
    labels = {"upstream": "llm", "endpoint": "chat_completions", "status": "timeout"}
    name = "chemagent_upstream_request_duration_seconds_bucket"
    every = REGISTRY.get_sample_value(name, {**labels, "le": "+Inf"}) or 0.0
    fast = REGISTRY.get_sample_value(name, {**labels, "le": "0.25"}) or 0.0
    return every - fast


def circuit() -> float | None:
    return REGISTRY.get_sample_value(CIRCUIT, {"upstream": "llm"})


def classified(result: str) -> float:
    return REGISTRY.get_sample_value(CLASSIFIED, {"result": result}) or 0.0


def fallback(
    url: str, clock: Clock | None = None, failures: int = 3, timeout: float = 0.5
) -> LLMFallback:
    client = ChatClient(
        url,
        "llama3.1",
        timeout=timeout,
        telemetry=UpstreamMetrics("llm"),
        breaker_failures=failures,
        breaker_reset_seconds=30.0,
        clock=clock or Clock(),
    )
    return LLMFallback(client, on_result=LLMClassificationMetrics())


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_calls_are_timed_by_status(fake: FakeLLM) -> None:
    statuses = ("200", "500", "invalid", "timeout", "connect")
    before = {s: calls(s) for s in statuses}
    slow_before = slow_timeouts()
    llm = fallback(fake.url, failures=100)
    dead = fallback(f"http://127.0.0.1:{closed_port()}/v1", failures=100)
    try:
        assert await llm.classify(QUERY) is not None
        fake.raw(b'{"error": "model crashed"}', 500)
        assert await llm.classify(QUERY) is None
        fake.raw(b"<html>proxy login</html>")
        assert await llm.classify(QUERY) is None
        fake.answer("not JSON at all")  # the upstream answered; the model's content is bad
        assert await llm.classify(QUERY) is None
        fake.answer({"kind": "lookup"})
        fake.delay = 5.0
        assert await llm.classify(QUERY) is None
        assert await dead.classify(QUERY) is None
    finally:
        await llm.aclose()
        await dead.aclose()
    after = {s: calls(s) - before[s] for s in statuses}
    assert after == {"200": 2, "500": 1, "invalid": 1, "timeout": 1, "connect": 1}
    assert slow_timeouts() - slow_before == 1  # timed to the end: 0.5 s, not 0


async def test_failures_open_the_breaker_and_calls_are_skipped(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.raw(b"", 503)
    clock = Clock()
    unavailable = classified("unavailable")
    llm = fallback(fake.url, clock)
    try:
        assert circuit() == 0  # the series exists from the start
        for _ in range(3):
            assert await llm.classify(QUERY) is None
        assert llm.client.breaker.state is BreakerState.OPEN
        assert circuit() == 1
        for _ in range(20):  # skipped at once: no request, no log line
            assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert len(fake.requests) == 3
    assert classified("unavailable") - unavailable == 23
    assert len(messages(caplog, "LLM circuit open")) == 1
    assert len(messages(caplog, "LLM fallback unavailable")) == 3


async def test_the_probe_closes_the_breaker(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.raw(b"", 500)
    clock = Clock()
    ok = classified("ok")
    llm = fallback(fake.url, clock)
    try:
        for _ in range(3):
            await llm.classify(QUERY)
        assert circuit() == 1
        clock.now += 29.0
        assert await llm.classify(QUERY) is None
        assert len(fake.requests) == 3  # still open

        clock.now += 2.0  # past reset_seconds: the next call is the probe, and it fails
        assert await llm.classify(QUERY) is None
        assert len(fake.requests) == 4
        assert llm.client.breaker.state is BreakerState.OPEN
        assert circuit() == 1
        assert messages(caplog, "LLM probe failed")

        fake.answer({"kind": "targets", "compounds": ["asprin"], "confidence": 0.8})
        clock.now += 31.0
        intent = await llm.classify(QUERY)  # this probe succeeds
        assert intent is not None
        assert llm.client.breaker.state is BreakerState.CLOSED
        assert circuit() == 0
        assert await llm.classify(QUERY) is not None  # closed: every call goes through
    finally:
        await llm.aclose()
    assert len(fake.requests) == 6
    assert classified("ok") - ok == 2
    assert len(messages(caplog, "LLM circuit closed")) == 1
    assert len(messages(caplog, "LLM circuit open")) == 1


async def test_a_cancelled_probe_frees_the_probe_slot(fake: FakeLLM) -> None:
    fake.raw(b"", 500)
    clock = Clock()
    llm = fallback(fake.url, clock, failures=1, timeout=5.0)
    try:
        assert await llm.classify(QUERY) is None
        clock.now += 31.0
        fake.delay = 5.0
        probe = asyncio.create_task(llm.classify(QUERY))
        assert await asyncio.to_thread(fake.wait_requests, 2)
        assert await llm.classify(QUERY) is None  # the probe is in flight: skipped
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert llm.client.breaker.consecutive_failures == 1  # a cancel is not a failure
        fake.delay = 0.0
        fake.answer({"kind": "targets", "compounds": ["asprin"]})
        assert await llm.classify(QUERY) is not None  # the next call may probe
    finally:
        await llm.aclose()
    assert len(fake.requests) == 3


def test_the_app_wires_the_llm_metrics(fake: FakeLLM) -> None:
    ok = classified("ok")
    before = calls("200")
    with TestClient(create_app(offline_settings(llm_url=fake.url))) as client:
        assert circuit() == 0
        response = client.post("/v1/query", json={"query": UNREADABLE})
        assert response.json()["intent"]["source"] == "llm"
        text = client.get("/metrics").text
    assert classified("ok") - ok == 1
    assert calls("200") - before == 1
    assert 'chemagent_upstream_circuit_open{upstream="llm"} 0.0' in text
    assert 'chemagent_llm_classifications_total{result="ok"}' in text
