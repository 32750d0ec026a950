"""The caller's trace context, read from a request's headers (W3C ``traceparent``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def remote_parent(traceparent: str | None) -> SpanContext | None:
    """The caller's span context from a W3C ``traceparent`` value, if it is valid."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    flags = TraceFlags(int(match.group(3), 16) & 0x01)
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)


class Carrier:
    """Reads a request's headers for the OTel propagators (W3C trace context, baggage)."""

    @staticmethod
    def get(scope: Mapping[str, Any], key: str) -> list[str] | None:
        value = header(scope, key.encode("latin-1"))
        return None if value is None else [value]

    @staticmethod
    def keys(scope: Mapping[str, Any]) -> list[str]:
        return [k.decode("latin-1") for k, _ in scope.get("headers", ())]
