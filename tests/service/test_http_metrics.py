"""/metrics after real requests through the app: HTTP RED, queries, shed, build info."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from chemagent import __version__
from chemagent.app import create_app
from chemagent.chem import RDKIT_VERSION
from tests.service.conftest import offline_settings
from tests.service.test_cache_metrics import delta, scrape

COUNT = "http_requests_total"
DURATION = "http_request_duration_seconds_count"
SHED = "chemagent_requests_shed_total"


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    settings = offline_settings(access_log=False, git_commit="abc1234")
    with TestClient(create_app(settings)) as client:
        yield client


def test_requests_are_counted_by_route_template_method_and_status(
    app_client: TestClient,
) -> None:
    before = scrape(app_client)
    assert app_client.get("/v1/compounds/CHEMBL25").status_code == 200
    assert app_client.get("/v1/compounds/CHEMBL112").status_code == 200
    assert app_client.get("/v1/compounds/CHEMBL0").status_code == 404
    assert app_client.post("/v1/properties", json={"smiles": "C1CC(("}).status_code == 422
    assert app_client.get("/no/such/path/CC(=O)O").status_code == 404
    assert app_client.delete("/v1/compounds/CHEMBL25").status_code == 405
    after = scrape(app_client)
    route = "/v1/compounds/{chembl_id}"
    assert delta(before, after, COUNT, method="GET", route=route, status="200") == 2
    assert delta(before, after, COUNT, method="GET", route=route, status="404") == 1
    assert delta(before, after, DURATION, method="GET", route=route, status="200") == 2
    assert delta(before, after, COUNT, method="POST", route="/v1/properties", status="422") == 1
    assert delta(before, after, COUNT, method="GET", route="none", status="404") == 1
    assert delta(before, after, COUNT, method="DELETE", route=route, status="405") == 1
    # No label value ever comes from the path: no ID and no SMILES in any sample.
    for name, labels in after:
        for _, value in labels:
            assert "CHEMBL" not in value
            assert "CC(" not in value, (name, value)


def test_queries_are_counted_by_intent_and_status(app_client: TestClient) -> None:
    before = scrape(app_client)
    ok = app_client.post("/v1/query", json={"query": "What is the LogP of aspirin?"})
    assert ok.status_code == 200
    intent = ok.json()["intent"]["kind"]
    assert app_client.post("/v1/query", json={"query": "What's the weather?"}).status_code == 200
    assert app_client.post("/v1/query", json={"query": "   "}).status_code == 422
    after = scrape(app_client)
    assert delta(before, after, "chemagent_queries_total", intent=intent, status="ok") == 1
    assert delta(before, after, "chemagent_query_duration_seconds_count", intent=intent) == 1
    rejected = delta(
        before, after, "chemagent_queries_total", intent="out_of_scope", status="rejected"
    )
    assert rejected == 1
    invalid = delta(before, after, "chemagent_queries_total", intent="unknown", status="invalid")
    assert invalid == 1


def test_build_info_names_this_build(app_client: TestClient) -> None:
    samples = scrape(app_client)
    labels = frozenset(
        {"version": __version__, "commit": "abc1234", "rdkit": RDKIT_VERSION}.items()
    )
    assert samples[("chemagent_build_info", labels)] == 1.0


def test_in_flight_counts_the_scrape_itself(app_client: TestClient) -> None:
    assert scrape(app_client)[("http_requests_in_flight", frozenset())] == 1.0


def sample(name: str, **labels: str) -> float:
    # Read in-process: with a 0.5 ms request deadline, GET /metrics would time out too.
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_request_past_its_deadline_is_counted_as_shed() -> None:
    settings = offline_settings(access_log=False, request_timeout_seconds=0.0005)
    labels = {"method": "POST", "route": "/v1/similarity", "status": "504"}
    with TestClient(create_app(settings)) as client:
        shed, timed_out = sample(SHED, reason="deadline"), sample(COUNT, **labels)
        body = {"query": "CCO", "threshold": 0.1, "top_k": 1000}
        response = client.post("/v1/similarity", json=body)
        assert response.status_code == 504, response.text
        assert response.json()["error"] == "request_timeout"
    assert sample(SHED, reason="deadline") == shed + 1
    assert sample(COUNT, **labels) == timed_out + 1
