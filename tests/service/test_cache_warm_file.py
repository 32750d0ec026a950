"""``CHEMAGENT_CACHE_WARM_FILE``: warmed in the background at start-up, cancelled at stop.

Also the file format (:func:`read_warm_file`): one item per line or a JSON list, and a
sentence naming the file for every way it can be wrong.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from chemagent.app import create_app
from chemagent.cli import app as cli_app
from chemagent.errors import InvalidInput
from chemagent.execution.operations import Operations
from chemagent.execution.warm import CacheWarmer, WarmReport, read_warm_file
from chemagent.settings import Settings
from tests.redis_server import RedisServer
from tests.service.conftest import app_state, offline_settings
from tests.service.support import wait_until

QUERY = "Find compounds similar to ibuprofen"
SMILES = "CCCCCCCCCCCCO"
WARM_FILE = f"""\
# warmed at start-up
CHEMBL25

{SMILES}
{QUERY}
"""


class Collect(logging.Handler):
    """Keeps the messages of one logger (the app's lifespan replaces the root handlers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@pytest.fixture
def warm_log() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("chemagent.execution.warm")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def warm_report(client: TestClient) -> dict[str, Any] | None:
    report: dict[str, Any] | None = client.get("/v1/cache/stats").json()["warm"]
    return report


def finished(client: TestClient) -> bool:
    report = warm_report(client)
    return report is not None and not report["running"]


def step_tiers(client: TestClient, query: str) -> dict[str, str]:
    response = client.post("/v1/query", json={"query": query, "verbose": True})
    assert response.status_code == 200, response.text
    return {step["kind"]: step["cache"] for step in response.json()["steps"]}


def computes(client: TestClient) -> int:
    return int(client.get("/v1/cache/stats").json()["counters"]["computes"])


# --- at start-up -----------------------------------------------------------------------


def test_warm_file_fills_l1_and_redis_at_start_up(
    tmp_path: Path, redis_server: RedisServer, warm_log: Collect
) -> None:
    path = tmp_path / "warm.txt"
    path.write_text(WARM_FILE, encoding="utf-8")
    settings = Settings(
        library=None, chembl_url=None, redis_url=redis_server.url, cache_warm_file=path
    )
    with TestClient(create_app(settings)) as warmed:
        assert warmed.get("/readyz").status_code == 200
        assert wait_until(lambda: finished(warmed), 15.0)
        report = warm_report(warmed)
        assert report is not None
        assert (report["source"], report["items"], report["ok"], report["failed"]) == (
            "file",
            3,
            3,
            0,
        )
        assert report["steps_computed"] >= 4
        # This worker: every step of the warmed query and molecule is an L1 hit.
        assert step_tiers(warmed, QUERY) == {"resolve": "l1", "similar": "l1"}
        before = computes(warmed)
        assert warmed.post("/v1/properties", json={"smiles": SMILES}).status_code == 200
        assert warmed.get("/v1/compounds/CHEMBL25").status_code == 200
        assert computes(warmed) == before

    summary = [line for line in warm_log.lines if "cache warm (file)" in line]
    assert len(summary) == 1, warm_log.lines
    assert "3/3 items warmed, 0 failed" in summary[0]
    assert str(path) in summary[0]

    # Another pod on the same Redis, without a warm file: the shared results are L2 hits.
    other = Settings(library=None, chembl_url=None, redis_url=redis_server.url)
    with TestClient(create_app(other)) as cold:
        assert warm_report(cold) is None
        assert step_tiers(cold, QUERY)["similar"] == "l2"
        stats = cold.get("/v1/cache/stats").json()
        assert stats["l2"]["state"] == "ok"
        assert stats["l2"]["hits"] >= 1


def test_the_pod_is_ready_while_warming_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_log: Collect
) -> None:
    seen: dict[str, Any] = {}

    async def never_done(self: Operations, chembl_id: str) -> dict[str, Any]:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            # Stopped by the lifespan: while draining, before the thread pool shuts down.
            state = seen["state"]
            seen["draining"] = state.draining
            try:
                state.executor.submit(int)
                seen["pool_open"] = True
            except RuntimeError:
                seen["pool_open"] = False
            raise
        raise AssertionError("unreachable")

    monkeypatch.setattr(Operations, "compound", never_done)
    path = tmp_path / "ids.txt"
    path.write_text("CHEMBL25\nCHEMBL521\n", encoding="utf-8")
    started = time.monotonic()
    with TestClient(create_app(offline_settings(cache_warm_file=path))) as client:
        assert client.get("/readyz").status_code == 200
        seen["state"] = app_state(client)
        assert wait_until(lambda: warm_report(client) is not None, 15.0)
        running = warm_report(client)
        assert running is not None
        assert running["running"] is True
        warmer: CacheWarmer = client.app_state["chemagent_warmer"]
        report = warmer.last
        assert report is not None
    assert time.monotonic() - started < 10  # the shutdown did not wait for the warm
    assert (report.running, report.cancelled, report.done) == (False, True, 0)
    assert not warmer.running
    assert seen == {"state": seen["state"], "draining": True, "pool_open": True}
    summary = [line for line in warm_log.lines if "cache warm (file)" in line]
    assert len(summary) == 1, warm_log.lines
    assert "cancelled after" in summary[0]
    assert "0/2 items warmed" in summary[0]


def test_a_malformed_warm_file_is_logged_and_the_pod_serves(
    tmp_path: Path, warm_log: Collect
) -> None:
    path = tmp_path / "warm.json"
    path.write_text('["CHEMBL25", 7]', encoding="utf-8")
    with TestClient(create_app(offline_settings(cache_warm_file=path))) as client:
        lines = warm_log.lines
        assert wait_until(lambda: any("CHEMAGENT_CACHE_WARM_FILE" in x for x in lines), 15.0)
        assert warm_report(client) is None
        assert client.get("/v1/compounds/CHEMBL25").status_code == 200
    (line,) = warm_log.lines
    assert line.startswith("ERROR CHEMAGENT_CACHE_WARM_FILE: The warm file")
    assert str(path) in line
    assert "item 2 is 7" in line
    assert line.endswith("Nothing was warmed.")


def test_a_missing_warm_file_fails_settings_with_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValidationError) as raised:
        Settings(cache_warm_file=missing)
    assert f"no file at {missing}" in str(raised.value)

    for name in list(os.environ):
        if name.startswith("CHEMAGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHEMAGENT_CACHE_WARM_FILE", str(missing))
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 2
    assert result.stderr.startswith("invalid configuration: CHEMAGENT_CACHE_WARM_FILE")
    assert f"no file at {missing}" in result.stderr


# --- the file format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "items"),
    [
        ("a.txt", WARM_FILE, ["CHEMBL25", SMILES, QUERY]),
        ("b.txt", "  C#N  \r\n\r\n#C#N\nCCO", ["C#N", "CCO"]),  # '#' only leads a comment
        ("c.txt", "[Na+].[Cl-]\nCCO\n", ["[Na+].[Cl-]", "CCO"]),  # '[' alone is not JSON
        ("d.json", '["CHEMBL25", " CCO ", ""]', ["CHEMBL25", "CCO"]),
        ("e.txt", '  [\n  "CHEMBL25",\n  "LogP of aspirin"\n]', ["CHEMBL25", "LogP of aspirin"]),
    ],
    ids=["lines", "comments", "bracket-smiles", "json-file", "json-text"],
)
def test_read_warm_file_formats(tmp_path: Path, name: str, text: str, items: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert read_warm_file(path) == items


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty.txt", b"# only a comment\n\n", "lists no items"),
        ("bad.json", b'["CHEMBL25",', "is not valid JSON (Expecting value at line 1, column 13)"),
        ("object.json", b'{"items": []}', "holds a JSON dict; it must be a list of strings"),
        ("numbers.json", b'["CCO", null]', "item 2 is null"),
        ("latin1.txt", "caf\u00e9ine\n".encode("latin-1"), "is not UTF-8 text"),
        ("many.txt", b"CCO\n" * 11, "lists 11 items; the limit is 10"),
    ],
    ids=["empty", "bad-json", "object", "null-item", "not-utf8", "too-many"],
)
def test_read_warm_file_errors_name_the_file(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as raised:
        read_warm_file(path, limit=10)
    assert str(path) in raised.value.detail
    assert said in raised.value.detail


def test_read_warm_file_cannot_read_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        read_warm_file(tmp_path)
    assert raised.value.detail.startswith(f"The warm file {tmp_path} cannot be read")


def test_report_summary_line_has_the_numbers() -> None:
    report = WarmReport(4, "file", ok=3, failed=1, steps_computed=7, steps_cached=2, seconds=1.5)
    assert report.summary() == (
        "cache warm (file) done in 1.50 s: 3/4 items warmed, 1 failed; 7 steps computed, "
        "2 already cached"
    )
