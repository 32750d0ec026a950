"""The cache as /metrics and /readyz show it: step histogram cache label, tier counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chemagent.app import create_app
from chemagent.settings import Settings
from tests.service.conftest import app_state, offline_settings


@pytest.fixture(scope="module")
def cached() -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings())) as client:
        yield client


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on /metrics, keyed by name and label set."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def delta(
    before: dict[tuple[str, frozenset[tuple[str, str]]], float],
    after: dict[tuple[str, frozenset[tuple[str, str]]], float],
    name: str,
    **labels: str,
) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_miss_then_a_hit_moves_the_step_histogram_and_the_tier_counters(
    cached: TestClient,
) -> None:
    before = scrape(cached)
    body = {"smiles": "OC(=O)CCCCCCCCCCF"}  # not requested by any other test
    first = cached.post("/v1/properties", json=body)
    second = cached.post("/v1/properties", json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    after = scrape(cached)
    step = "chemagent_step_duration_seconds_count"
    assert delta(before, after, step, step="properties", outcome="ok", cache="miss") == 1
    assert delta(before, after, step, step="properties", outcome="ok", cache="l1") == 1
    # parse is cached too (L1 only): the second request's parse is a hit.
    assert delta(before, after, step, step="parse", outcome="ok", cache="l1") == 1
    requests = "chemagent_cache_requests_total"
    assert delta(before, after, requests, tier="l1", result="hit") == 2
    assert delta(before, after, requests, tier="l1", result="miss") == 2
    # Without Redis there is no L2 lookup at all.
    assert delta(before, after, requests, tier="l2", result="miss") == 0
    ops = "chemagent_cache_operation_duration_seconds_count"
    assert delta(before, after, ops, tier="l1", op="get") == 4


def test_label_values_come_from_fixed_sets(cached: TestClient) -> None:
    cached.post("/v1/properties", json={"smiles": "not a smiles ((("})
    cached.get("/v1/compounds/CHEMBL999999999")
    samples = scrape(cached)
    for name, labels in samples:
        values = dict(labels)
        if name.startswith("chemagent_step_duration_seconds"):
            assert values["cache"] in {"l1", "l2", "miss", "stale"}
            assert values["outcome"] in {"ok", "error", "timeout"}
        if name.startswith("chemagent_cache_requests"):
            assert values["tier"] in {"l1", "l2"}
            assert values["result"] in {"hit", "miss", "error", "stale"}
        for value in values.values():
            assert "(((" not in value
            assert "CHEMBL999999999" not in value


def test_readyz_reports_redis_disabled_without_a_url(cached: TestClient) -> None:
    response = cached.get("/readyz")
    assert response.status_code == 200
    assert response.json()["redis"] == "disabled"
    assert app_state(cached).cache.l2.state == "disabled"


def test_unknown_not_found_is_cached_briefly(cached: TestClient) -> None:
    state = app_state(cached)
    before = state.cache.stats()["negative_hits"]
    for _ in range(3):
        response = cached.get("/v1/compounds/CHEMBL424242424242")
        assert response.status_code == 404
    assert state.cache.stats()["negative_hits"] - before == 2


def test_computations_entries_and_evictions_are_exported(cached: TestClient) -> None:
    before = scrape(cached)
    smiles = [f"OCC{'C' * n}N" for n in range(12, 15)]
    for s in smiles:
        assert cached.post("/v1/properties", json={"smiles": s}).status_code == 200
        assert cached.post("/v1/properties", json={"smiles": s}).status_code == 200
    after = scrape(cached)
    computed = "chemagent_cache_computations_total"
    assert delta(before, after, computed, step="properties") == 3  # not 6: three hits
    assert delta(before, after, computed, step="parse") == 3
    state = app_state(cached).cache
    assert after["chemagent_cache_entries", frozenset({("tier", "l1")})] == state.l1.entries
    assert after["chemagent_cache_bytes", frozenset({("tier", "l1")})] == state.l1.bytes > 0
    assert after["chemagent_cache_evictions_total", frozenset({("tier", "l1")})] == (
        state.l1.evictions
    )


def test_unreachable_redis_sets_the_degraded_gauge_and_readyz_says_so() -> None:
    # Nothing listens on port 1: every Redis call fails at once (connection refused).
    settings = Settings(library=None, chembl_url=None, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["redis"] == "ok"  # nothing tried yet
        response = client.post("/v1/properties", json={"smiles": "CCCCCCCCCCCCCCCCCO"})
        assert response.status_code == 200  # computed: Redis down is not an outage
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["redis"] == "degraded"
        samples = scrape(client)
        assert samples["chemagent_cache_l2_degraded", frozenset()] == 1
        errors = (
            "chemagent_cache_requests_total",
            frozenset({("tier", "l2"), ("result", "error")}),
        )
        assert samples[errors] >= 1
