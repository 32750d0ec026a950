"""A deadline for every HTTP request (CHEMAGENT_REQUEST_TIMEOUT_SECONDS).

Steps have their own deadlines; this one bounds a whole request (a batch of 100 items,
a query plan) so a client never waits forever. Pure ASGI: no per-request task or
BaseHTTPMiddleware overhead. Once the response has started it no longer interferes, so
streaming responses are not cut.
"""

from __future__ import annotations

import asyncio

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if started:
                raise
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
