"""The cache endpoints: ``GET /v1/cache/stats``, ``DELETE /v1/cache``, ``POST /v1/cache/warm``.

One app with an admin token serves the module (no Redis: L1 only, which is the tier
this worker's own calls can observe); the session's default app has no admin token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chemagent.api.state import AppState
from chemagent.app import create_app
from chemagent.cache.sessions import MemorySessions
from chemagent.execution.operations import Operations
from chemagent.execution.step import Step
from chemagent.steps.registry import get_kind
from tests.service.conftest import app_state, offline_settings
from tests.service.support import assert_error, wait_until

TOKEN = "t0ken-for-tests-only"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SIMILAR = "Find compounds similar to ibuprofen"


@pytest.fixture(scope="module")
def admin() -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings(admin_token=TOKEN))) as test_client:
        yield test_client


def stats(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/cache/stats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tiers(client: TestClient, query: str) -> dict[str, str]:
    """Step kind -> where its result came from, for a verbose query."""
    response = client.post("/v1/query", json={"query": query, "verbose": True})
    assert response.status_code == 200, response.text
    return {step["kind"]: step["cache"] for step in response.json()["steps"]}


def computes_for(client: TestClient, call: Callable[[], Any]) -> int:
    """How many steps ``call`` computed on the worker (every tier missed)."""
    before = stats(client)["counters"]["computes"]
    call()
    return int(stats(client)["counters"]["computes"]) - int(before)


def properties_of(client: TestClient, smiles: str) -> None:
    response = client.post("/v1/properties", json={"smiles": smiles})
    assert response.status_code == 200, response.text


# --- GET /v1/cache/stats ---------------------------------------------------------------


def test_stats_describe_namespace_policy_and_tiers_without_a_token(admin: TestClient) -> None:
    body = stats(admin)
    assert set(body) == {"namespace", "policy", "l1", "l2", "counters", "broadcast", "warm"}
    assert body["broadcast"] is None  # no Redis here: nothing to broadcast on
    namespace = body["namespace"]
    assert namespace["prefix"] == f"chemagent:v{namespace['schema_version']}:{namespace['build']}:"
    assert namespace["library_name"] == "chembl_approved_drugs"
    assert namespace["rdkit_version"]
    policy = body["policy"]
    assert policy["default_ttl_seconds"] == 86400
    assert policy["ttl_seconds"]["targets"] == 3600
    assert policy["negative_ttl_seconds"] == 60
    assert policy["l1_max_ttl_seconds"] == 300
    assert policy["l1_max_entries"] == body["l1"]["maxsize"] == 10_000
    assert policy["uncacheable"] == ["compare", "keep", "rank"]
    assert "similarity" in policy["expensive"]
    assert "compound" in policy["local_only"]
    assert body["l2"]["state"] == "disabled"
    for counter in ("computes", "coalesced", "negative_hits", "in_flight"):
        assert isinstance(body["counters"][counter], int)


def test_stats_numbers_move_with_traffic(admin: TestClient) -> None:
    before = stats(admin)
    properties_of(admin, "CCCCCCCCO")  # a cold molecule: parse and properties computed
    middle = stats(admin)
    properties_of(admin, "CCCCCCCCO")  # now both steps are L1 hits
    after = stats(admin)

    assert middle["l1"]["misses"] - before["l1"]["misses"] == 2
    assert middle["counters"]["computes"] - before["counters"]["computes"] == 2
    assert middle["l1"]["entries"] - before["l1"]["entries"] == 2
    assert after["l1"]["hits"] - middle["l1"]["hits"] == 2
    assert after["counters"]["computes"] == middle["counters"]["computes"]
    assert after["l1"]["latency_count"] > before["l1"]["latency_count"]


def test_openapi_documents_the_cache_endpoints(admin: TestClient) -> None:
    spec = admin.get("/openapi.json").json()
    paths = spec["paths"]
    assert "security" not in paths["/v1/cache/stats"]["get"]
    delete = paths["/v1/cache"]["delete"]
    assert "CHEMAGENT_CACHE_L1_MAX_TTL_SECONDS" in delete["description"]
    assert {"401", "403", "422"} <= set(delete["responses"])
    assert delete["security"] == [{"admin token": []}]
    warm = paths["/v1/cache/warm"]["post"]
    assert {"200", "202", "401", "403", "409", "422"} <= set(warm["responses"])
    items = spec["components"]["schemas"]["WarmRequest"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    assert spec["components"]["schemas"]["CacheStats"]["properties"]["warm"]["description"]


# --- admin authentication ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({}, "no Authorization header"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not a bearer token"),
        ({"Authorization": "Bearer wrong-token"}, "not this server's admin token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "not this server's admin token"),
    ],
    ids=["missing", "basic", "wrong", "longer"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda c, h: c.delete("/v1/cache", params={"all": "true"}, headers=h),
        lambda c, h: c.post("/v1/cache/warm", json={"items": ["CHEMBL25"]}, headers=h),
    ],
    ids=["delete", "warm"],
)
def test_admin_calls_need_the_token(
    admin: TestClient,
    headers: dict[str, str],
    said: str,
    call: Callable[[TestClient, dict[str, str]], Any],
) -> None:
    before = stats(admin)
    body = assert_error(call(admin, headers), 401, "unauthorized")
    response = call(admin, headers)
    assert response.headers["www-authenticate"] == "Bearer"
    assert said in body["detail"]
    assert "Authorization: Bearer <CHEMAGENT_ADMIN_TOKEN>" in body["detail"]
    assert TOKEN not in response.text
    after = stats(admin)
    assert after["l1"]["entries"] == before["l1"]["entries"]  # nothing was cleared
    assert after["warm"] == before["warm"]  # nor warmed


def test_admin_calls_are_forbidden_without_a_configured_token(client: TestClient) -> None:
    for headers in ({}, ADMIN):
        body = assert_error(
            client.delete("/v1/cache", params={"all": "true"}, headers=headers), 403, "forbidden"
        )
        assert "CHEMAGENT_ADMIN_TOKEN" in body["detail"]
        assert "disabled" in body["detail"]
    warm = client.post("/v1/cache/warm", json={"items": ["CHEMBL25"]}, headers=ADMIN)
    assert_error(warm, 403, "forbidden")
    assert "www-authenticate" not in warm.headers
    assert client.get("/v1/cache/stats").status_code == 200  # stats need no token


def test_the_token_is_never_logged(admin: TestClient) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("chemagent")
    logger.addHandler(handler)
    try:
        cleared = admin.delete("/v1/cache", params={"kind": "depict"}, headers=ADMIN)
        assert cleared.status_code == 200
        admin.delete("/v1/cache", params={"all": "true"}, headers={"Authorization": "Bearer bad"})
        admin.post("/v1/cache/warm", json={"items": ["CHEMBL25"]}, headers=ADMIN)
    finally:
        logger.removeHandler(handler)
    assert any("cache invalidated: kind depict" in line for line in seen), seen
    assert not [line for line in seen if TOKEN in line or "Bearer bad" in line]


# --- DELETE /v1/cache ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({}, "sent none"),
        ({"all": "false"}, "sent none"),
        ({"kind": "similarity", "all": "true"}, "sent kind and all=true"),
        ({"key": "chemagent:v1:x", "kind": "similarity"}, "sent key and kind"),
        ({"kind": "similarty"}, "'similarty' is not a step kind; send one of: compare"),
        ({"key": "chemagent:v0:elsewhere:properties:1:abc"}, "not in this deployment's"),
        ({"all": "maybe"}, "'all'"),
    ],
    ids=["none", "all-false", "kind-and-all", "key-and-kind", "unknown-kind", "foreign", "bool"],
)
def test_invalidation_needs_exactly_one_valid_scope(
    admin: TestClient, params: dict[str, str], said: str
) -> None:
    body = assert_error(admin.delete("/v1/cache", params=params, headers=ADMIN), 422)
    assert said in body["detail"]


def test_delete_by_key_makes_that_step_a_miss(admin: TestClient) -> None:
    smiles = "CCCCCCCCCO"
    properties_of(admin, smiles)
    assert computes_for(admin, lambda: properties_of(admin, smiles)) == 0  # cached

    state: AppState = app_state(admin)
    canonical = smiles  # already canonical
    key = state.cache.key_for(Step.of("properties", canonical), get_kind("properties").version)
    response = admin.delete("/v1/cache", params={"key": key}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": 1, "scope": "key", "target": key, "l2": "disabled"}
    again = admin.delete("/v1/cache", params={"key": key}, headers=ADMIN).json()
    assert again["deleted"] == 0

    # The properties step is computed again; the parse step is still an L1 hit.
    assert computes_for(admin, lambda: properties_of(admin, smiles)) == 1


def test_delete_by_kind_misses_only_that_kind(admin: TestClient) -> None:
    tiers(admin, SIMILAR)
    assert tiers(admin, SIMILAR) == {"resolve": "l1", "similar": "l1"}

    response = admin.delete("/v1/cache", params={"kind": "similarity"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scope"], body["target"], body["l2"]) == ("kind", "similarity", "disabled")
    assert body["deleted"] >= 1

    assert tiers(admin, SIMILAR) == {"resolve": "l1", "similar": "miss"}
    assert tiers(admin, SIMILAR) == {"resolve": "l1", "similar": "l1"}


def test_delete_all_makes_every_step_a_miss(admin: TestClient) -> None:
    query = "What is the molecular weight of ibuprofen?"
    tiers(admin, query)
    assert set(tiers(admin, query).values()) == {"l1"}

    response = admin.delete("/v1/cache", params={"all": "true"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scope"], body["target"]) == ("all", None)
    assert body["deleted"] >= 2
    assert stats(admin)["l1"]["entries"] == 0

    assert set(tiers(admin, query).values()) == {"miss"}


# --- POST /v1/cache/warm ------------------------------------------------------------------


def test_warm_makes_later_requests_hits(admin: TestClient) -> None:
    admin.delete("/v1/cache", params={"all": "true"}, headers=ADMIN)
    items = ["CHEMBL521", "CCCCCCCCCCO", SIMILAR, "CHEMBL521", "  "]
    response = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["items"], report["ok"], report["failed"]) == (3, 3, 0)
    assert report["duplicates"] == 2  # the repeat and the blank
    assert report["steps_computed"] >= 4  # compound, parse, properties, resolve, similarity
    assert (report["running"], report["cancelled"], report["source"]) == (False, False, "api")
    assert report["errors"] == []
    assert stats(admin)["warm"] == report

    assert tiers(admin, SIMILAR) == {"resolve": "l1", "similar": "l1"}
    assert computes_for(admin, lambda: properties_of(admin, "CCCCCCCCCCO")) == 0
    compound = admin.get("/v1/compounds/CHEMBL521")
    assert compound.status_code == 200

    again = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN).json()
    assert again["steps_computed"] == 0
    assert again["steps_cached"] >= report["steps_computed"]


def test_warmed_queries_leave_no_sessions_behind(admin: TestClient) -> None:
    sessions = app_state(admin).sessions
    assert isinstance(sessions, MemorySessions)  # no Redis here
    before = len(sessions)
    items = ["What is the LogP of aspirin?", "compounds similar to ibuprofen above 0.6"]
    response = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN)
    assert response.json()["ok"] == 2
    assert len(sessions) == before
    asked = admin.post("/v1/query", json={"query": items[0]})
    assert asked.status_code == 200
    assert len(sessions) == before + 1  # a real query does


def test_warm_reports_bad_items_without_failing(admin: TestClient) -> None:
    items = ["CHEMBL25", "C1CC", "CHEMBL999999999", "What is the LogP of asprin?", "hello there"]
    response = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["items"], report["ok"], report["failed"]) == (5, 1, 4)
    errors = {error["item"]: error for error in report["errors"]}
    assert errors["C1CC"]["error"] == "invalid_molecule"
    assert "ring-closure" in errors["C1CC"]["detail"]
    assert errors["CHEMBL999999999"]["error"] == "compound_not_found"
    assert errors["What is the LogP of asprin?"]["error"] == "compound_not_found"
    assert errors["hello there"]["error"] == "query_rejected"
    assert errors["hello there"]["detail"]


def test_warm_keeps_the_first_ten_errors(admin: TestClient) -> None:
    items = [f"CHEMBL{900_000_000 + n}" for n in range(12)]
    report = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN).json()
    assert (report["failed"], len(report["errors"])) == (12, 10)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"items": []}, "'items': List should have at least 1 item"),
        ({"items": ["CCO"] * 1001}, "'items': List should have at most 1000 items"),
        ({"items": [""]}, "'items.0'"),
        ({"items": ["CCO", "C" * 2001]}, "Item 2 is 2,001 characters long; the limit is 2,000"),
        ({"items": ["CCO"], "wiat": False}, "'wiat'"),
        ({}, "'items' is required"),
    ],
    ids=["empty", "too-many", "blank", "too-long", "unknown-field", "missing"],
)
def test_warm_validates_its_body(admin: TestClient, body: dict[str, Any], said: str) -> None:
    detail = assert_error(admin.post("/v1/cache/warm", json=body, headers=ADMIN), 422)["detail"]
    assert said in detail


class Gate:
    """Holds every compound lookup until opened: a warm that stays running."""

    def __init__(self, compound: Callable[..., Any]) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self._compound = compound

    async def __call__(self, chembl_id: str) -> Any:
        self.entered.set()
        await asyncio.to_thread(self.opened.wait, 10)
        return await self._compound(chembl_id)


def test_one_warm_at_a_time_then_the_report_in_stats(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations: Operations = app_state(admin).operations
    gate = Gate(operations.compound)
    monkeypatch.setattr(operations, "compound", gate)

    started = admin.post(
        "/v1/cache/warm", json={"items": ["CHEMBL112", "CHEMBL1000"], "wait": False}, headers=ADMIN
    )
    assert started.status_code == 202, started.text
    assert started.json()["items"] == 2
    assert started.json()["progress"] == "/v1/cache/stats"
    assert gate.entered.wait(10)
    running = stats(admin)["warm"]
    assert running["running"] is True
    assert running["ok"] + running["failed"] == 0

    for wait in (True, False):
        busy = admin.post(
            "/v1/cache/warm", json={"items": ["CHEMBL25"], "wait": wait}, headers=ADMIN
        )
        body = assert_error(busy, 409, "warm_in_progress")
        assert "already running" in body["detail"]
        assert "0 of 2 items done" in body["detail"]

    gate.opened.set()
    assert wait_until(lambda: not stats(admin)["warm"]["running"], 10.0)
    done = stats(admin)["warm"]
    assert (done["ok"], done["failed"], done["source"]) == (2, 0, "api")
    after = admin.post("/v1/cache/warm", json={"items": ["CHEMBL112"]}, headers=ADMIN)
    assert after.status_code == 200, after.text
    assert after.json()["steps_computed"] == 0


def test_a_warm_past_the_request_deadline_answers_504_and_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = offline_settings(admin_token=TOKEN, request_timeout_seconds=0.5)
    with TestClient(create_app(settings)) as short:
        operations: Operations = app_state(short).operations
        gate = Gate(operations.compound)
        monkeypatch.setattr(operations, "compound", gate)

        late = short.post("/v1/cache/warm", json={"items": ["CHEMBL25"]}, headers=ADMIN)
        assert_error(late, 504, "request_timeout")
        assert stats(short)["warm"]["running"] is True

        gate.opened.set()
        assert wait_until(lambda: not stats(short)["warm"]["running"], 10.0)
        report = stats(short)["warm"]
        assert (report["ok"], report["cancelled"]) == (1, False)


def test_a_single_word_that_is_not_smiles_is_warmed_as_a_query(admin: TestClient) -> None:
    report = admin.post("/v1/cache/warm", json={"items": ["naproxen"]}, headers=ADMIN).json()
    assert (report["ok"], report["failed"]) == (1, 0)
    assert set(tiers(admin, "naproxen").values()) == {"l1"}


def test_an_unexpected_error_is_reported_and_the_warm_goes_on(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations: Operations = app_state(admin).operations

    async def broken(chembl_id: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(operations, "compound", broken)
    items = ["CHEMBL25", "CCCCCCCCCCCCCCCCCO"]
    report = admin.post("/v1/cache/warm", json={"items": items}, headers=ADMIN).json()
    assert (report["ok"], report["failed"]) == (1, 1)
    assert report["errors"] == [
        {"item": "CHEMBL25", "error": "internal", "detail": "RuntimeError: a bug"}
    ]
