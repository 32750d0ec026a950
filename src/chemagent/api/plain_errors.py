"""Rewrite the few plain-text errors Starlette sends itself into our JSON error shape.

FastAPI's request body limit (``max_body_size``) answers an oversized body with a
plain-text "413 Content Too Large" from outside every exception handler; this pure ASGI
wrapper sits outside that and turns it into ``{"error", "detail", "trace_id"}``.
"""

from __future__ import annotations

from typing import Any

import orjson

from chemagent.observability.context import ASGIApp, Message, Receive, Scope, Send

_CODES = {413: "payload_too_large", 400: "bad_request", 500: "internal"}


class JsonPlainErrors:
    """Replace a ``text/plain`` 4xx/5xx response body with the JSON error shape."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting: dict[str, Any] = {}

        async def wrapped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers", []))
                if status in _CODES and headers.get(b"content-type", b"").startswith(b"text/plain"):
                    rewriting["status"] = status
                    rewriting["headers"] = [
                        (k, v)
                        for k, v in message.get("headers", [])
                        if k not in (b"content-type", b"content-length")
                    ]
                    return
            elif message["type"] == "http.response.body" and rewriting:
                if message.get("more_body"):
                    return
                await self._send_json(send, rewriting["status"], rewriting["headers"])
                return
            await send(message)

        await self.app(scope, receive, wrapped_send)

    async def _send_json(self, send: Send, status: int, headers: list[Any]) -> None:
        from chemagent.observability.tracing import current_trace_id

        if status == 413:
            detail = (
                f"The request body is larger than the limit of {self.max_body_bytes:,} "
                "bytes; send fewer or smaller items."
            )
        elif status == 400:
            detail = "The request could not be read; send a JSON object."
        else:
            detail = "An internal error occurred; report the trace_id if it persists."
        body = orjson.dumps(
            {"error": _CODES[status], "detail": detail, "trace_id": current_trace_id()}
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *headers,
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
