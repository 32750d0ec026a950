"""DrainingServer's signal handling, tick by tick (no sockets, no real signals)."""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
import uvicorn

from chemagent.api.draining import (
    CLOSE_SECONDS,
    CONNECTION_CLOSE,
    STATE_KEY,
    CloseWhileDraining,
    DrainingServer,
)

pytestmark = pytest.mark.anyio


async def no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    raise AssertionError("not called")


def started_server(
    drain: float | None, graceful_timeout: float | None = 40
) -> tuple[DrainingServer, Any]:
    """A server as after its start, with an app state whose drain is ``drain`` seconds
    (None: an app without a ChemAgent state)."""
    server = DrainingServer(uvicorn.Config(no_app), graceful_timeout=graceful_timeout)
    state = SimpleNamespace(draining=False, settings=SimpleNamespace(drain_seconds=drain))
    lifespan_state = {STATE_KEY: state} if drain is not None else {}
    server.lifespan = SimpleNamespace(state=lifespan_state)
    server.started = True
    return server, state


async def test_sigterm_fails_readiness_then_serves_until_the_drain_ends() -> None:
    server, state = started_server(drain=0.3)
    assert await server.on_tick(1) is False
    server.handle_exit(signal.SIGTERM, None)
    # The handler only notes the time: the work waits for the next tick.
    assert state.draining is False
    assert server.should_exit is False

    assert await server.on_tick(2) is False  # draining, still serving
    assert state.draining is True
    assert await server.on_tick(10) is False

    await anyio.sleep(0.35)
    assert await server.on_tick(3) is True  # now uvicorn shuts down
    assert server._captured_signals == [signal.SIGTERM]  # re-raised afterwards, as uvicorn does


async def test_in_flight_requests_are_cancelled_before_gunicorns_kill() -> None:
    server, _ = started_server(drain=5, graceful_timeout=40)
    server.handle_exit(signal.SIGTERM, None)
    await server.on_tick(1)
    # 40 s to SIGKILL - 5 s of drain - CLOSE_SECONDS for the lifespan's closing.
    assert server.config.timeout_graceful_shutdown == int(40 - 5 - CLOSE_SECONDS)


async def test_without_a_kill_deadline_requests_are_not_cut() -> None:
    server, _ = started_server(drain=0.1, graceful_timeout=None)
    server.handle_exit(signal.SIGTERM, None)
    await server.on_tick(1)
    assert server.config.timeout_graceful_shutdown is None


async def test_a_second_sigterm_ends_the_drain() -> None:
    server, state = started_server(drain=60)
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(1) is False
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(2) is True
    assert state.draining is True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
async def test_other_signals_stop_at_once(sig: signal.Signals) -> None:
    server, state = started_server(drain=60)
    server.handle_exit(sig, None)
    assert await server.on_tick(1) is True
    assert state.draining is False


async def test_a_server_still_starting_stops_at_once() -> None:
    server, state = started_server(drain=60)
    server.started = False  # SIGTERM while the library loads: never ready, nothing to drain
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit is True
    assert state.draining is False


async def test_an_app_without_chemagent_state_stops_at_the_next_tick() -> None:
    server, _ = started_server(drain=None)
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(1) is True


async def respond(app: CloseWhileDraining, scope_type: str) -> list[Any]:
    """The headers of each start message ``app`` sends for one request of ``scope_type``."""
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:  # pragma: no cover - the app reads nothing
        raise AssertionError("not called")

    await app({"type": scope_type}, receive, send)
    return [m["headers"] for m in sent if m["type"].endswith(("response.start", ".accept"))]


async def test_http_responses_in_the_drain_close_their_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        start = "http.response.start" if scope["type"] == "http" else "websocket.accept"
        await send({"type": start, "status": 200, "headers": [(b"content-length", b"0")]})
        if scope["type"] == "http":
            await send({"type": "http.response.body", "body": b""})

    server, _ = started_server(drain=60)
    wrapped = CloseWhileDraining(app, server)
    assert await respond(wrapped, "http") == [[(b"content-length", b"0")]]
    server.handle_exit(signal.SIGTERM, None)
    await server.on_tick(1)
    assert await respond(wrapped, "http") == [[(b"content-length", b"0"), CONNECTION_CLOSE]]
    # A WebSocket handshake keeps its own Connection: Upgrade.
    assert await respond(wrapped, "websocket") == [[(b"content-length", b"0")]]
