"""Sessions in a real Redis: shared, trimmed, expiring, and surviving Redis going away."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from chemagent.cache.sessions import HISTORY, RedisSessions
from tests.blackhole import blackhole
from tests.integration.cache_support import assert_cancels_stick
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_two_stores_share_a_session(redis_server: RedisServer) -> None:
    """Two pods (two stores on one Redis) see the same conversation, trimmed to HISTORY."""
    one = RedisSessions.from_url(redis_server.url, ttl=60, max_sessions=10)
    two = RedisSessions.from_url(redis_server.url, ttl=60, max_sessions=10)
    try:
        for n in range(HISTORY + 2):
            await one.append("s", {"query": f"q{n}"})
        history = await two.history("s")
        assert [e["query"] for e in history] == [f"q{n}" for n in range(2, HISTORY + 2)]
        client = Redis.from_url(redis_server.url)
        ttl = await client.pttl("chemagent:session:s")
        await client.aclose()
        assert 0 < ttl <= 60_000
    finally:
        await one.aclose()
        await two.aclose()


async def test_session_expires(redis_server: RedisServer) -> None:
    store = RedisSessions.from_url(redis_server.url, ttl=0.2, max_sessions=10)
    try:
        await store.append("s", {"query": "q"})
        assert len(await store.history("s")) == 1
        await asyncio.sleep(0.4)
        assert await store.history("s") == []
    finally:
        await store.aclose()


async def test_redis_killed_sessions_degrade_to_process(redis_server: RedisServer) -> None:
    store = RedisSessions.from_url(redis_server.url, ttl=60, max_sessions=10)
    try:
        await store.append("s", {"query": "before"})
        redis_server.kill()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await store.append("s", {"query": "during"})  # no exception: kept in-process
        assert store.degraded
        assert [e["query"] for e in await store.history("s")] == ["during"]
        assert loop.time() - started < 3.0  # bounded by the short socket timeouts
        redis_server.start()
        await store.append("t", {"query": "after"})
        assert not store.degraded
        assert [e["query"] for e in await store.history("t")] == ["after"]
    finally:
        await store.aclose()


async def test_cancelled_session_calls_stay_cancelled(redis_server: RedisServer) -> None:
    """A query cancelled mid-call ends cancelled (Python 3.11's wait_for can swallow it).

    Without the guard, 60 of 80 such tasks kept running after cancel() on this machine.
    """
    store = RedisSessions.from_url(redis_server.url, ttl=60, max_sessions=100)

    async def traffic(worker: int) -> None:
        while True:
            await store.append(f"c{worker}", {"query": "q"})
            await store.history(f"c{worker}")

    try:
        await assert_cancels_stick(traffic, rounds=10, what="session call")
        assert store.state == "ok"
        assert len(await store.history("c0")) == HISTORY
    finally:
        await store.aclose()


async def test_blackholed_redis_is_bounded_by_the_deadline() -> None:
    """A Redis that accepts and never answers costs each call the deadline, then nothing."""
    deadline = 0.1
    with blackhole() as silent:
        store = RedisSessions.from_url(
            silent.url, ttl=60, max_sessions=10, deadline_seconds=deadline, breaker_failures=3
        )
        try:
            waited: list[float] = []
            for n in range(3):
                started = time.perf_counter()
                await store.append("s", {"query": f"q{n}"})  # no exception: kept in-process
                waited.append(time.perf_counter() - started)
            assert store.degraded
            assert min(waited) >= deadline * 0.9  # really waited on the silent server
            assert max(waited) < deadline + 0.1
            started = time.perf_counter()
            history = await store.history("s")  # breaker open: Redis not even tried
            skipped = time.perf_counter() - started
            assert [e["query"] for e in history] == ["q0", "q1", "q2"]
            assert skipped < 0.005
            stats = store.stats()
            assert (stats["timeouts"], stats["short_circuits"]) == (3, 1)
            assert stats["breaker_open"] == 1
        finally:
            await store.aclose()
