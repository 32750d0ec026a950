"""The Redis L2 tier against real servers: plain, AUTH, Sentinel, Cluster, killed, blackholed.

Latency bounds are the point of several tests: with a 50 ms deadline, a call to a dead or
silent Redis must come back within the deadline plus scheduling slack, and once the
breaker opens calls must not touch Redis at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection

from chemagent.cache.l2 import DisabledL2, L2Store, RedisL2
from chemagent.cache.redis_client import _BlockingSentinelPool, parse_redis_url
from tests.blackhole import Blackhole, blackhole
from tests.integration.cache_support import assert_cancels_stick
from tests.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

DEADLINE = 0.05
SLACK = 0.1
"""Event-loop and scheduling slack on top of the deadline (CI machines are noisy)."""


@contextlib.asynccontextmanager
async def open_store(url: str, **kwargs: Any) -> AsyncIterator[RedisL2]:
    store = RedisL2.from_url(url, **kwargs)
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def raw_client(server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client for looking behind the store's back."""
    async with Redis.from_url(server.url) as client:
        yield client


async def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the basics on a real Redis ------------------------------------------------------------


async def test_get_set_delete_and_normal_latency(redis_server: RedisServer) -> None:
    async with open_store(redis_server.url) as store:
        assert await store.get("absent") is None
        gets: list[float] = []
        sets: list[float] = []
        for n in range(200):
            _, seconds = await timed(store.set(f"k{n}", b"v%d" % n, 60))
            sets.append(seconds)
            value, seconds = await timed(store.get(f"k{n}"))
            gets.append(seconds)
            assert value == b"v%d" % n
        assert await store.delete(["k0", "k1", "nope"]) == 2
        assert await store.delete([]) == 0
        assert await store.get("k0") is None
        stats = store.stats()
        assert store.state == "ok"
        assert stats["hits"] == 200
        assert stats["misses"] == 2
        assert stats["errors"] == 0
        assert stats["get_count"] == 202
        assert stats["set_count"] == 200
        assert 0 < stats["get_p50_seconds"] <= stats["get_p99_seconds"] < DEADLINE
        print(
            f"\nL2 normal latency: get p50 {percentile(gets, 0.5) * 1e3:.3f} ms, "
            f"p99 {percentile(gets, 0.99) * 1e3:.3f} ms; set p50 "
            f"{percentile(sets, 0.5) * 1e3:.3f} ms, p99 {percentile(sets, 0.99) * 1e3:.3f} ms"
        )


async def test_ttl_expires(redis_server: RedisServer) -> None:
    async with open_store(redis_server.url) as store, raw_client(redis_server) as raw:
        await store.set("short", b"x", 0.15)
        assert 0 < await raw.pttl("short") <= 150
        assert await store.get("short") == b"x"
        await asyncio.sleep(0.3)
        assert await store.get("short") is None
        await store.set("never", b"x", 0)  # nothing to keep: not written
        assert await raw.exists("never") == 0


async def test_delete_prefix_scans_and_unlinks_in_batches(redis_server: RedisServer) -> None:
    prefix = "chemagent:v1:properties:"
    async with open_store(redis_server.url, deadline_seconds=0.5) as store:
        async with raw_client(redis_server) as raw:
            async with raw.pipeline(transaction=False) as pipe:
                for n in range(1200):
                    pipe.set(f"{prefix}{n}", b"x")
                for n in range(50):
                    pipe.set(f"chemagent:v1:similarity:{n}", b"x")
                pipe.set("chemagent:v1:properties*other", b"x")  # '*' in a key, not a glob
                await pipe.execute()
            await raw.config_resetstat()

            assert await store.delete_prefix(prefix) == 1200

            assert await raw.dbsize() == 51
            assert [k async for k in raw.scan_iter(match=f"{prefix}*")] == []
            commands = await raw.info("commandstats")
            assert commands["cmdstat_scan"]["calls"] >= 3  # 1251 keys, COUNT 500
            assert commands["cmdstat_unlink"]["calls"] >= 3  # 1200 keys, pages of ~500
        assert await store.delete_prefix("chemagent:v1:properties*") == 1  # escaped glob
        assert await store.delete_prefix("chemagent:v1:") == 50
        assert await store.delete_prefix("chemagent:") == 0


async def test_lock_is_released_only_by_its_owner(redis_server: RedisServer) -> None:
    async with open_store(redis_server.url) as one, open_store(redis_server.url) as two:
        token = await one.acquire_lock("lock:a", 5000)
        assert token is not None
        assert await two.acquire_lock("lock:a", 5000) is None  # held
        assert await two.release_lock("lock:a", "not-the-token") is False
        assert await two.acquire_lock("lock:a", 5000) is None  # still held
        assert await one.release_lock("lock:a", token) is True
        assert await one.release_lock("lock:a", token) is False  # already released
        other = await two.acquire_lock("lock:a", 5000)
        assert other is not None
        assert other != token


async def test_lock_expires_and_a_late_owner_cannot_release_the_next(
    redis_server: RedisServer,
) -> None:
    async with open_store(redis_server.url) as one, open_store(redis_server.url) as two:
        stale = await one.acquire_lock("lock:b", 100)
        assert stale is not None
        await asyncio.sleep(0.2)
        fresh = await two.acquire_lock("lock:b", 5000)
        assert fresh is not None
        assert await one.release_lock("lock:b", stale) is False  # not its lock any more
        assert await two.acquire_lock("lock:b", 5000) is None  # the new owner kept it


async def test_auth_in_the_url(redis_server: RedisServer) -> None:
    async with raw_client(redis_server) as raw:
        await raw.config_set("requirepass", "s3cr:t@")
    good = redis_server.url.replace("redis://", "redis://:s3cr%3At%40@")
    bad = redis_server.url.replace("redis://", "redis://:wrong@")
    async with open_store(good) as store:
        await store.set("k", b"v", 10)
        assert await store.get("k") == b"v"
        assert store.state == "ok"
    async with open_store(bad) as store:
        assert await store.get("k") is None  # refused: a miss, not an exception
        assert store.state == "degraded"
        assert store.stats()["errors"] == 1


async def test_disabled_store_always_misses() -> None:
    store: L2Store = DisabledL2()
    await store.set("k", b"v", 10)
    assert await store.get("k") is None
    assert await store.delete(["k"]) == 0
    assert await store.delete_prefix("") == 0
    assert await store.acquire_lock("k", 10) is None
    assert await store.release_lock("k", "t") is False
    assert store.state == "disabled"
    assert store.stats() == {}
    await store.aclose()


# --- the pool is bounded -----------------------------------------------------------------


async def test_pool_never_opens_more_than_max_connections(redis_server: RedisServer) -> None:
    """200 concurrent gets share 4 connections: the blocking pool queues, never overflows."""
    async with raw_client(redis_server) as raw:
        await raw.set("hot", b"value")
        received_before = (await raw.info("stats"))["total_connections_received"]
        async with open_store(redis_server.url, max_connections=4, deadline_seconds=2.0) as store:
            results = await asyncio.gather(*(store.get("hot") for _ in range(200)))
            assert results == [b"value"] * 200
            clients = await raw.client_list()
            ours = [c for c in clients if c["name"] == "chemagent-l2"]
            assert len(ours) == 4
            pool = store.client.connection_pool
            assert isinstance(pool, BlockingConnectionPool)
            assert pool.max_connections == 4
        received = (await raw.info("stats"))["total_connections_received"] - received_before
        assert received == 4


# --- Redis going away --------------------------------------------------------------------


async def test_redis_killed_mid_traffic_fails_open_and_recovers(
    redis_server: RedisServer,
) -> None:
    async with open_store(
        redis_server.url, deadline_seconds=DEADLINE, breaker_failures=5, breaker_reset_seconds=0.5
    ) as store:
        after_kill: list[float] = []
        killed = asyncio.Event()

        async def traffic(worker: int) -> None:
            n = 0
            while len(after_kill) < 200:
                n += 1
                key = f"w{worker}:{(n + 1) // 2 % 10}"  # set k, get k, set k+1, ...
                call = store.set(key, b"x", 60) if n % 2 else store.get(key)
                was_killed = killed.is_set()
                _, seconds = await timed(call)  # must not raise
                if was_killed:
                    after_kill.append(seconds)
                await asyncio.sleep(0)

        workers = [asyncio.create_task(traffic(w)) for w in range(4)]
        try:
            await asyncio.sleep(0.05)  # traffic flowing
            assert store.state == "ok"
            assert store.stats()["hits"] > 0
            killed.set()
            redis_server.kill()
            async with asyncio.timeout(10):
                await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

        stats = store.stats()
        worst = max(after_kill)
        assert len(after_kill) >= 200
        assert worst < DEADLINE + SLACK
        assert store.state == "degraded"
        assert stats["breaker_open_count"] >= 1
        assert stats["short_circuits"] > 0
        assert stats["errors"] >= 5

        await asyncio.to_thread(redis_server.start)
        restarted = time.perf_counter()
        while store.state != "ok" and time.perf_counter() - restarted < 3.0:
            await store.get("probe")
            await asyncio.sleep(0.02)
        recovered = time.perf_counter() - restarted
        assert store.state == "ok"
        assert recovered < 3.0
        await store.set("back", b"1", 60)
        assert await store.get("back") == b"1"
        print(
            f"\nL2 with Redis killed: worst call {worst * 1e3:.1f} ms over {len(after_kill)} "
            f"calls; recovered {recovered:.2f} s after restart"
        )


async def test_cancelled_callers_stay_cancelled(redis_server: RedisServer) -> None:
    """A caller cancelled mid-call ends cancelled (Python 3.11's wait_for can swallow it)."""
    async with open_store(redis_server.url) as store:

        async def traffic(worker: int) -> None:
            while True:
                await store.set(f"c{worker}", b"x", 60)
                await store.get(f"c{worker}")

        await assert_cancels_stick(traffic, rounds=5, what="caller")
        assert store.state == "ok"


@pytest.fixture
def silent() -> Iterator[Blackhole]:
    with blackhole() as server:
        yield server


async def test_blackholed_redis_stays_within_the_deadline(silent: Blackhole) -> None:
    async with open_store(
        silent.url, deadline_seconds=DEADLINE, breaker_failures=5, breaker_reset_seconds=0.3
    ) as store:
        first: list[float] = []
        for n in range(5):
            value, seconds = await timed(store.get(f"k{n}"))
            assert value is None
            first.append(seconds)
        assert store.stats()["timeouts"] == 5
        assert store.stats()["breaker_open_count"] == 1
        assert min(first) >= DEADLINE * 0.9  # really waited on the silent server
        assert max(first) < DEADLINE + SLACK

        skipped: list[float] = []
        for _ in range(50):
            _, seconds = await timed(store.set("k", b"v", 60))
            skipped.append(seconds)
        assert await store.acquire_lock("lock", 1000) is None
        assert await store.delete_prefix("chemagent:") == 0
        assert max(skipped) < 0.005  # short-circuited: no socket touched
        assert store.stats()["short_circuits"] >= 52
        assert 1 <= len(silent.accepted) <= 5  # no connection opened while open

        await asyncio.sleep(0.35)  # past the reset: one probe, the others still skip
        results = await asyncio.gather(*(timed(store.get("k")) for _ in range(20)))
        probing = sorted(s for _, s in results)
        assert all(value is None for value, _ in results)
        assert DEADLINE * 0.9 <= probing[-1] < DEADLINE + SLACK  # the probe, timing out
        assert probing[-2] < 0.005  # everyone else skipped while it probed
        assert store.stats()["breaker_open_count"] == 2
        assert store.state == "degraded"
        print(
            f"\nL2 blackholed: worst {max(first + probing) * 1e3:.1f} ms (deadline "
            f"{DEADLINE * 1e3:.0f} ms); short-circuited worst {max(skipped) * 1e6:.0f} µs"
        )


async def test_nothing_listening_fails_fast() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with open_store(url, breaker_failures=2) as store:
        results = [await timed(store.get("k")) for _ in range(10)]
        assert all(value is None for value, _ in results)
        assert max(s for _, s in results) < DEADLINE + SLACK
        assert store.stats()["errors"] == 2
        assert store.stats()["short_circuits"] == 8


# --- URLs ----------------------------------------------------------------------------------


def test_tls_url_builds_an_ssl_pool_with_short_timeouts_and_no_retries() -> None:
    store = RedisL2.from_url(
        "rediss://user:p%40ss@cache.example:6380/2?ssl_cert_reqs=none",
        deadline_seconds=0.08,
        max_connections=7,
        health_check_interval=15,
    )
    client = store.client
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.connection_class is SSLConnection
    assert (pool.max_connections, pool.timeout) == (7, 0.08)
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example", 6380, 2)
    assert (kwargs["username"], kwargs["password"]) == ("user", "p@ss")
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.08
    assert kwargs["retry"].get_retries() == 0
    assert kwargs["health_check_interval"] == 15
    assert kwargs["ssl_cert_reqs"] == "none"


def test_sentinel_url() -> None:
    url = "redis+sentinel://app:pw@s1:26379,s2,[::1]:26380/mymaster/3?sentinel_password=sp"
    parsed = parse_redis_url(url)
    assert parsed.mode == "sentinel"
    assert parsed.hosts == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (parsed.service, parsed.db) == ("mymaster", 3)
    assert (parsed.username, parsed.password) == ("app", "pw")
    assert "pw" not in repr(parsed)

    store = RedisL2.from_url(url, deadline_seconds=0.05, max_connections=9)
    client = store.client
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert isinstance(pool, _BlockingSentinelPool)
    assert isinstance(pool, BlockingConnectionPool)  # waits, bounded
    assert (pool.service_name, pool.max_connections, pool.timeout) == ("mymaster", 9, 0.05)
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["retry"].get_retries() == 0
    sentinels = pool.sentinel_manager.sentinels
    assert len(sentinels) == 3
    node = sentinels[0].connection_pool.connection_kwargs
    assert (node["host"], node["port"], node["password"]) == ("s1", 26379, "sp")
    assert node["socket_timeout"] == 0.05
    assert node["retry"].get_retries() == 0


def test_tls_sentinel_url() -> None:
    store = RedisL2.from_url("rediss+sentinel://s1/mymaster?ssl_cert_reqs=none")
    pool = store.client.connection_pool
    assert "SSL" in pool.connection_class.__name__
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"


def test_cluster_url() -> None:
    url = "rediss+cluster://:pw@n1:7000,n2:7001?ssl_check_hostname=false"
    parsed = parse_redis_url(url)
    assert parsed.mode == "cluster"
    assert parsed.tls
    assert parsed.hosts == (("n1", 7000), ("n2", 7001))
    store = RedisL2.from_url(url, max_connections=6)
    client = store.client
    assert isinstance(client, RedisCluster)
    nodes = client.nodes_manager.startup_nodes
    assert sorted(nodes) == ["n1:7000", "n2:7001"]
    kwargs = client.nodes_manager.connection_kwargs
    assert kwargs["password"] == "pw"
    assert kwargs["connection_class"] is SSLConnection
    assert kwargs["ssl_check_hostname"] is False
    assert kwargs["max_connections"] == 6
    assert client.retry.get_retries() == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cache:6379", "scheme must be one of"),
        ("cache:6379", "scheme must be one of"),
        ("redis+sentinel://s1:26379", "master name"),
        ("redis+sentinel://s1:26379/m/x", "one number"),
        ("redis+sentinel://s1:port/m", "bad port"),
        ("redis+cluster://n1:7000/2", "only database 0"),
        ("redis+cluster://n1:7000?socket_timeout=9", "unknown option"),
        ("redis+cluster://", "host is empty"),
    ],
)
def test_bad_urls_fail_with_a_sentence(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisL2.from_url(url)


# --- real Sentinel and Cluster (the same redis-server binary in another mode) -----------


@contextlib.contextmanager
def spawn_redis(args: list[str], port: int, workdir: Path) -> Iterator[None]:
    """A redis-server (or sentinel) on ``port``, ready for PING; killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; run scripts/install-system-deps.sh")
    log = workdir / f"redis-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, *args], cwd=workdir, stdout=out, stderr=out)
    try:
        probe = RedisServer.__new__(RedisServer)
        probe.port = port
        deadline = time.monotonic() + 10
        while not probe.ping():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server {' '.join(args)} did not start:\n{log.read_text()}")
            time.sleep(0.02)
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


async def exercise(store: RedisL2) -> None:
    """What the tiered cache does with L2, in one pass."""
    for n in range(30):
        await store.set(f"chemagent:v1:x:{n}", b"%d" % n, 60)
    assert await store.get("chemagent:v1:x:7") == b"7"
    assert await store.delete(["chemagent:v1:x:0", "chemagent:v1:x:1"]) == 2
    token = await store.acquire_lock("chemagent:lock:x", 5000)
    assert token is not None
    assert await store.acquire_lock("chemagent:lock:x", 5000) is None
    assert await store.release_lock("chemagent:lock:x", token) is True
    assert await store.delete_prefix("chemagent:v1:") == 28
    assert await store.get("chemagent:v1:x:7") is None
    assert store.state == "ok"
    assert store.stats()["errors"] == 0


async def test_sentinel_finds_the_master(redis_server: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
    )
    with spawn_redis([str(config), "--sentinel"], port, tmp_path):
        url = f"redis+sentinel://127.0.0.1:{port}/mymaster/0"
        async with open_store(url, deadline_seconds=0.5) as store:
            await exercise(store)
        async with raw_client(redis_server) as raw:
            assert await raw.dbsize() == 0  # the master really is the one the test owns


async def test_cluster_of_one_node(tmp_path: Path) -> None:
    port = free_port()
    args = [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"),
        "--cluster-port", str(free_port()),  # the default, port + 10000, may exceed 65535
    ]  # fmt: skip
    with spawn_redis(args, port, tmp_path):
        async with Redis(host="127.0.0.1", port=port) as admin:
            await admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in await admin.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "the one-node cluster never became ok"
                await asyncio.sleep(0.05)
        async with open_store(f"redis+cluster://127.0.0.1:{port}", deadline_seconds=0.5) as store:
            assert isinstance(store.client, RedisCluster)
            await exercise(store)
