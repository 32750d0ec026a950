"""JSON logging and the telemetry middleware's request ids (driven by a fake ASGI app)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from chemagent.observability.context import (
    RequestTelemetry,
    current_request_id,
    request_var,
)
from chemagent.observability.logging import JsonFormatter, configure_logging
from chemagent.observability.middleware import TelemetryMiddleware

pytestmark = pytest.mark.anyio


def make_record(message: str = "hello %s", *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("chemagent.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_formatter_without_request_id() -> None:
    line = JsonFormatter().format(make_record("hello %s", "world"))
    data = json.loads(line)
    assert data["message"] == "hello world"
    assert data["level"] == "warning"
    assert data["logger"] == "chemagent.test"
    assert data["ts"].endswith("Z")
    assert "request_id" not in data
    assert "\n" not in line


def test_json_formatter_with_request_id_and_extras() -> None:
    token = request_var.set(RequestTelemetry("req-12345678"))
    try:
        line = JsonFormatter().format(make_record("step done", step="parse", seconds=0.25))
    finally:
        request_var.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "req-12345678"
    assert data["step"] == "parse"
    assert data["seconds"] == 0.25


def test_json_formatter_exception_and_odd_values() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = make_record("failed", where=object())
        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad value" in data["exception"]
    assert data["where"].startswith("<object object")  # not serializable: str() instead


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(("fmt", "formatter"), [("json", JsonFormatter), ("console", None)])
def test_configure_logging(
    restore_root_logger: logging.Logger, fmt: str, formatter: type | None
) -> None:
    configure_logging("DEBUG", fmt)
    (handler,) = restore_root_logger.handlers
    assert restore_root_logger.level == logging.DEBUG
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stderr
    if formatter is None:
        assert not isinstance(handler.formatter, JsonFormatter)
        assert "%(levelname)" in (handler.formatter._fmt or "")  # type: ignore[union-attr]
    else:
        assert isinstance(handler.formatter, formatter)
        line = handler.format(make_record("ready"))
        assert json.loads(line)["message"] == "ready"


class FakeApp:
    """An ASGI app that records the request id it saw and answers 200."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(current_request_id())
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(request_id: bytes | None = None) -> dict[str, Any]:
    headers = [(b"host", b"test")]
    if request_id is not None:
        headers.append((b"x-request-id", request_id))
    return {"type": "http", "method": "GET", "path": "/", "headers": headers}


def response_id(sent: list[dict[str, Any]]) -> str:
    start = next(m for m in sent if m["type"] == "http.response.start")
    values = [v.decode() for k, v in start["headers"] if k == b"x-request-id"]
    assert len(values) == 1
    return values[0]


async def test_sane_incoming_id_is_kept() -> None:
    inner = FakeApp()
    sent = await call(TelemetryMiddleware(inner), http_scope(b"abc-123_DEF.456"))
    assert response_id(sent) == "abc-123_DEF.456"
    assert inner.seen == ["abc-123_DEF.456"]
    assert current_request_id() is None  # reset after the request


@pytest.mark.parametrize(
    "incoming",
    [b"short", b"x" * 65, b"has space 123", b"evil\r\nSet-Cookie: a=b", b"<script>alert</script>"],
)
async def test_insane_incoming_id_is_replaced(incoming: bytes) -> None:
    inner = FakeApp()
    sent = await call(TelemetryMiddleware(inner), http_scope(incoming))
    new_id = response_id(sent)
    assert new_id != incoming.decode("latin-1")
    assert len(new_id) == 32
    assert int(new_id, 16) >= 0  # uuid4 hex
    assert inner.seen == [new_id]


async def test_missing_id_is_generated_and_unique() -> None:
    middleware = TelemetryMiddleware(FakeApp())
    first = response_id(await call(middleware, http_scope()))
    second = response_id(await call(middleware, http_scope()))
    assert first != second


async def test_lifespan_passes_through() -> None:
    inner = FakeApp()
    await call(TelemetryMiddleware(inner), {"type": "lifespan"})
    assert inner.seen == [None]
