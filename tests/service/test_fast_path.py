"""The compound lookup's fast path answers exactly as the FastAPI route would.

A query string makes a request fall through to FastAPI (which ignores unknown query
parameters), so ``/v1/compounds/X`` and ``/v1/compounds/X?via=fastapi`` are the same
request served by the two paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from chemagent.api import fast_path
from chemagent.api.fast_path import CompoundBodies, CompoundFastPath
from chemagent.api.routes import compounds
from chemagent.app import create_app
from tests.service.conftest import app_state, offline_settings
from tests.service.test_cache_metrics import delta, scrape

ROUTE = "/v1/compounds/{chembl_id}"


@pytest.fixture(scope="module")
def lookup_client() -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings(access_log=False))) as client:
        yield client


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The IDs the fast path looked up (a spy on its body cache)."""
    calls: list[str] = []
    original = CompoundBodies.body

    def spy(self: CompoundBodies, chembl_id: str, record: Any) -> bytes:
        calls.append(chembl_id)
        return original(self, chembl_id, record)

    monkeypatch.setattr(CompoundBodies, "body", spy)
    return calls


def comparable(response: Response) -> tuple[int, str, str, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("trace_id", None)  # each request has its own
    return (
        response.status_code,
        response.headers["content-type"],
        response.headers["content-length"],
        body,
    )


@pytest.mark.parametrize(
    "chembl_id",
    ["CHEMBL25", "chembl25", "CHEMBL112", "CHEMBL0", "not an id", "x" * 64, "CHEMBL%2025"],
)
def test_the_fast_path_answers_like_the_route(
    lookup_client: TestClient, served: list[str], chembl_id: str
) -> None:
    fast = lookup_client.get(f"/v1/compounds/{chembl_id}")
    assert len(served) == 1 or fast.status_code != 200  # errors never reach the body cache
    routed = lookup_client.get(f"/v1/compounds/{chembl_id}?via=fastapi")
    assert comparable(fast) == comparable(routed)
    assert fast.headers.keys() == routed.headers.keys()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/compounds/CHEMBL25?x=1"),  # a query string
        ("GET", "/v1/compounds/CHEMBL25/"),  # a trailing slash
        ("GET", "/v1/compounds/" + "x" * 65),  # longer than the route allows: its 422
        ("HEAD", "/v1/compounds/CHEMBL25"),
        ("GET", "/v1/compounds/CHEMBL25/properties"),
        ("GET", "/v1/compounds"),
    ],
)
def test_other_requests_fall_through_to_fastapi(
    lookup_client: TestClient, served: list[str], method: str, path: str
) -> None:
    response = lookup_client.request(method, path, follow_redirects=False)
    assert response.status_code < 500
    assert served == []


def test_a_long_id_gets_the_routes_422(lookup_client: TestClient) -> None:
    response = lookup_client.get("/v1/compounds/" + "x" * 65)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


def test_fast_path_requests_carry_the_route_template_in_metrics(
    lookup_client: TestClient, served: list[str]
) -> None:
    before = scrape(lookup_client)
    assert lookup_client.get("/v1/compounds/CHEMBL25").status_code == 200
    assert lookup_client.get("/v1/compounds/CHEMBL0").status_code == 404
    after = scrape(lookup_client)
    assert served == ["CHEMBL25"]
    count = "http_requests_total"
    assert delta(before, after, count, method="GET", route=ROUTE, status="200") == 1
    assert delta(before, after, count, method="GET", route=ROUTE, status="404") == 1
    steps = "chemagent_step_duration_seconds_count"
    assert delta(before, after, steps, step="compound", outcome="ok", cache="l1") == 1


def test_a_hot_compound_is_serialized_once(
    lookup_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps: list[str] = []
    original = fast_path.Compound.model_validate

    def counting(record: Any) -> Any:
        dumps.append(record["chembl_id"])
        return original(record)

    monkeypatch.setattr(fast_path.Compound, "model_validate", counting)
    for _ in range(3):
        assert lookup_client.get("/v1/compounds/CHEMBL521").status_code == 200  # ibuprofen
    assert dumps == ["CHEMBL521"]


def test_a_new_record_object_is_serialized_again(lookup_client: TestClient) -> None:
    bodies = CompoundBodies(size=2)
    record = lookup_client.get("/v1/compounds/CHEMBL25?via=fastapi").json()
    first = bodies.body("CHEMBL1", record)
    assert bodies.body("CHEMBL1", record) is first
    changed = {**record, "pref_name": "METHANE"}
    assert b"METHANE" in bodies.body("CHEMBL1", changed)
    for other in ("CHEMBL2", "CHEMBL3"):  # evicts CHEMBL1 (size 2)
        bodies.body(other, {**record, "chembl_id": other})
    assert bodies.body("CHEMBL1", changed) is not first


def test_a_bug_in_the_lookup_is_a_json_500(
    lookup_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_: str) -> None:
        raise AttributeError("a bug")

    monkeypatch.setattr(app_state(lookup_client).operations, "compound", broken)
    response = lookup_client.get("/v1/compounds/CHEMBL25")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal"
    assert body["trace_id"] == response.headers["x-trace-id"]
    assert "AttributeError" not in body["detail"]


@pytest.mark.anyio
async def test_without_the_lifespan_state_it_falls_through() -> None:
    seen: list[str] = []

    async def framework(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    app = CompoundFastPath(framework, fast_path.compound_route(compounds.router.routes))
    await app({"type": "http", "method": "GET", "path": "/v1/compounds/CHEMBL25"}, None, None)
    assert seen == ["/v1/compounds/CHEMBL25"]


def test_the_fast_path_needs_the_lookup_route() -> None:
    with pytest.raises(LookupError):
        fast_path.compound_route([])
