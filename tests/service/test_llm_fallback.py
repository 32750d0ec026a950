"""The LLM fallback against a real (fake) OpenAI-compatible HTTP server on 127.0.0.1.

The server (:mod:`tests.service.fake_llm`) answers what each test scripts: a valid intent,
content that is not JSON, an intent that breaks the schema, a 500, an answer slower than
the timeout, a body that trickles in. It records every request so the tests can check
what the client sent.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from chemagent.execution.llm_fallback import LLMFallback
from chemagent.query.llm import SYSTEM_PROMPT
from chemagent.query.model import EntityKind, IntentKind
from chemagent.query.planner import plan
from chemagent.settings import Settings
from chemagent.sources.llm import MAX_RESPONSE_BYTES, ChatClient
from tests.service.fake_llm import VALID, FakeLLM, closed_port, completion

pytestmark = pytest.mark.anyio

QUERY = "wat r the targits of asprin"
TIMEOUT = 0.5


def fallback(url: str, api_key: str | None = "sk-test", timeout: float = TIMEOUT) -> LLMFallback:
    return LLMFallback(ChatClient(url, "llama3.1", api_key=api_key, timeout=timeout))


def one_warning(caplog: pytest.LogCaptureFixture) -> str:
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    return warnings[0].getMessage()


def no_query_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            assert "asprin" not in record.getMessage()


async def test_valid_answer_becomes_an_intent(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    llm = fallback(fake.url)
    try:
        intent = await llm.classify(QUERY)
    finally:
        await llm.aclose()
    assert intent is not None
    assert (intent.kind, intent.confidence, intent.query) == (IntentKind.TARGETS, 0.75, QUERY)
    (compound,) = intent.compounds
    assert (compound.kind, compound.value, compound.start) == (
        EntityKind.NAME,
        "asprin",
        QUERY.index("asprin"),
    )
    assert [node.kind for node in plan(intent).nodes] == ["resolve", "targets"]
    assert (llm.ok, llm.invalid, llm.unavailable) == (1, 0, 0)
    no_query_in_logs(caplog)

    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body["model"] == "llama3.1"
    assert request.body["temperature"] == 0
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": QUERY},
    ]


async def test_no_api_key_sends_no_authorization(fake: FakeLLM) -> None:
    llm = fallback(fake.url + "/", api_key=None)  # a trailing slash is tolerated
    try:
        assert await llm.classify(QUERY) is not None
    finally:
        await llm.aclose()
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + json.dumps(VALID) + "\n```",
        "```\n" + json.dumps(VALID) + "\n```",
        "Sure! Here is the JSON: " + json.dumps(VALID),
    ],
    ids=["json-fence", "bare-fence", "prose"],
)
async def test_fenced_or_wrapped_json_is_read(fake: FakeLLM, content: str) -> None:
    fake.answer(content)
    llm = fallback(fake.url)
    try:
        intent = await llm.classify(QUERY)
    finally:
        await llm.aclose()
    assert intent is not None
    assert intent.kind is IntentKind.TARGETS


async def test_content_that_is_not_json_is_unavailable(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer("I think the user wants targets of aspirin {kind: targets")
    llm = fallback(fake.url)
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert (llm.ok, llm.invalid, llm.unavailable) == (0, 0, 1)
    assert "not JSON" in one_warning(caplog)


async def test_schema_violation_is_invalid_and_never_planned(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.answer({"kind": "similarity", "compounds": ["asprin"], "threshold": 1.5, "x": 1})
    llm = fallback(fake.url)
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert (llm.ok, llm.invalid, llm.unavailable) == (0, 1, 0)
    message = one_warning(caplog)
    assert "rejected" in message
    assert "threshold" in message
    assert "Extra inputs" in message
    no_query_in_logs(caplog)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b'{"error": "model crashed"}', "HTTP 500"),
        (404, b'{"error": "model not found"}', "HTTP 404"),
        (200, b"<html>proxy login</html>", "body is not JSON"),
        (200, b'{"error": {"message": "overloaded"}}', "no choices[0].message.content"),
        (200, json.dumps(completion("x") | {"choices": []}).encode(), "no choices"),
        (
            200,
            json.dumps({"choices": [{"message": {"content": None}}]}).encode(),
            "not a string",
        ),
    ],
    ids=["500", "404", "html", "error-body", "no-choices", "null-content"],
)
async def test_bad_responses_are_unavailable(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture, status: int, body: bytes, reason: str
) -> None:
    fake.raw(body, status)
    llm = fallback(fake.url)
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert (llm.ok, llm.invalid, llm.unavailable) == (0, 0, 1)
    assert reason in one_warning(caplog)


async def test_oversized_response_is_unavailable(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer({"kind": "lookup", "compounds": ["a" * (MAX_RESPONSE_BYTES + 10)]})
    llm = fallback(fake.url, timeout=5.0)
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert llm.unavailable == 1
    assert "over" in one_warning(caplog)


async def test_slow_answer_gives_up_at_the_timeout(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    fake.delay = 10.0
    llm = fallback(fake.url)
    start = time.perf_counter()
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    elapsed = time.perf_counter() - start
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.5, elapsed
    assert llm.unavailable == 1
    assert len(fake.requests) == 1
    assert "no answer within 0.5 s" in one_warning(caplog)


async def test_trickling_body_is_bounded_by_the_overall_timeout(fake: FakeLLM) -> None:
    # One byte every 0.1 s never trips httpx's per-read timeout (0.5 s); the whole call
    # must still end at the timeout instead of after the ~20 s the body would take.
    fake.trickle = 0.1
    llm = fallback(fake.url)
    start = time.perf_counter()
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert time.perf_counter() - start < TIMEOUT + 0.5
    assert llm.unavailable == 1


async def test_closed_port_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    llm = fallback(f"http://127.0.0.1:{closed_port()}/v1")
    start = time.perf_counter()
    try:
        assert await llm.classify(QUERY) is None
    finally:
        await llm.aclose()
    assert time.perf_counter() - start < TIMEOUT + 0.5
    assert (llm.ok, llm.invalid, llm.unavailable) == (0, 0, 1)
    assert "ConnectError" in one_warning(caplog)


async def test_outcomes_are_counted_across_calls(fake: FakeLLM) -> None:
    llm = fallback(fake.url)
    try:
        assert await llm.classify(QUERY) is not None
        fake.answer({"kind": "teleport"})
        assert await llm.classify(QUERY) is None
        fake.raw(b"", 503)
        assert await llm.classify(QUERY) is None
        fake.answer({"kind": "out_of_scope"})
        out = await llm.classify("best pizza in town?")
    finally:
        await llm.aclose()
    assert out is not None
    assert out.kind is IntentKind.OUT_OF_SCOPE
    assert (llm.ok, llm.invalid, llm.unavailable) == (2, 1, 1)
    assert len(fake.requests) == 4


def test_no_url_means_no_fallback() -> None:
    assert LLMFallback.from_settings(Settings(llm_url=None)) is None
    assert LLMFallback.from_settings(Settings(llm_url="  ")) is None


async def test_from_settings_uses_url_model_key_and_timeout(fake: FakeLLM) -> None:
    settings = Settings(
        llm_url=fake.url,
        llm_model="qwen2.5:7b",
        llm_api_key="sk-from-env",
        llm_timeout_seconds=2.5,
    )
    llm = LLMFallback.from_settings(settings)
    assert llm is not None
    assert "sk-from-env" not in repr(llm.client)
    try:
        assert llm.client.timeout == 2.5
        assert await llm.classify(QUERY) is not None
    finally:
        await llm.aclose()
    (request,) = fake.requests
    assert request.body["model"] == "qwen2.5:7b"
    assert request.headers["Authorization"] == "Bearer sk-from-env"
