"""Cached step results are shared objects: nothing that serves them may change them.

L1 hands the same Python object to every caller (tests/unit cover the cache itself), so
an operation, a binder or the formatter that edits a step result in place would corrupt
every later answer built on it. Two proofs, over every REST endpoint and every golden
query (tests/golden/queries.json):

- Responses: an app with the cache on answers the whole set three times in a row, and
  every answer equals that of an app with the cache off (``cache_l1_size=0``, no Redis),
  ignoring what legitimately differs (trace and session ids, timings, cache tiers).
- Values: every value the cache returns is snapshotted (deep copy) when first seen and
  compared with the live object after the three rounds; a mismatch names the step kind.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chemagent.app import create_app
from chemagent.execution.runner import StepCache
from chemagent.execution.step import Step
from tests.golden.scoring import load_cases
from tests.service.conftest import app_state, offline_settings
from tests.service.support import ASPIRIN_SMILES, IBUPROFEN_SODIUM

ROUNDS = 3
ASPIRIN_INCHIKEY = "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
# Differ between two correct answers: per-request ids, timings, where a step came from.
VOLATILE = frozenset({"trace_id", "session_id", "seconds", "cache"})
VOLATILE_METRICS = frozenset(
    {"wall_seconds", "serial_seconds", "speedup", "parallelization_ratio", "steps_cached"}
)


@dataclass(frozen=True)
class Call:
    """One HTTP request; ``setup`` requests (a follow-up's context) are sent first."""

    name: str
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    setup: tuple[Call, ...] = ()


def rest_calls() -> list[Call]:
    """Every REST endpoint, hits and "not found"s, with inputs that share cached steps."""
    get, post = "GET", "POST"
    return [
        Call("compound", get, "/v1/compounds/CHEMBL25"),
        Call("compound salt", get, "/v1/compounds/CHEMBL3989408"),
        Call("compound unknown", get, "/v1/compounds/CHEMBL999999999"),
        Call("resolve name", get, "/v1/compounds", params={"name": "aspirin"}),
        Call("resolve fuzzy name", get, "/v1/compounds", params={"name": "asprin"}),
        Call("resolve smiles", get, "/v1/compounds", params={"smiles": ASPIRIN_SMILES}),
        Call("resolve inchikey", get, "/v1/compounds", params={"inchikey": ASPIRIN_INCHIKEY}),
        Call("properties of id", get, "/v1/compounds/CHEMBL25/properties"),
        Call("properties id body", post, "/v1/properties", json={"chembl_id": "CHEMBL521"}),
        Call("properties smiles", post, "/v1/properties", json={"smiles": ASPIRIN_SMILES}),
        Call("properties salt", post, "/v1/properties", json={"smiles": IBUPROFEN_SODIUM}),
        Call("properties new", post, "/v1/properties", json={"smiles": "CCCCCCCCCCO"}),
        Call("properties bad", post, "/v1/properties", json={"smiles": "C1CC"}),
        Call("similarity name", post, "/v1/similarity", json={"query": "ibuprofen"}),
        Call(
            "similarity page",
            post,
            "/v1/similarity",
            json={"query": "CHEMBL521", "threshold": 0.3, "limit": 5, "offset": 3},
        ),
        Call(
            "similarity smiles",
            post,
            "/v1/similarity",
            json={"query": ASPIRIN_SMILES, "threshold": 0.4, "top_k": 7},
        ),
        Call("similarity unknown", post, "/v1/similarity", json={"query": "ibuprofenn"}),
        Call("substructure smarts", post, "/v1/substructure", json={"smarts": "S(=O)(=O)N"}),
        Call(
            "substructure smiles",
            post,
            "/v1/substructure",
            json={"smiles": "c1ccccc1C(=O)O", "limit": 10},
        ),
        Call("standardize", post, "/v1/standardize", json={"smiles": IBUPROFEN_SODIUM}),
        Call("depict", get, "/v1/depict", params={"smiles": ASPIRIN_SMILES}),
        Call("image", get, "/v1/compounds/CHEMBL25/image.svg", params={"width": 200}),
        Call(
            "batch ids",
            post,
            "/v1/batch",
            json={"ids": ["CHEMBL25", "CHEMBL521", "CHEMBL999999999", "CHEMBL25"]},
        ),
        Call(
            "batch smiles",
            post,
            "/v1/batch",
            json={"smiles": [ASPIRIN_SMILES, IBUPROFEN_SODIUM, "C1CC", ASPIRIN_SMILES]},
        ),
    ]


def golden_calls() -> list[Call]:
    """Every golden query, verbose; a follow-up first sends its context in its session."""
    calls = []
    for n, case in enumerate(load_cases()):
        session = f"consistency-{n}"
        query = {"query": case["query"], "verbose": True}
        setup: tuple[Call, ...] = ()
        if case.get("context"):
            query["session_id"] = session
            context = {"query": case["context"], "session_id": session}
            setup = (Call(f"context {n}", "POST", "/v1/query", json=context),)
        calls.append(Call(f"golden {n}: {case['query']}", "POST", "/v1/query", query, None, setup))
    return calls


CALLS = rest_calls() + golden_calls()


def stable(value: Any) -> Any:
    """``value`` without the fields that legitimately differ between two equal answers."""
    if isinstance(value, dict):
        kept = {k: stable(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(kept.get("metrics"), dict):
            kept["metrics"] = {
                k: v for k, v in kept["metrics"].items() if k not in VOLATILE_METRICS
            }
        return kept
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def first_difference(got: Any, want: Any, path: str = "") -> str | None:
    """Where ``got`` and ``want`` first differ (``path: got ..., want ...``), or None."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want), key=str):
            found = first_difference(got.get(key), want.get(key), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(got, list | tuple) and isinstance(want, list | tuple) and len(got) == len(want):
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            found = first_difference(a, b, f"{path}[{n}]")
            if found is not None:
                return found
        return None
    return None if got == want else f"{path or '.'}: got {got!r:.200}, want {want!r:.200}"


def answer(client: TestClient, call: Call) -> tuple[int, Any]:
    """``(status, comparable body)`` of ``call`` (its setup requests sent first)."""
    for before in call.setup:
        assert answer(client, before)[0] == 200, before
    response = client.request(call.method, call.path, json=call.json, params=call.params)
    if response.headers["content-type"].startswith("application/json"):
        return response.status_code, stable(response.json())
    return response.status_code, response.text


@dataclass
class SnapshotCache:
    """Wraps the app's step cache; keeps a deep copy of every value the first time it is
    returned (before any caller can touch it) next to the live, shared object."""

    inner: StepCache
    seen: dict[int, tuple[str, Any, Any]] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)

    async def get_or_compute(
        self, step: Step, step_version: int, compute: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, str]:
        value, tier = await self.inner.get_or_compute(step, step_version, compute)
        self.tiers[tier] = self.tiers.get(tier, 0) + 1
        if id(value) not in self.seen:
            self.seen[id(value)] = (step.kind, value, copy.deepcopy(value))
        return value, tier

    def changed(self) -> list[str]:
        """The step kinds (with the first difference) of values changed since first seen."""
        return [
            f"{kind}: was {first!r:.300}, now {live!r:.300}"
            for kind, live, first in self.seen.values()
            if live != first
        ]


@pytest.fixture(scope="module")
def uncached() -> Iterator[TestClient]:
    """No L1, no Redis: every step computed afresh, so nothing can be shared."""
    with TestClient(create_app(offline_settings(cache_l1_size=0))) as client:
        yield client


@pytest.fixture(scope="module")
def cached() -> Iterator[tuple[TestClient, SnapshotCache]]:
    """A fresh app with the default L1 (no Redis), its cache wrapped by a SnapshotCache."""
    with TestClient(create_app(offline_settings())) as client:
        runner = app_state(client).runner
        assert runner.cache is not None
        snapshots = SnapshotCache(runner.cache)
        runner.cache = snapshots
        yield client, snapshots


def test_cache_is_off_in_the_baseline(uncached: TestClient) -> None:
    cache = app_state(uncached).cache
    for _ in range(2):
        assert uncached.get("/v1/compounds/CHEMBL25").status_code == 200
    assert cache.stats()["l1"]["hits"] == 0
    assert len(cache.l1) == 0


def test_cached_answers_equal_uncached_ones_round_after_round(
    uncached: TestClient, cached: tuple[TestClient, SnapshotCache]
) -> None:
    client, snapshots = cached
    baseline = {call.name: answer(uncached, call) for call in CALLS}
    assert {status for status, _ in baseline.values()} >= {200, 404, 422}
    differences = []
    for round_ in range(1, ROUNDS + 1):
        for call in CALLS:
            found = first_difference(answer(client, call), baseline[call.name])
            if found is not None:
                differences.append(f"round {round_}, {call.name}: {found}")
    assert not differences, "\n".join(differences)
    # The later rounds were really served from the cache, not recomputed.
    assert snapshots.tiers.get("l1", 0) > snapshots.tiers.get("miss", 0) * (ROUNDS - 1)
    assert not snapshots.changed(), "\n".join(snapshots.changed())


def test_snapshot_cache_notices_a_value_changed_in_place() -> None:
    """The value check can fail: an edit of a returned value after the fact is reported."""

    class Shared:
        async def get_or_compute(
            self, step: Step, step_version: int, compute: Callable[[], Awaitable[Any]]
        ) -> tuple[Any, str]:
            return shared, "l1"

    shared: dict[str, Any] = {"hits": [1, 2]}
    snapshots = SnapshotCache(Shared())

    async def noop() -> None:
        return None

    value, _ = asyncio.run(snapshots.get_or_compute(Step.of("similarity", "C"), 1, noop))
    assert not snapshots.changed()
    value["hits"].append(3)
    assert snapshots.changed() == ["similarity: was {'hits': [1, 2]}, now {'hits': [1, 2, 3]}"]


def test_first_difference_names_the_path() -> None:
    want = (200, {"hits": [{"id": "CHEMBL25", "similarity": 1.0}], "total": 1})
    got = (200, {"hits": [{"id": "CHEMBL25", "similarity": 0.99}], "total": 1})
    assert first_difference(want, want) is None
    assert first_difference(got, want) == "[1].hits[0].similarity: got 0.99, want 1.0"
    assert (
        first_difference((200, "<svg/>"), (200, "<svg />")) == "[1]: got '<svg/>', want '<svg />'"
    )


def test_stable_ignores_only_volatile_fields() -> None:
    body = {
        "trace_id": "a",
        "session_id": "b",
        "answer": "x",
        "steps": [{"node": "n1", "cache": "l1", "seconds": 0.1, "status": "ok"}],
        "metrics": {"steps_cached": 1, "wall_seconds": 0.2, "steps_run": 1},
    }
    assert stable(body) == {
        "answer": "x",
        "steps": [{"node": "n1", "status": "ok"}],
        "metrics": {"steps_run": 1},
    }
