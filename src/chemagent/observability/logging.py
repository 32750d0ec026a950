"""Logging setup: JSON lines for machines, plain lines for people. Called once at start.

Every line written during a request carries its ``request_id``, ``trace_id`` and
``span_id`` (the current span: a step's line names the step's span).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from chemagent.observability.context import current_request_id
from chemagent.observability.tracing import current_ids

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def timestamp(created: float) -> str:
    """``2026-11-21T15:00:00.123Z`` (UTC, milliseconds) for a ``time.time()`` value.

    The date and time part is formatted once a second: ``strftime`` is most of a
    timestamp's cost, and every access line needs one.
    """
    second = int(created)
    if second != _second[0]:
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = second
    return f"{_second[1]}.{int((created - second) * 1000):03d}Z"


def line_fields(
    created: float, level: str, logger: str, message: str, pid: int | None
) -> dict[str, Any]:
    """The fields every JSON line starts with: time, level, logger, message, pid, and the
    current request's id and span (what :class:`JsonFormatter` and the direct access line,
    :mod:`chemagent.observability.access_log`, both write)."""
    data: dict[str, Any] = {
        "ts": timestamp(created),
        "level": level.lower(),
        "logger": logger,
        "message": message,
        "pid": pid,  # which gunicorn worker
    }
    request_id = current_request_id()
    if request_id:
        data["request_id"] = request_id
    ids = current_ids()
    if ids is not None:
        data["trace_id"], data["span_id"] = ids
    return data


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        data = line_fields(
            record.created, record.levelname, record.name, record.getMessage(), record.process
        )
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message [trace 1a2b3c4d]``: short, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = current_ids()
        return f"{line} [trace {ids[0][:8]}]" if ids else line


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it between tests)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str, fmt: str) -> None:
    """Send the root logger to stderr in ``fmt`` (``json`` or ``console``) at ``level``.

    Idempotent: called by every worker's lifespan, it replaces the handlers it owns.
    """
    handler = StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ConsoleFormatter())
    # Record attributes no formatter of ours prints (the logging HOWTO's "Optimization"):
    # saves ~3 us a line, which the access log writes per request. The pid is kept.
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The servers' loggers write through ours (gunicorn's worker gives uvicorn.error its
    # own handlers); their access lines are off: the app writes one (chemagent.access).
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers[:] = []
        server_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
