"""The tiered cache on a real Redis: two "pods" (two caches, two clients) sharing one L2."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from chemagent.cache.codec import decode
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import RedisL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.tiered import TieredCache
from chemagent.errors import CompoundNotFound
from chemagent.execution.step import Step
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NS = CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "36")
SIM = Step.of("similarity", "c1ccccc1O", threshold=0.7, top_k=10)
PROPS = Step.of("properties", "CC(=O)Oc1ccccc1C(=O)O")


@contextlib.asynccontextmanager
async def pods(url: str, count: int = 2, **kwargs: Any) -> AsyncIterator[list[TieredCache]]:
    stores = [RedisL2.from_url(url, deadline_seconds=0.5) for _ in range(count)]
    caches = [TieredCache(L1Cache(1000), store, CachePolicy(), NS, **kwargs) for store in stores]
    try:
        yield caches
    finally:
        for cache, store in zip(caches, stores, strict=True):
            await cache.aclose()
            await store.aclose()


class Computation:
    def __init__(self, value: Any, *, seconds: float = 0.0, error: Exception | None = None):
        self.value, self.seconds, self.error = value, seconds, error
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        return self.value


async def test_value_computed_by_one_pod_is_an_l2_hit_on_the_other(
    redis_server: RedisServer,
) -> None:
    async with pods(redis_server.url) as (a, b), Redis.from_url(redis_server.url) as raw:
        value = {"hits": [{"chembl_id": f"CHEMBL{i}", "similarity": 0.9} for i in range(200)]}
        compute = Computation(value)
        assert await a.get_or_compute(SIM, 1, compute) == (value, "miss")
        assert await b.get_or_compute(SIM, 1, compute) == (value, "l2")
        assert await b.get_or_compute(SIM, 1, compute) == (value, "l1")
        assert compute.calls == 1
        key = a.key_for(SIM, 1)
        stored = await raw.get(key)
        assert isinstance(stored, bytes)
        assert decode(stored).value == value
        assert 86_390_000 < await raw.pttl(key) <= 86_400_000
        assert await raw.get(f"{key}:lock") is None  # released by its owner


async def test_cold_stampede_across_two_pods_computes_once(redis_server: RedisServer) -> None:
    async with pods(redis_server.url, lock_wait_seconds=2.0, lock_poll_seconds=0.01) as caches:
        compute = Computation({"hits": []}, seconds=0.2)
        calls = [cache.get_or_compute(SIM, 1, compute) for cache in caches for _ in range(24)]
        results = await asyncio.gather(*calls)
        assert compute.calls == 1
        assert {value == {"hits": []} for value, _ in results} == {True}
        tiers = sorted({tier for _, tier in results})
        assert tiers == ["l2", "miss"]  # the waiting pod got the other's value from L2
        waits = [cache.stats()["lock_waits"] for cache in caches]
        assert sorted(waits) == [0, 1]


async def test_corrupt_value_in_redis_is_recomputed_and_overwritten(
    redis_server: RedisServer,
) -> None:
    async with pods(redis_server.url, count=1) as (cache,), Redis.from_url(redis_server.url) as raw:
        key = cache.key_for(PROPS, 1)
        await raw.set(key, b"\x80\x05\x95 a pickle from somewhere else", px=60_000)
        compute = Computation({"full_mwt": 180.16})
        assert await cache.get_or_compute(PROPS, 1, compute) == ({"full_mwt": 180.16}, "miss")
        assert cache.stats()["l2"]["corrupt"] == 1
        stored = await raw.get(key)
        assert isinstance(stored, bytes)
        assert decode(stored).value == {"full_mwt": 180.16}


async def test_not_found_is_shared_and_expires(redis_server: RedisServer) -> None:
    async with pods(redis_server.url) as (a, b), Redis.from_url(redis_server.url) as raw:
        step = Step.of("resolve", "asprin")
        missing = Computation(None, error=CompoundNotFound("No 'asprin'.", ["aspirin"]))
        with pytest.raises(CompoundNotFound):
            await a.get_or_compute(step, 1, missing)
        with pytest.raises(CompoundNotFound) as served:
            await b.get_or_compute(step, 1, missing)
        assert served.value.suggestions == ["aspirin"]
        assert missing.calls == 1
        assert 59_000 < await raw.pttl(a.key_for(step, 1)) <= 60_000


async def test_invalidate_everything_keeps_sessions(redis_server: RedisServer) -> None:
    async with pods(redis_server.url) as (a, b), Redis.from_url(redis_server.url) as raw:
        await raw.set("chemagent:session:abc", b"[]")
        for step in (SIM, PROPS):
            await a.get_or_compute(step, 1, Computation("v"))
        assert await a.invalidate(kind="similarity") == 1
        assert await b.get_or_compute(PROPS, 1, Computation("w")) == ("v", "l2")
        assert await a.invalidate(everything=True) == 1
        assert await raw.keys("*") == [b"chemagent:session:abc"]
        assert await a.get_or_compute(PROPS, 1, Computation("w")) == ("w", "miss")


async def test_redis_gone_still_computes_within_the_deadline(redis_server: RedisServer) -> None:
    async with pods(redis_server.url, count=1) as (cache,):
        await cache.get_or_compute(PROPS, 1, Computation("v"))
        redis_server.kill()
        compute = Computation("fresh")
        started = time.perf_counter()
        assert await cache.get_or_compute(SIM, 1, compute) == ("fresh", "miss")
        assert time.perf_counter() - started < 2.0  # get + lock + set, each bounded
        assert await cache.get_or_compute(PROPS, 1, compute) == ("v", "l1")
        assert cache.stats()["l2"]["errors"] == 1
        assert cache.stats()["l2"]["state"] == "degraded"
