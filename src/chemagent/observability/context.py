"""Per-request telemetry state, readable anywhere (logs, error bodies, recorders).

:class:`~chemagent.observability.middleware.TelemetryMiddleware` sets one
:class:`RequestTelemetry` per HTTP/WebSocket request in a contextvar. Tasks started by the
request (concurrent steps) copy the context, so they share the same mutable object: a
step's cache tier or a shed step reaches the request's access-log line and metrics
without a lock (one event loop per worker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Worst first: the access log reports the worst tier any step of the request used.
CACHE_ORDER = ("miss", "stale", "l2", "l1")


@dataclass
class RequestTelemetry:
    """What one request did, filled in while it runs.

    Attributes:
        request_id: the ``x-request-id`` (incoming when sane, else generated).
        tiers: steps served per cache tier (l1, l2, miss, stale).
        shed: why the request was refused or cut short (queue_full, deadline), if it was.
    """

    request_id: str
    tiers: dict[str, int] = field(default_factory=dict)
    shed: str | None = None

    def step(self, tier: str) -> None:
        self.tiers[tier] = self.tiers.get(tier, 0) + 1

    @property
    def cache(self) -> str:
        """The worst tier a step used (miss > stale > l2 > l1), or ``none`` without steps."""
        for tier in CACHE_ORDER:
            if tier in self.tiers:
                return tier
        return "none"


request_var: ContextVar[RequestTelemetry | None] = ContextVar("chemagent_request", default=None)


def current_request() -> RequestTelemetry | None:
    return request_var.get()


def current_request_id() -> str | None:
    request = request_var.get()
    return request.request_id if request is not None else None
