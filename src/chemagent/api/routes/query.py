"""Plain-English queries: one JSON answer, a Server-Sent Events stream, or a WebSocket.

All three run :class:`~chemagent.execution.query_service.QueryService`; they differ only
in how events reach the client. The event protocol (docs/API.md):

``parsing`` -> ``planning`` -> (``step_start`` | ``step_complete``)* -> ``result`` or
``error``; every event has ``type``, ``progress`` (0..1, never decreasing) and ``ts``
(Unix seconds). Over the WebSocket the client may send ``{"type": "cancel"}``: pending
steps do not start and a ``cancelled`` event ends the query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from chemagent.api.deps import StateDep
from chemagent.api.errors import validation_detail
from chemagent.api.models import ErrorBody, QueryError, QueryRequest, QueryResponse
from chemagent.api.state import AppState
from chemagent.errors import ChemAgentError
from chemagent.execution.query_service import QueryOptions, cancel_quietly
from chemagent.observability.tracing import current_trace_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["query"])

QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": QueryError, "description": "A compound in the query is unknown."},
    422: {
        "model": QueryError,
        "description": "The query cannot run as written (a threshold above 1, a broken "
        "SMILES, a missing compound); the detail and the answer say what to change.",
    },
    503: {"model": ErrorBody, "description": "Overloaded, or a needed dependency is down."},
    504: {"model": QueryError, "description": "The query ran past its deadline."},
}


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post(
    "/query",
    response_model=QueryResponse,
    responses=QUERY_ERRORS,
    summary="Answer a plain-English question about molecules.",
)
async def query(body: QueryRequest, state: StateDep) -> Response:
    """Parses the question, plans steps, runs independent ones concurrently and answers.

    Examples: "What is CHEMBL25?", "LogP of aspirin", "Which has higher LogP: aspirin or
    ibuprofen?", "compounds similar to ibuprofen above 0.7", "drugs containing a
    sulfonamide", "MW < 300 and LogP < 3, rank by QED", "what's its TPSA?" (with the
    session_id of the previous answer).
    """
    outcome = await state.queries.run(body.query, _options(body))
    return _json(outcome.status_code, {**outcome.body, "trace_id": current_trace_id()})


def _options(body: QueryRequest) -> QueryOptions:
    return QueryOptions(
        session_id=body.session_id,
        parallel=body.parallel,
        max_workers=body.max_workers,
        verbose=body.verbose,
    )


async def stream_request(
    state: StateDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100_000,
            description="The question.",
            examples=["Which of caffeine, aspirin and paracetamol has the lowest TPSA?"],
        ),
    ],
    session_id: Annotated[
        str | None, Query(max_length=128, description="Continue a conversation.")
    ] = None,
    parallel: Annotated[bool, Query(description="Run independent steps concurrently.")] = True,
    max_workers: Annotated[
        int | None, Query(ge=1, le=256, description="Most steps running at once.")
    ] = None,
    verbose: Annotated[bool, Query(description="Metrics in the result event.")] = False,
) -> QueryRequest:
    """The stream's parameters, checked before the stream starts (so a bad one is a 422
    response, not a broken stream)."""
    body = QueryRequest(
        query=q, session_id=session_id, parallel=parallel, max_workers=max_workers, verbose=verbose
    )
    state.queries.check(body.query, _options(body))
    return body


@router.get(
    "/query/stream",
    response_class=EventSourceResponse,
    responses={422: {"model": ErrorBody, "description": "An empty or too long query."}},
    summary="The same answer as Server-Sent Events, step by step.",
)
async def query_stream(
    state: StateDep, body: Annotated[QueryRequest, Depends(stream_request)]
) -> AsyncIterator[ServerSentEvent]:
    """Events: parsing, planning, step_start, step_complete, then result (the body of
    POST /v1/query) or error (`error`, `detail`, `status`, `answer`). Each has `progress`
    (0..1) and `ts`. A query the server cannot run ends with an `error` event carrying the
    HTTP status it would have had; closing the connection stops the query's pending steps.
    """
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.create_task(_run_into(state, body, events.put))
    try:
        while (event := await events.get()) is not None:
            yield ServerSentEvent(data=event, event=event["type"])
    finally:
        await cancel_quietly(task)


async def _run_into(state: AppState, body: QueryRequest, put: Any) -> None:
    """Run one query, putting its events (then None) through ``put``."""
    trace_id = current_trace_id()

    async def sink(event: dict[str, Any]) -> None:
        if event["type"] in ("result", "error") and "response" in event:
            event = {**event, "response": {**event["response"], "trace_id": trace_id}}
        await put(event)

    try:
        await state.queries.run(body.query, _options(body), sink)
    except ChemAgentError as exc:
        await put(_error_event(exc.code, exc.detail, exc.status))
    except Exception:  # a bug: the client still gets an ending event with the trace id
        log.exception("query stream failed")
        await put(
            _error_event(
                "internal",
                f"Internal error; report trace id {trace_id} to the operators.",
                500,
            )
        )
    finally:
        await put(None)


def _error_event(code: str, detail: str, status: int) -> dict[str, Any]:
    return {
        "type": "error",
        "progress": 0.0,
        "ts": time.time(),
        "error": code,
        "detail": detail,
        "status": status,
    }


@router.websocket("/ws/query")
async def query_ws(websocket: WebSocket) -> None:
    """One query at a time over a WebSocket (the docs/API.md protocol)."""
    state: AppState = websocket.state.chemagent
    await websocket.accept()
    session = _WebSocketSession(websocket, state)
    try:
        await session.serve()
    except WebSocketDisconnect:
        pass
    finally:
        await session.stop()


class _WebSocketSession:
    """Reads client messages while the current query streams its events."""

    def __init__(self, websocket: WebSocket, state: AppState) -> None:
        self.websocket = websocket
        self.state = state
        self.current: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(event).decode())

    async def serve(self) -> None:
        limit = self.state.settings.max_body_bytes
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw) > limit:
                await self.reply_error(
                    "payload_too_large",
                    f"The message is {len(raw)} bytes; the limit is {limit}.",
                    413,
                )
                await self.websocket.close(code=1009)
                return
            await self.handle(raw)

    async def handle(self, raw: str) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.reply_error(
                "malformed_json",
                'Messages are JSON objects: {"query": "..."} to ask, {"type": "cancel"} '
                "to stop the running query.",
                400,
            )
            return
        if isinstance(message, dict) and message.get("type") == "cancel":
            await self.cancel()
            return
        if self.current is not None and not self.current.done():
            await self.reply_error(
                "query_running",
                'A query is already running on this connection; send {"type": "cancel"} '
                "first, or wait for its result.",
                409,
            )
            return
        try:
            body = QueryRequest.model_validate(message)
        except ValidationError as exc:
            status, code, detail = validation_detail([dict(e) for e in exc.errors()])
            await self.reply_error(code, detail, status)
            return
        self.current = asyncio.create_task(_run_into(self.state, body, self.forward))

    async def forward(self, event: dict[str, Any] | None) -> None:
        if event is not None:
            await self.send(event)

    async def cancel(self) -> None:
        if self.current is None or self.current.done():
            await self.reply_error("nothing_to_cancel", "No query is running.", 409)
            return
        await cancel_quietly(self.current)
        await self.send(
            {
                "type": "cancelled",
                "progress": 1.0,
                "ts": time.time(),
                "detail": "The query was cancelled; its pending steps were not run.",
            }
        )

    async def reply_error(self, code: str, detail: str, status: int) -> None:
        await self.send(_error_event(code, detail, status))

    async def stop(self) -> None:
        if self.current is not None:
            await cancel_quietly(self.current)
        with contextlib.suppress(RuntimeError):
            await self.websocket.close()
