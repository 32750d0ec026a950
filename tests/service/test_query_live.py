"""WebSocket queries, cancel, and disconnects, with steps slowed down on purpose.

Each step is delayed by ``DELAY`` seconds (a stand-in for a slow upstream) so a query is
still running when the client cancels or goes away; the checks are that pending steps
never start and that the service's count of running queries returns to zero.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chemagent.api.state import AppState
from chemagent.app import create_app
from chemagent.execution.step import Step
from tests.service.conftest import offline_settings
from tests.service.support import wait_until

DELAY = 0.3
SIX = (
    "Which has the highest LogP: aspirin, ibuprofen, caffeine, paracetamol, naproxen or diclofenac?"
)


class SlowSteps:
    """Wraps the app's step runner: every step sleeps first, and is recorded."""

    def __init__(self, state: AppState) -> None:
        self.started: list[str] = []
        self._run = state.runner.run

    async def __call__(self, step: Step) -> Any:
        self.started.append(step.kind)
        await asyncio.sleep(DELAY)
        return await self._run(step)


def slow_down(state: AppState, monkeypatch: pytest.MonkeyPatch) -> SlowSteps:
    slow = SlowSteps(state)
    monkeypatch.setattr(state.runner, "run", slow)
    return slow


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(offline_settings(max_workers=2))


@pytest.fixture(scope="module")
def ws_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app_state["chemagent"]
    return state


def test_websocket_streams_a_query_then_takes_another(ws_client: TestClient) -> None:
    with ws_client.websocket_connect("/v1/ws/query") as ws:
        for query in ("What is CHEMBL25?", "Compare aspirin and ibuprofen"):
            ws.send_json({"query": query, "verbose": True})
            events = []
            while not events or events[-1]["type"] not in ("result", "error"):
                events.append(ws.receive_json())
            assert events[0]["type"] == "parsing"
            assert events[1]["type"] == "planning"
            assert events[-1]["type"] == "result"
            assert events[-1]["response"]["query"] == query
            assert "metrics" in events[-1]["response"]
            progress = [e["progress"] for e in events]
            assert progress == sorted(progress)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "malformed_json"),
        ('{"nothing": 1}', "invalid_input"),
        ('{"query": ""}', "invalid_input"),
        ('{"type": "cancel"}', "nothing_to_cancel"),
    ],
)
def test_websocket_bad_messages_get_error_events_and_the_socket_stays(
    ws_client: TestClient, message: str, code: str
) -> None:
    with ws_client.websocket_connect("/v1/ws/query") as ws:
        ws.send_text(message)
        event = ws.receive_json()
        assert event["type"] == "error"
        assert event["error"] == code, event
        assert 400 <= event["status"] < 500
        assert event["detail"]
        ws.send_json({"query": "What is CHEMBL25?"})
        while (event := ws.receive_json())["type"] not in ("result", "error"):
            pass
        assert event["type"] == "result"


def test_websocket_empty_query_is_rejected_by_the_service(ws_client: TestClient) -> None:
    with ws_client.websocket_connect("/v1/ws/query") as ws:
        ws.send_json({"query": "   "})
        event = ws.receive_json()
        assert event["type"] == "error"
        assert event["status"] == 422
        assert "empty" in event["detail"]


def test_websocket_oversized_message_closes_with_1009(app: FastAPI) -> None:
    small = create_app(offline_settings(max_body_bytes=2048))
    with TestClient(small) as client, client.websocket_connect("/v1/ws/query") as ws:
        ws.send_text('{"query": "' + "x" * 5000 + '"}')
        event = ws.receive_json()
        assert event["status"] == 413
        closed = ws.receive()
        assert closed["type"] == "websocket.close"
        assert closed["code"] == 1009


def test_websocket_cancel_stops_pending_steps(
    ws_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = state_of(ws_client)
    slow = slow_down(state, monkeypatch)
    with ws_client.websocket_connect("/v1/ws/query") as ws:
        ws.send_json({"query": SIX, "parallel": False})
        while (event := ws.receive_json())["type"] != "planning":
            pass
        total = len(event["plan"]["nodes"])
        while ws.receive_json()["type"] != "step_start":
            pass
        ws.send_json({"type": "cancel"})
        while (event := ws.receive_json())["type"] != "cancelled":
            assert event["type"] in ("step_start", "step_complete"), event
        assert event["progress"] == 1.0
        started = len(slow.started)
        assert started < total  # pending steps never started
        time.sleep(DELAY * 2)
        assert len(slow.started) == started
        assert state.queries.active == 0
        # The connection is still usable.
        monkeypatch.undo()
        ws.send_json({"query": "What is CHEMBL25?"})
        while (event := ws.receive_json())["type"] not in ("result", "error"):
            pass
        assert event["type"] == "result"


def test_websocket_disconnect_frees_the_query(
    ws_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = state_of(ws_client)
    slow = slow_down(state, monkeypatch)
    with ws_client.websocket_connect("/v1/ws/query") as ws:
        ws.send_json({"query": SIX, "parallel": False})
        while ws.receive_json()["type"] != "step_start":
            pass
    assert wait_until(lambda: state.queries.active == 0, 5.0)
    started = len(slow.started)
    time.sleep(DELAY * 2)
    assert len(slow.started) == started
    assert started < 13


# --- a real socket: SSE disconnect ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(app: FastAPI) -> Iterator[tuple[str, AppState]]:
    """The app served by uvicorn on a real loopback socket, in a thread of this process."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: server.started, 30.0), "uvicorn did not start"
    try:
        state: AppState = server.lifespan.state["chemagent"]
        yield base, state
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_sse_client_disconnect_stops_the_query(
    live: tuple[str, AppState], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = live
    with httpx.Client(base_url=base, timeout=10) as http:
        slow = slow_down(state, monkeypatch)
        with http.stream(
            "GET", "/v1/query/stream", params={"q": SIX, "parallel": "false"}
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line == "event: step_start":
                    break
        # The connection is closed here, mid-query.
        assert wait_until(lambda: state.queries.active == 0, 5.0)
        started = len(slow.started)
        time.sleep(DELAY * 2)
        assert len(slow.started) == started
        assert started < 13
        monkeypatch.undo()
        assert http.get("/readyz").json()["pending_steps"] == 0
