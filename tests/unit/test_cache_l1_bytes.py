"""L1's two bounds: entries and estimated bytes (a 1,000-hit search is ~150x a panel)."""

from __future__ import annotations

import pytest

from chemagent.cache.codec import Envelope
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import DisabledL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.tiered import TieredCache
from chemagent.execution.step import Step

NOW = 1_000_000.0


def clock() -> float:
    return NOW


def env(value: object = "v") -> Envelope:
    return Envelope(value, NOW, 0.01, NOW + 100)


def test_byte_bound_evicts_least_recently_used() -> None:
    l1 = L1Cache(100, max_bytes=1000, clock=clock)
    l1.set("a", env(), NOW + 10, size=400)
    l1.set("b", env(), NOW + 10, size=400)
    assert l1.get("a") is not None  # "b" is now the least recently used
    l1.set("c", env(), NOW + 10, size=400)
    assert l1.get("b") is None
    assert l1.get("a") is not None
    assert l1.get("c") is not None
    assert l1.bytes == 800
    assert l1.evictions == 1


def test_entry_larger_than_the_bound_is_dropped_without_evicting() -> None:
    l1 = L1Cache(100, max_bytes=1000, clock=clock)
    l1.set("a", env(), NOW + 10, size=600)
    l1.set("huge", env(), NOW + 10, size=1001)
    assert l1.get("huge") is None
    assert l1.get("a") is not None
    assert l1.too_large == 1
    assert l1.evictions == 0


def test_replacing_an_entry_with_a_too_large_value_removes_the_old_one() -> None:
    l1 = L1Cache(100, max_bytes=1000, clock=clock)
    l1.set("a", env("old"), NOW + 10, size=10)
    l1.set("a", env("new"), NOW + 10, size=5000)
    assert l1.get("a") is None  # never serve the old value after a newer computation


def test_count_bound_still_holds_with_tiny_entries() -> None:
    l1 = L1Cache(3, max_bytes=10**9, clock=clock)
    for key in "abcde":
        l1.set(key, env(), NOW + 10, size=1)
    assert len(l1) == 3
    assert [k for k in "abcde" if l1.get(k) is not None] == ["c", "d", "e"]
    assert l1.evictions == 2


def test_updating_a_key_at_the_count_bound_evicts_nothing() -> None:
    l1 = L1Cache(2, clock=clock)
    l1.set("a", env(), NOW + 10)
    l1.set("b", env(), NOW + 10)
    l1.set("a", env("again"), NOW + 10)
    assert l1.get("b") is not None
    assert l1.evictions == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        L1Cache(10, max_bytes=0)


@pytest.mark.anyio
async def test_tiered_cache_sizes_values_by_their_json_length() -> None:
    cache = TieredCache(
        L1Cache(100, max_bytes=20_000),
        DisabledL2(),
        CachePolicy(),
        CacheNamespace(SCHEMA, "r", "lib", "1"),
    )
    big = {"hits": [{"chembl_id": f"CHEMBL{i}", "similarity": 0.5} for i in range(500)]}

    async def compute_big() -> object:
        return big

    async def compute_small() -> object:
        return {"ok": True}

    await cache.get_or_compute(Step.of("similarity", "C"), 1, compute_big)
    await cache.get_or_compute(Step.of("properties", "C"), 1, compute_small)
    stats = cache.stats()["l1"]
    assert stats["too_large"] == 1  # ~20 KB of JSON does not fit in 20,000 bytes
    assert stats["entries"] == 1
    assert 10 < stats["bytes"] < 100
    assert await cache.get_or_compute(Step.of("properties", "C"), 1, compute_small) == (
        {"ok": True},
        "l1",
    )
