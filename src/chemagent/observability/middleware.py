"""One pure ASGI middleware for everything a request leaves behind: ids, span, metrics, log.

Outermost in the stack (the body-limit 413 and the 500 handler run inside it), it

* takes a sane incoming ``x-request-id`` or makes one;
* opens the server span (:mod:`chemagent.observability.tracing`), honouring an incoming
  ``traceparent``, and returns ``x-request-id``, ``x-trace-id`` and ``traceparent``;
* counts the request in ``http_requests_total`` / ``http_request_duration_seconds`` by
  route template (read from ``scope["route"]`` after routing; unmatched: ``none``) and in
  ``http_requests_in_flight``, and a shed request in ``chemagent_requests_shed_total``;
* writes one access-log line (:mod:`chemagent.observability.access_log`).

Pure ASGI, not ``BaseHTTPMiddleware`` (which costs a task and a memory stream per
request); label children are cached.
"""

from __future__ import annotations

import random
import re
import time

from chemagent.observability import tracing
from chemagent.observability.access_log import write_access_line
from chemagent.observability.context import (
    ASGIApp,
    Message,
    Receive,
    RequestTelemetry,
    Scope,
    Send,
    request_var,
)
from chemagent.observability.metrics import (
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_REQUESTS,
    REQUESTS_SHED,
    SHED_REASONS,
    Children,
)

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "none"
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def route_of(scope: Scope) -> str:
    """The matched route's template (``/v1/compounds/{compound_id}``), else ``none``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class TelemetryMiddleware:
    """Request id, server span, HTTP metrics and the access log for every request.

    Args:
        app: the rest of the stack.
        access_log: write one access line per request (``CHEMAGENT_ACCESS_LOG``).
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self._requests = Children(HTTP_REQUESTS)
        self._durations = Children(HTTP_DURATION)
        # Every reason's series exists from the start at 0: rate() and increase() only see
        # a shed that moves an existing series, so a series born at 1 would hide the first.
        self._shed = Children(REQUESTS_SHED, *((reason,) for reason in SHED_REASONS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        text = incoming.decode("latin-1")
        # getrandbits, not uuid4 (2.1 us: a urandom syscall): unique, not secret, and
        # reseeded in every forked worker.
        telemetry = RequestTelemetry(
            text if _SANE_ID.match(text) else f"{random.getrandbits(128):032x}"
        )
        request_token = request_var.set(telemetry)
        method = scope.get("method", "GET") if kind == "http" else "WS"
        # Probes and scrapes (every few seconds, always the same) get ids but no span.
        record = scope.get("path") not in UNTRACED_PATHS
        span, span_token = tracing.start_server_span(scope, method, record=record)
        extra = [
            (b"x-request-id", telemetry.request_id.encode()),
            (b"x-trace-id", f"{span.get_span_context().trace_id:032x}".encode()),
            (b"traceparent", tracing.traceparent_of(span).encode()),
        ]
        status = 500  # if the app raises before it responds, the server answers 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            elif message["type"] == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        if kind == "http":
            HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            if kind == "http":
                HTTP_IN_FLIGHT.dec()
                label_method = method if method in METHODS else "other"
                labels = (label_method, route, str(status))
                self._requests[labels].inc()
                self._durations[labels].observe(seconds)
            if telemetry.shed is not None:
                self._shed[(telemetry.shed,)].inc()
            if span.is_recording():
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("chemagent.cache", telemetry.cache)
                if status >= 500:
                    span.set_status(tracing.error_status(status))
            if self.access_log:
                write_access_line(scope, method, route, status, seconds, telemetry)
            tracing.end_span(span, span_token)
            request_var.reset(request_token)
