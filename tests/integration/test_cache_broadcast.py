"""Cross-worker L1 invalidation on a real Redis: two "workers" (two TieredCaches) on one.

Each worker has its own L1, L2 client and subscriber, as two gunicorn workers or two pods
do. Waits poll the condition (no fixed sleeps); the propagation delay is measured and
printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from chemagent.cache.broadcast import InvalidationBroadcast
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import RedisL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.tiered import TieredCache
from chemagent.execution.step import Step
from tests.blackhole import blackhole
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NS = CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "36")
OTHER_NS = CacheNamespace(SCHEMA, "2027.03.1", "chembl-approved", "36")  # another RDKit
PROPS = Step.of("properties", "CC(=O)Oc1ccccc1C(=O)O")
SIM = Step.of("similarity", "c1ccccc1O", threshold=0.7, top_k=10)
BOUND = 2.0
"""The most any wait here may take: propagation is milliseconds, reconnection < 1 s."""


@contextlib.asynccontextmanager
async def worker(
    url: str, namespace: CacheNamespace = NS, **options: Any
) -> AsyncIterator[TieredCache]:
    """A started TieredCache with a broadcast, as ``build_cache`` + the lifespan make it."""
    store = RedisL2.from_url(url, breaker_reset_seconds=0.2)
    options.setdefault("backoff_max", 0.3)
    broadcast = InvalidationBroadcast.from_url(
        url, publisher=store.guard, namespace=namespace, **options
    )
    cache = TieredCache(L1Cache(1000), store, CachePolicy(), namespace, broadcast=broadcast)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.aclose()
        await store.aclose()


@contextlib.asynccontextmanager
async def workers(url: str, **options: Any) -> AsyncIterator[tuple[TieredCache, TieredCache]]:
    async with worker(url, **options) as a, worker(url, **options) as b:
        await until(lambda: subscribed(a) and subscribed(b))
        yield a, b


def bc(cache: TieredCache) -> InvalidationBroadcast:
    assert isinstance(cache.broadcast, InvalidationBroadcast)
    return cache.broadcast


def subscribed(cache: TieredCache) -> bool:
    return bc(cache).subscribed


async def until(condition: Callable[[], bool], bound: float = BOUND, poll: float = 0.001) -> float:
    """Poll ``condition`` (yielding to the event loop) until true; seconds it took."""
    started = time.perf_counter()
    while not condition():
        waited = time.perf_counter() - started
        assert waited < bound, f"condition not met within {bound} s"
        await asyncio.sleep(poll)
    return time.perf_counter() - started


async def fill(*caches: TieredCache) -> None:
    """Each worker holds PROPS and SIM in its L1 (computed once, then L2 hits)."""
    for cache in caches:
        for step in (PROPS, SIM):
            await cache.get_or_compute(step, 1, lambda: answer({"v": 1}))
            assert cache.l1.get(cache.key_for(step, 1)) is not None


async def answer(value: Any) -> Any:
    return value


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_invalidate_on_one_worker_clears_the_others_l1(redis_server: RedisServer) -> None:
    async with workers(redis_server.url) as (a, b):
        props, sim = a.key_for(PROPS, 1), a.key_for(SIM, 1)
        await fill(a, b)

        await a.invalidate(key=props)
        await until(lambda: b.l1.get(props) is None)
        assert b.l1.get(sim) is not None  # only that key
        assert await b.get_or_compute(PROPS, 1, lambda: answer("new")) == ("new", "miss")

        await a.invalidate(kind="similarity")
        await until(lambda: b.l1.get(sim) is None)
        assert b.l1.get(props) is not None

        await a.invalidate(everything=True)
        await until(lambda: len(b.l1) == 0)

        assert bc(b).stats()["received"] == 3
        assert bc(a).stats()["own"] == 3  # A hears itself and ignores it
        assert bc(a).stats()["published"] == 3

        # and the other way round: B's invalidation reaches A
        await fill(a)
        await b.invalidate(key=props)
        await until(lambda: a.l1.get(props) is None)
        assert a.l1.get(sim) is not None


async def test_propagation_delay(redis_server: RedisServer) -> None:
    """~50 invalidations by key: from A's call to B's L1 entry gone (A's L2 delete included)."""
    async with workers(redis_server.url) as (a, b):
        key = a.key_for(PROPS, 1)
        delays: list[float] = []
        calls: list[float] = []
        for n in range(50):
            await b.get_or_compute(PROPS, 1, partial(answer, {"n": n}))
            assert b.l1.get(key) is not None
            started = time.perf_counter()
            await a.invalidate(key=key)
            calls.append(time.perf_counter() - started)
            await until(lambda: b.l1.get(key) is None, poll=0)  # a timer would add ~1 ms
            delays.append(time.perf_counter() - started)
        p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
        assert p50 < 0.05
        assert max(delays) < 0.5
        assert bc(b).stats()["received"] == 50
        print(
            f"\nL1 invalidation propagation over {len(delays)} invalidations: p50 "
            f"{p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {max(delays) * 1e3:.2f} ms "
            f"(of which A's invalidate call, L2 UNLINK + PUBLISH: p50 "
            f"{percentile(calls, 0.5) * 1e3:.2f} ms)"
        )


async def test_other_namespaces_and_malformed_messages_are_ignored(
    redis_server: RedisServer,
) -> None:
    async with (
        workers(redis_server.url) as (a, b),
        worker(redis_server.url, namespace=OTHER_NS) as other,
        Redis.from_url(redis_server.url) as raw,
    ):
        await until(lambda: subscribed(other))
        assert bc(other).channel != bc(b).channel
        await fill(a, b, other)
        await other.invalidate(everything=True)  # another RDKit: its own channel
        channel = bc(b).channel
        await raw.publish(channel, b"not json")
        await raw.publish(
            channel, orjson.dumps({"origin": "x", "ns": OTHER_NS.prefix, "all": True})
        )
        await raw.publish(channel, orjson.dumps({"origin": "x", "ns": NS.prefix, "kind": "a:b"}))
        await a.invalidate(key=a.key_for(SIM, 1))  # a valid one, after the others
        await until(lambda: b.l1.get(b.key_for(SIM, 1)) is None)
        stats = bc(b).stats()
        assert (stats["malformed"], stats["foreign"], stats["apply_errors"]) == (1, 1, 1)
        assert b.l1.get(b.key_for(PROPS, 1)) is not None  # untouched by all of them
        assert subscribed(b)  # and the subscriber carries on


async def test_redis_killed_workers_keep_serving_and_resubscribe(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chemagent.cache.broadcast")
    async with workers(redis_server.url) as (a, b):
        props = a.key_for(PROPS, 1)
        await fill(a, b)

        redis_server.kill()
        await until(lambda: not subscribed(a) and not subscribed(b))
        assert await b.get_or_compute(PROPS, 1, lambda: answer("unused")) == ({"v": 1}, "l1")
        assert await b.get_or_compute(Step.of("properties", "CCO"), 1, lambda: answer(2)) == (
            2,
            "miss",
        )
        assert await a.invalidate(key=props) == 1  # this worker's L1; no exception
        assert bc(a).stats()["publish_failures"] == 1
        await until(lambda: bc(b).stats()["disconnects"] >= 3)  # several retries...
        outage = [r for r in caplog.records if "no subscription" in r.getMessage()]
        assert len(outage) == 2  # ...one warning per worker per outage

        await asyncio.to_thread(redis_server.start)  # same port, empty
        reconnect = await until(lambda: subscribed(a) and subscribed(b))
        assert bc(b).stats()["resyncs"] == 1
        assert len(b.l1) == 0  # it may have missed invalidations: it starts clean
        assert any("subscribed to" in r.getMessage() for r in caplog.records)

        await fill(a, b)
        await a.invalidate(key=props)
        await until(lambda: b.l1.get(props) is None)
        print(f"\nbroadcast resubscribed {reconnect:.2f} s after Redis restarted")


async def test_a_silent_redis_pauses_are_noticed_by_ping(redis_server: RedisServer) -> None:
    """A subscription whose server stops answering (no FIN: a partition) is replaced."""
    async with (
        worker(redis_server.url, ping_interval=0.2, pong_timeout=0.2) as b,
        Redis.from_url(redis_server.url) as raw,
    ):
        await until(lambda: subscribed(b))
        await raw.execute_command("CLIENT", "PAUSE", 700, "ALL")  # PINGs go unanswered
        await until(lambda: not subscribed(b))
        assert bc(b).stats()["disconnects"] >= 1
        await until(lambda: subscribed(b))  # after the pause: subscribed again


async def test_a_blackholed_redis_never_reaches_the_app() -> None:
    with blackhole() as silent:
        async with worker(silent.url, subscribe_timeout=0.1) as cache:
            await until(lambda: bc(cache).stats()["disconnects"] >= 2)  # timed out, retried
            assert not subscribed(cache)
            stats = bc(cache).stats()  # one socket per attempt (the last may be opening)
            assert stats["disconnects"] <= len(silent.accepted) <= stats["attempts"]
            started = time.perf_counter()
            assert await cache.invalidate(kind="properties") == 0
            assert time.perf_counter() - started < 0.3  # delete_prefix + publish: deadlines
            assert bc(cache).stats()["publish_failures"] == 1
            closing = time.perf_counter()
        assert time.perf_counter() - closing < 0.5  # aclose did not wait on the silent socket
