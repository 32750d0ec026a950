"""A deadline for every HTTP request (CHEMAGENT_REQUEST_TIMEOUT_SECONDS).

Steps have their own deadlines; this one bounds a whole request (a batch of 100 items,
a query plan) so a client never waits forever. Pure ASGI: no per-request task or
BaseHTTPMiddleware overhead. Once the response has started it no longer interferes, so
streaming responses are not cut.

One timer for all requests, not one per request: every request has the same timeout, so
requests reach their deadlines in the order they started. The requests waiting for a
response are kept in start order, and a single timer is set for the oldest one; when it
fires, every request past its deadline is cancelled (``Task.cancel``, as
``asyncio.timeout`` does) and the timer moves on to the new oldest. A request costs a
dict insert and delete instead of a timer handle scheduled and cancelled in the event
loop's heap (~1 us against ~9 us in-process, on the path of every request).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from chemagent.observability.context import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    current_request,
)
from chemagent.observability.tracing import current_trace_id


class RequestDeadline:
    """Answer 504 ``request_timeout`` when no response has started within ``seconds``."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        # Requests without a response yet, oldest first: task -> its deadline (loop time).
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start several): start afresh
            self._loop, self._waiting, self._expired, self._timer = loop, {}, set(), None
        waiting = self._waiting
        waiting[task] = loop.time() + self.seconds
        if self._timer is None:
            self._timer = loop.call_at(waiting[task], self._expire)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                waiting.pop(task, None)
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # cancelled by someone else: the server stopping, the client gone
            self._expired.discard(task)
            if task.uncancel() > 0 or started:
                raise
            await self._timed_out(send)
        finally:
            waiting.pop(task, None)
            self._expired.discard(task)

    def _expire(self) -> None:
        """The timer: cancel every request past its deadline, then wait for the oldest."""
        self._timer = None
        loop = self._loop
        if loop is None:  # pragma: no cover - set before the first timer
            return
        now = loop.time()
        while self._waiting:
            task, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire)
                return
            del self._waiting[task]
            self._expired.add(task)
            task.cancel()

    async def _timed_out(self, send: Send) -> None:
        request = current_request()
        if request is not None:
            request.shed = "deadline"
        body = orjson.dumps(
            {
                "error": "request_timeout",
                "detail": f"The request took longer than {self.seconds:g} s and was stopped; "
                "send fewer items or a narrower search.",
                "trace_id": current_trace_id(),
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 504,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
