"""RequestDeadline: one timer for every request, each cut at its own deadline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chemagent.api.deadline import RequestDeadline
from chemagent.observability.context import RequestTelemetry, request_var

pytestmark = pytest.mark.anyio


def app_answering_after(delays: dict[str, float], stream_for: float = 0.0) -> Any:
    """An app that answers ``path`` after ``delays[path]`` seconds (forever when absent);
    with ``stream_for``, the body comes that long after the response started."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(delays.get(scope["path"], 3600))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(stream_for)
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def call(app: Any, path: str) -> tuple[int, dict[str, Any] | None, float]:
    """(status, JSON body or None, seconds) of one request."""
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await app({"type": "http", "path": path}, None, send)
    body = messages[-1]["body"]
    return (
        messages[0]["status"],
        json.loads(body) if body != b"ok" else None,
        loop.time() - started,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the deadline uses asyncio's Task.cancel/uncancel


async def test_each_request_is_cut_at_its_own_deadline() -> None:
    deadline = RequestDeadline(app_answering_after({"/quick": 0.05, "/late": 0.25}), 0.2)
    stuck = asyncio.create_task(call(deadline, "/stuck"))
    await asyncio.sleep(0.1)
    quick = asyncio.create_task(call(deadline, "/quick"))  # started 0.1 s later
    late = asyncio.create_task(call(deadline, "/late"))
    status, body, seconds = await stuck
    assert status == 504
    assert body is not None
    assert body["error"] == "request_timeout"
    assert "0.2 s" in body["detail"]
    assert 0.19 <= seconds < 0.35
    assert (await quick)[0] == 200  # not cut when the older request was
    late_status, _, late_seconds = await late
    assert late_status == 504
    assert 0.19 <= late_seconds < 0.35
    assert deadline._waiting == {}
    assert deadline._expired == set()


async def test_a_started_response_is_never_cut() -> None:
    deadline = RequestDeadline(app_answering_after({"/stream": 0.01}, stream_for=0.3), 0.1)
    status, body, seconds = await call(deadline, "/stream")
    assert (status, body) == (200, None)
    assert seconds >= 0.3


async def test_another_cancellation_is_not_a_timeout() -> None:
    deadline = RequestDeadline(app_answering_after({}), 10)
    request = asyncio.create_task(call(deadline, "/stuck"))
    await asyncio.sleep(0.05)
    request.cancel()  # e.g. the server stopping
    with pytest.raises(asyncio.CancelledError):
        await request
    assert deadline._waiting == {}


async def test_a_timed_out_request_is_marked_as_shed() -> None:
    telemetry = RequestTelemetry("0123456789abcdef")
    token = request_var.set(telemetry)
    try:
        status, _, _ = await call(RequestDeadline(app_answering_after({}), 0.05), "/stuck")
    finally:
        request_var.reset(token)
    assert status == 504
    assert telemetry.shed == "deadline"


async def test_many_quick_requests_leave_nothing_behind() -> None:
    deadline = RequestDeadline(app_answering_after({"/q": 0}), 0.05)
    results = await asyncio.gather(*(call(deadline, "/q") for _ in range(200)))
    assert {status for status, _, _ in results} == {200}
    assert deadline._waiting == {}
    await asyncio.sleep(0.08)  # the timer fires, finds nothing late and stops
    assert deadline._timer is None
    assert (await call(deadline, "/stuck"))[0] == 504  # and a new one starts it again


async def test_websockets_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    deadline = RequestDeadline(app, 0.01)
    await deadline({"type": "lifespan"}, None, None)
    await deadline({"type": "websocket"}, None, None)
    assert seen == ["lifespan", "websocket"]
    assert deadline._waiting == {}
