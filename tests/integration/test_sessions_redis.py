"""Sessions in a real Redis: shared, trimmed, expiring, and surviving Redis going away."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from chemagent.cache.sessions import HISTORY, RedisSessions
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
