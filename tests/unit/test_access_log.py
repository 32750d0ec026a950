"""The access line: written directly in the default JSON setup, the same object as the
``JsonFormatter`` writes through ``logging``; through ``logging`` in any other setup."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chemagent.observability import access_log
from chemagent.observability.access_log import write_access_line
from chemagent.observability.context import RequestTelemetry, request_var
from chemagent.observability.logging import configure_logging

SCOPE = {"type": "http", "path": "/v1/compounds/CHEMBL25", "query_string": b"secret=1"}
ROUTE = "/v1/compounds/{chembl_id}"


@pytest.fixture
def json_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "json")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture(autouse=True)
def no_current_request() -> Iterator[None]:
    """Each test's request stops being current when it ends."""
    token = request_var.set(None)
    yield
    request_var.reset(token)


def telemetry(shed: str | None = None) -> RequestTelemetry:
    """The request's telemetry, current as the middleware makes it while it logs."""
    request = RequestTelemetry("0123456789abcdef")
    request.tiers["l1"] = 1
    request.shed = shed
    request_var.set(request)
    return request


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Passing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


def test_the_direct_line_is_the_formatters_line(
    json_logging: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_access_line(SCOPE, "GET", ROUTE, 200, 0.0012345, telemetry())
    direct = lines(capsys.readouterr().err)
    # A filter on the logger (one that lets everything through) forces the logging path.
    monkeypatch.setattr(access_log.access_log, "filters", [Passing()])
    write_access_line(SCOPE, "GET", ROUTE, 200, 0.0012345, telemetry())
    formatted = lines(capsys.readouterr().err)
    assert len(direct) == len(formatted) == 1
    assert direct[0].pop("ts")[:16] == formatted[0].pop("ts")[:16]  # same minute
    assert direct[0] == formatted[0]
    assert direct[0] == {
        "level": "info",
        "logger": "chemagent.access",
        "message": "GET /v1/compounds/CHEMBL25 200 1.2ms",
        "pid": direct[0]["pid"],
        "request_id": "0123456789abcdef",
        "method": "GET",
        "route": ROUTE,
        "path": "/v1/compounds/CHEMBL25",
        "status": 200,
        "duration_ms": 1.234,
        "cache": "l1",
        "steps": 1,
    }


def test_a_5xx_is_an_error_line_with_its_shed_reason(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_access_line(SCOPE, "POST", "/v1/query", 504, 2.5, telemetry(shed="deadline"))
    (line,) = lines(capsys.readouterr().err)
    assert (line["level"], line["status"], line["shed"]) == ("error", 504, "deadline")


def test_a_readiness_probe_503_is_an_info_line(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not ready (library loading, SIGTERM drain) is /readyz's answer, not a server error."""
    write_access_line(SCOPE, "GET", "/readyz", 503, 0.001, telemetry())
    write_access_line(SCOPE, "GET", "/healthz", 503, 0.001, telemetry())
    ready, health = lines(capsys.readouterr().err)
    assert (ready["level"], ready["status"]) == ("info", 503)
    assert (health["level"], health["status"]) == ("error", 503)


def test_another_handler_gets_the_line_through_logging(
    json_logging: None, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="chemagent.access"):
        write_access_line(SCOPE, "GET", ROUTE, 404, 0.001, telemetry())
    (record,) = [r for r in caplog.records if r.name == "chemagent.access"]
    assert record.getMessage() == "GET /v1/compounds/CHEMBL25 404 1.0ms"
    assert (record.__dict__["route"], record.__dict__["status"]) == (ROUTE, 404)
    assert len(lines(capsys.readouterr().err)) == 1  # our handler still wrote it, once


def test_nothing_is_written_below_the_level(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    write_access_line(SCOPE, "GET", ROUTE, 200, 0.001, telemetry())
    assert capsys.readouterr().err == ""
    write_access_line(SCOPE, "GET", ROUTE, 500, 0.001, telemetry())
    assert lines(capsys.readouterr().err)[0]["level"] == "error"


def test_console_format_goes_through_logging(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "console")
    try:
        write_access_line(SCOPE, "GET", ROUTE, 200, 0.001, telemetry())
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "chemagent.access: GET /v1/compounds/CHEMBL25 200 1.0ms" in err
    assert not err.lstrip().startswith("{")
