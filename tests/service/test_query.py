"""POST /v1/query and GET /v1/query/stream through the in-process app."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import app_state
from tests.service.support import assert_error


def ask(client: TestClient, query: str, **options: Any) -> Any:
    return client.post("/v1/query", json={"query": query, **options})


def ok(client: TestClient, query: str, **options: Any) -> dict[str, Any]:
    response = ask(client, query, **options)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["trace_id"] == response.headers["x-trace-id"]
    return body


def events_of(text: str) -> list[dict[str, Any]]:
    """Parse an SSE body: every ``event:``/``data:`` block, checking the names agree."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = orjson.loads("".join(line[6:] for line in lines if line.startswith("data: ")))
        assert data["type"] == name
        events.append(data)
    return events


def test_lookup_answers_with_name_id_and_plan(client: TestClient) -> None:
    body = ok(client, "What is CHEMBL25?")
    assert body["status"] == "ok"
    assert body["intent"]["kind"] == "lookup"
    assert body["intent"]["source"] == "rules"
    assert "CHEMBL25" in body["answer"]
    assert body["result"]["compounds"][0]["chembl_id"] == "CHEMBL25"
    assert [e["value"] for e in body["entities"]] == ["CHEMBL25"]
    nodes = {n["id"]: n for n in body["plan"]["nodes"]}
    assert body["plan"]["output"] in nodes
    assert {s["node"] for s in body["steps"]} == set(nodes)
    assert all(s["status"] == "ok" for s in body["steps"])
    assert "metrics" not in body


def test_compare_runs_resolves_in_one_layer_and_reports_metrics(client: TestClient) -> None:
    body = ok(client, "Which has higher LogP: aspirin or ibuprofen?", verbose=True)
    assert body["intent"]["kind"] == "compare"
    assert body["result"]["best"]["chembl_id"] == "CHEMBL521"  # ibuprofen, ALogP 3.07 vs 1.31
    assert "ibuprofen" in body["answer"].lower()
    first_layer = body["plan"]["layers"][0]
    assert len(first_layer) == 2  # both resolves at once
    metrics = body["metrics"]
    assert metrics["parallel"] is True
    assert metrics["steps_run"] == len(body["plan"]["nodes"])
    assert metrics["steps_failed"] == 0
    assert metrics["serial_seconds"] > 0
    assert metrics["layers"] == len(body["plan"]["layers"])


def test_parallel_false_and_max_workers_reach_the_executor(client: TestClient) -> None:
    body = ok(client, "Compare caffeine and aspirin", parallel=False, verbose=True)
    assert body["metrics"]["parallel"] is False
    assert body["metrics"]["max_workers"] == 1
    body = ok(client, "Compare caffeine and aspirin", max_workers=2, verbose=True)
    assert body["metrics"]["max_workers"] == 2


def test_a_session_carries_follow_ups(client: TestClient) -> None:
    first = ok(client, "Tell me about warfarin")
    session = first["session_id"]
    assert session
    follow = ok(client, "what's its logP?", session_id=session)
    assert follow["session_id"] == session
    assert follow["intent"]["kind"] == "properties"
    assert [c["value"].lower() for c in follow["intent"]["compounds"]] == ["warfarin"]
    assert follow["intent"]["properties"] == ["alogp"]
    # Without the session the same words have nothing to refer to.
    alone = ask(client, "what's its logP?")
    assert alone.status_code == 422, alone.text


def test_compare_follow_up_keeps_both_compounds(client: TestClient) -> None:
    first = ok(client, "Compare aspirin and ibuprofen")
    follow = ok(client, "which of them has more rotatable bonds?", session_id=first["session_id"])
    assert follow["intent"]["kind"] == "compare"
    assert follow["intent"]["properties"] == ["rtb"]
    assert len(follow["intent"]["compounds"]) == 2


def test_sessions_are_separate(client: TestClient) -> None:
    a = ok(client, "Tell me about warfarin")["session_id"]
    b = ok(client, "Tell me about caffeine")["session_id"]
    assert a != b
    follow = ok(client, "what's its TPSA?", session_id=a)
    assert [c["value"].lower() for c in follow["intent"]["compounds"]] == ["warfarin"]


def test_a_threshold_above_one_is_422_with_the_reason(client: TestClient) -> None:
    response = ask(client, "compounds similar to aspirin with similarity above 1.5")
    body = assert_error(response, 422, "invalid_query")
    assert "1.5" in body["detail"]
    assert "1.5" in body["answer"]
    assert body["intent"]["errors"]
    assert body["plan"] is None


def test_an_unknown_name_is_404_with_did_you_mean(client: TestClient) -> None:
    response = ask(client, "What is the LogP of asprin?")
    body = assert_error(response, 404, "compound_not_found")
    assert "aspirin" in body["detail"].lower()
    assert any("aspirin" in s.lower() for s in body["suggestions"])
    assert body["status"] == "failed"
    assert "asprin" in body["answer"]


def test_a_broken_smiles_is_422(client: TestClient) -> None:
    response = ask(client, "Look up C1CC(")
    body = assert_error(response, 422)
    assert body["status"] == "failed"


@pytest.mark.parametrize("query", ["What is the weather today?", "xq zvbn plorf"])
def test_out_of_scope_and_gibberish_are_declined_politely(client: TestClient, query: str) -> None:
    body = ok(client, query)
    assert body["status"] == "rejected"
    assert body["plan"] is None
    assert body["result"] is None
    assert "aspirin" in body["answer"].lower() or "chembl" in body["answer"].lower()
    assert body["intent"]["compounds"] == []


def test_partial_answers_say_what_failed(client: TestClient) -> None:
    body = ok(client, "Compare aspirin and notacompoundxyz and ibuprofen")
    assert body["status"] in ("partial", "ok")
    failed = [s for s in body["steps"] if s["status"] != "ok"]
    assert failed
    assert body["problems"]
    assert any("notacompoundxyz" in p for p in body["problems"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 2001}, "2000"),
        ({"query": "aspirin", "max_workers": 0}, "max_workers"),
        ({"query": "aspirin", "max_workers": 10_000}, "max_workers"),
        ({"query": "aspirin", "session_id": "has spaces"}, "session_id"),
        ({"query": "aspirin", "sesion_id": "typo"}, "sesion_id"),
        ({"query": 42}, "query"),
    ],
)
def test_bad_requests_are_422_saying_what_to_fix(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    detail = assert_error(client.post("/v1/query", json=body), 422)["detail"]
    assert field in detail


def test_max_workers_above_the_server_ceiling_is_422(client: TestClient) -> None:
    ceiling = app_state(client).settings.max_workers
    detail = assert_error(ask(client, "aspirin", max_workers=ceiling + 1), 422)["detail"]
    assert str(ceiling) in detail


def test_openapi_documents_the_query_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/query"]["post"]
    assert post["summary"]
    assert {"200", "404", "422"} <= set(post["responses"])
    assert "/v1/query/stream" in spec["paths"]


# --- Server-Sent Events -------------------------------------------------------------


def test_stream_events_arrive_in_order_with_rising_progress(client: TestClient) -> None:
    response = client.get(
        "/v1/query/stream",
        params={"q": "Which has the lowest TPSA: caffeine, aspirin or paracetamol?"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["parsing", "planning"]
    assert kinds[-1] == "result"
    nodes = events[1]["plan"]["nodes"]
    assert kinds.count("step_start") == len(nodes)
    assert kinds.count("step_complete") == len(nodes)
    started: set[str] = set()
    for event in events:  # every step starts before it completes
        if event["type"] == "step_start":
            started.add(event["node"])
        elif event["type"] == "step_complete":
            assert event["node"] in started
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)
    assert progress[0] == 0.0
    assert progress[-1] == 1.0
    assert all(isinstance(e["ts"], float) and e["ts"] > 1.7e9 for e in events)
    final = events[-1]["response"]
    assert final["status"] == "ok"
    assert final["trace_id"] == response.headers["x-trace-id"]
    assert final["result"]["best"]["chembl_id"]


def test_stream_ends_with_an_error_event_for_an_unknown_compound(client: TestClient) -> None:
    response = client.get("/v1/query/stream", params={"q": "LogP of asprin"})
    assert response.status_code == 200
    events = events_of(response.text)
    last = events[-1]
    assert last["type"] == "error"
    assert last["status"] == 404
    assert last["error"] == "compound_not_found"
    assert "aspirin" in last["detail"].lower()
    assert [e["type"] for e in events].count("result") == 0


def test_stream_rejected_query_is_a_result(client: TestClient) -> None:
    events = events_of(client.get("/v1/query/stream", params={"q": "weather in Paris?"}).text)
    assert [e["type"] for e in events] == ["parsing", "planning", "result"]
    assert events[-1]["response"]["status"] == "rejected"


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "  "}, {}, {"q": "aspirin", "max_workers": "0"}, {"q": "x" * 3000}]
)
def test_stream_bad_parameters_are_422_before_streaming(
    client: TestClient, params: dict[str, str]
) -> None:
    assert_error(client.get("/v1/query/stream", params=params), 422)


def test_stream_session_follow_up(client: TestClient) -> None:
    first = ok(client, "Tell me about caffeine")
    events = events_of(
        client.get(
            "/v1/query/stream", params={"q": "and its TPSA?", "session_id": first["session_id"]}
        ).text
    )
    response = events[-1]["response"]
    assert [c["value"].lower() for c in response["intent"]["compounds"]] == ["caffeine"]
