"""GET /v1/performance through the in-process app (one process: no multiprocess files).

The app here is this module's own, so its slow queries and failures are only the ones
sent below. Counts come from the process-wide Prometheus metrics, which every app of the
test session shares: they are compared before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chemagent.app import create_app
from tests.service.conftest import offline_settings
from tests.service.support import assert_error

QUERIES = [
    "What is CHEMBL25?",
    "Calculate properties of aspirin",
    "Find compounds similar to ibuprofen",
    "Which has higher LogP: aspirin or ibuprofen?",
    "What is CHEMBL25?",
]


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings())) as test_client:
        yield test_client


def performance(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/performance", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def count_of(body: dict[str, Any], group: str, key: str, name: str) -> int:
    row = by_name(body[group], key).get(name)
    return int(row["count"]) if row else 0


def test_counts_percentiles_and_slowest_queries(app_client: TestClient) -> None:
    before = performance(app_client)
    traces = {}
    for text in QUERIES:
        response = app_client.post("/v1/query", json={"query": text})
        assert response.status_code == 200, response.text
        traces[response.headers["x-trace-id"]] = response.json()["intent"]["kind"]
    after = performance(app_client, slowest=100)

    assert after["queries_total"] - before["queries_total"] == len(QUERIES)
    assert (
        count_of(after, "intents", "intent", "lookup")
        - count_of(before, "intents", "intent", "lookup")
        == 2
    )
    lookup = by_name(after["intents"], "intent")["lookup"]
    latency = lookup["latency_seconds"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
    assert latency["p99"] <= latency["max"]
    assert lookup["statuses"]["ok"] >= 2
    resolves = count_of(after, "steps", "step", "resolve") - count_of(
        before, "steps", "step", "resolve"
    )
    assert resolves >= len(QUERIES)  # one per compound named: compare names two
    resolve = by_name(after["steps"], "step")["resolve"]
    assert sum(resolve["outcomes"].values()) == sum(resolve["cache"].values()) == resolve["count"]

    slowest = after["slowest_queries"]
    assert {q["trace_id"]: q["intent"] for q in slowest} == traces
    seconds = [q["seconds"] for q in slowest]
    assert seconds == sorted(seconds, reverse=True)
    assert all(q["http_status"] == 200 and q["status"] == "ok" for q in slowest)
    assert all("query" not in q and "CHEMBL25" not in str(q) for q in slowest)  # no text
    # Other tests' apps share this process's registry; their intents have no maximum here.
    maxima = [row["latency_seconds"]["max"] for row in after["intents"]]
    assert seconds[0] <= max(m for m in maxima if m is not None)
    assert len(performance(app_client, slowest=2)["slowest_queries"]) == 2
    assert performance(app_client, slowest=0)["slowest_queries"] == []

    assert after["source"] == "process"
    assert after["workers"] == 1
    started = datetime.fromisoformat(after["started_at"])
    assert started <= datetime.now(UTC)
    assert after["uptime_seconds"] > 0


def test_failures_are_listed_with_their_trace_ids(app_client: TestClient) -> None:
    missing = app_client.post("/v1/query", json={"query": "properties of xyzzyqor"})
    assert missing.status_code == 404, missing.text
    offline = app_client.post("/v1/query", json={"query": "What targets does aspirin bind to?"})
    assert offline.status_code == 503, offline.text
    rest = app_client.get("/v1/compounds/CHEMBL999999999")
    assert_error(rest, 404)
    refused = app_client.post("/v1/query", json={"query": "   "})
    assert_error(refused, 422)

    body = performance(app_client, failures=100)
    server = body["recent_failures"]
    client = body["recent_client_errors"]

    def entries(rows: list[dict[str, Any]], response: Any) -> set[tuple[str, str, str, int]]:
        trace_id = response.headers["x-trace-id"]
        return {
            (r["kind"], r["name"], r["error"], r["status"])
            for r in rows
            if r["trace_id"] == trace_id
        }

    assert entries(server, offline) == {
        ("query", "targets", "failed", 503),
        ("step", "targets", "upstream_unavailable", 503),
    }
    assert ("query", "properties", "failed", 404) in entries(client, missing)
    assert entries(client, rest) == {("step", "compound", "compound_not_found", 404)}
    assert entries(client, refused) == {("query", "unknown", "invalid", 422)}
    assert all(r["status"] >= 500 for r in server)
    assert all(400 <= r["status"] < 500 for r in client)
    newest_first = [datetime.fromisoformat(r["at"]) for r in client]
    assert newest_first == sorted(newest_first, reverse=True)
    assert len(performance(app_client, failures=1)["recent_client_errors"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"slowest": 101}, "slowest"),
        ({"slowest": -1}, "slowest"),
        ({"failures": 1000}, "failures"),
        ({"slowest": "ten"}, "slowest"),
    ],
)
def test_out_of_range_parameters_are_422_with_a_sentence(
    app_client: TestClient, params: dict[str, Any], field: str
) -> None:
    body = assert_error(app_client.get("/v1/performance", params=params), 422, "invalid_input")
    assert f"'{field}'" in body["detail"]
    assert body["detail"].endswith(".")


def test_openapi_documents_the_per_pod_design(app_client: TestClient) -> None:
    operation = app_client.get("/openapi.json").json()["paths"]["/v1/performance"]["get"]
    assert "PROMETHEUS_MULTIPROC_DIR" in operation["description"]
    assert {p["name"] for p in operation["parameters"]} == {"slowest", "failures"}
    assert "422" in operation["responses"]
