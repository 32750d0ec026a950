"""One request's fate while a server stops: what the graceful-stop tests record."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


@dataclass
class Outcome:
    sent_at: float
    request_id: str
    status: int | None = None  # None: no response (refused, or reset before the headers)
    error: str = ""
    complete: bool = False  # the whole body arrived and is JSON
    connection: str = ""  # the response's Connection header
    finished_at: float = 0.0


def send(
    http: httpx.Client,
    method: str,
    path: str,
    body: dict[str, object] | None = None,
    content: Iterator[bytes] | None = None,
) -> Outcome:
    """One request with its own ``x-request-id`` (the access log records it)."""
    outcome = Outcome(time.monotonic(), uuid.uuid4().hex)
    headers = {"x-request-id": outcome.request_id}
    if content is not None:
        headers["content-type"] = "application/json"
    try:
        with http.stream(method, path, json=body, content=content, headers=headers) as response:
            outcome.status = response.status_code
            outcome.connection = response.headers.get("connection", "")
            payload = response.read()  # a body cut short raises here, after the status
        json.loads(payload)
        outcome.complete = True
    except httpx.TransportError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    except ValueError as exc:
        outcome.error = f"not JSON: {exc}"
    outcome.finished_at = time.monotonic()
    return outcome
