"""``GET /v1/performance`` describes the whole pod under gunicorn, whichever worker answers.

Two workers; every request on a new connection, so both serve queries and both answer
the summary. Counts come from the Prometheus files (exact at once); slow queries and
failures from each worker's snapshot (written within ~1 s).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ServeFn

pytestmark = pytest.mark.integration

CLOSE = {"connection": "close"}  # a new connection per request: either worker may take it
QUERIES = [
    "What is CHEMBL25?",
    "Calculate properties of aspirin",
    "Find compounds similar to ibuprofen",
]


def summary(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/v1/performance", params={"slowest": 100, "failures": 100}, headers=CLOSE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_worker_reports_the_pod(serve: ServeFn, tmp_path: Path) -> None:
    env = {"CHEMAGENT_MAX_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    server = serve(args=["--workers", "2"], env=env)
    with server.client(timeout=10) as http:
        # /readyz answered once one worker was up; wait for both to answer.
        deadline = time.monotonic() + 30
        seen: set[int] = set()
        while len(seen) < 2:
            assert time.monotonic() < deadline, f"only workers {seen} answered"
            seen.add(summary(http)["worker_pid"])

        traces: dict[str, str] = {}
        for i in range(30):
            response = http.post("/v1/query", json={"query": QUERIES[i % 3]}, headers=CLOSE)
            assert response.status_code == 200, response.text
            traces[response.headers["x-trace-id"]] = response.json()["intent"]["kind"]
        failed = set()
        for _ in range(2):
            response = http.post(
                "/v1/query", json={"query": "What targets does aspirin bind to?"}, headers=CLOSE
            )
            assert response.status_code == 503, response.text  # offline: no ChEMBL upstream
            failed.add(response.headers["x-trace-id"])

        answered: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 10
        while len(answered) < 2 or not all(_complete(b, traces, failed) for b in answered.values()):
            assert time.monotonic() < deadline, "the workers' summaries never agreed"
            body = summary(http)
            assert body["queries_total"] == 32, body["intents"]  # exact at once, any worker
            assert body["workers"] == 2
            answered[body["worker_pid"]] = body
            time.sleep(0.05)

    for body in answered.values():
        assert body["source"] == "multiprocess"
        counts = {row["intent"]: row["count"] for row in body["intents"]}
        assert counts == {"lookup": 10, "properties": 10, "similarity": 10, "targets": 2}
        assert {row["step"] for row in body["steps"]} >= {"resolve", "similarity", "targets"}
        for row in body["intents"]:
            latency = row["latency_seconds"]
            assert latency["p50"] <= latency["p99"] <= latency["max"]
    first, second = answered.values()
    assert first["started_at"] == second["started_at"]  # the pod's start: gunicorn's

    # Both workers served queries: each one's own file holds only its share.
    shares = {}
    for pid in answered:
        snapshot = json.loads((tmp_path / f"performance_{pid}.json").read_text())
        shares[pid] = {q["trace_id"] for q in snapshot["slowest"] if q["status"] == "ok"}
    assert all(shares.values()), shares
    assert set.union(*shares.values()) == set(traces)
    assert not set.intersection(*shares.values())


def _complete(body: dict[str, Any], traces: dict[str, str], failed: set[str]) -> bool:
    """Whether every query's trace id shows, from both workers' snapshots."""
    slow = {q["trace_id"]: q["intent"] for q in body["slowest_queries"] if q["status"] == "ok"}
    failures = {f["trace_id"] for f in body["recent_failures"] if f["kind"] == "query"}
    return slow == traces and failures == failed
