"""The access line: one per request, logger ``chemagent.access``.

It is the one log line written per request, so its cost is on every request: through
``logging`` a line costs a ``LogRecord``, two filter passes, the formatter's generic
field copying and a flush, ~22 us in-process against ~6 us for the same bytes written
directly (``benchmarks/bench_http.py``). So, when logging is set up as
:func:`~chemagent.observability.logging.configure_logging` leaves it (the root logger's
one handler is ours, formatting JSON, and nobody added handlers or filters on the way),
the line is built here (its common fields by the formatter's own
:func:`~chemagent.observability.logging.line_fields`) and written under the handler's
lock: the same JSON object :class:`~chemagent.observability.logging.JsonFormatter` would
write, field for field (``tests/unit/test_access_log.py`` compares them). Any other
setup (console format, a test's capture handler, a filter, an operator's ``logging``
config) goes through ``logging`` as usual.

Never logged: query strings, bodies, headers.
"""

from __future__ import annotations

import logging
import os
import time

import orjson

from chemagent.observability.context import RequestTelemetry, Scope
from chemagent.observability.logging import JsonFormatter, StderrHandler, line_fields

LOGGER_NAME = "chemagent.access"
# Routes whose 5xx is an answer, not a failure: /readyz says 503 while the library loads
# and while a SIGTERM drains the worker, and the kubelet asks every few seconds.
PROBE_ROUTES = frozenset({"/readyz"})
access_log = logging.getLogger(LOGGER_NAME)
_root = logging.getLogger()


def write_access_line(
    scope: Scope,
    method: str,
    route: str,
    status: int,
    seconds: float,
    telemetry: RequestTelemetry,
) -> None:
    """Write the access line of a finished request (nothing when INFO is off)."""
    level = logging.ERROR if status >= 500 and route not in PROBE_ROUTES else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    path = scope.get("path", "")
    duration_ms = round(seconds * 1000, 3)
    message = f"{method} {path} {status} {duration_ms:.1f}ms"
    fields: dict[str, object] = {
        "method": method,
        "route": route,
        "path": path[:256],
        "status": status,
        "duration_ms": duration_ms,
        "cache": telemetry.cache,
        "steps": sum(telemetry.tiers.values()),
    }
    if telemetry.shed:
        fields["shed"] = telemetry.shed
    handler = _direct_handler(level)
    if handler is None:
        access_log.log(level, "%s", message, extra=fields)
        return
    data = line_fields(time.time(), logging.getLevelName(level), LOGGER_NAME, message, os.getpid())
    data.update(fields)
    line = orjson.dumps(data, default=str, option=orjson.OPT_APPEND_NEWLINE).decode()
    try:
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(line)
    except (OSError, ValueError):  # a closed or broken stream: logging reports it its way
        access_log.log(level, "%s", message, extra=fields)


def _direct_handler(level: int) -> StderrHandler | None:
    """Our JSON stderr handler when it is the only place the line would go, else None."""
    if access_log.filters:
        return None
    logger: logging.Logger | None = access_log
    while logger is not None and logger is not _root:  # chemagent.access, chemagent
        if logger.handlers or not logger.propagate or logger.disabled:
            return None
        logger = logger.parent
    handlers = _root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is not StderrHandler
        or type(handler.formatter) is not JsonFormatter
        or handler.filters
        or handler.level > level
    ):
        return None
    return handler
