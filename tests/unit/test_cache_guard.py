"""The Redis call guard: deadline, breaker, failing open, and cancellation never lost.

No Redis here: the guarded "calls" are coroutines that answer, fail, hang or swallow a
cancellation on purpose; the client is built but never connects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from chemagent.cache.breaker import CircuitBreaker
from chemagent.cache.guard import FAILED, GuardedRedis, Role

pytestmark = pytest.mark.anyio

DEADLINE = 0.05


class Recorder:
    """A CacheTelemetry that keeps the operations it is told about."""

    def __init__(self) -> None:
        self.operations: list[tuple[str, str]] = []

    def request(self, tier: str, result: str) -> None:
        pass

    def operation(self, tier: str, op: str, seconds: float) -> None:
        self.operations.append((tier, op))

    def computed(self, kind: str) -> None:
        pass

    def l1_usage(self, entries: int, size: int, evictions: int) -> None:
        pass

    def l2_state(self, state: str) -> None:
        pass


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never used: no I/O happens
    yield redis
    await redis.aclose()


def guard_on(client: Redis, **kwargs: Any) -> GuardedRedis:
    kwargs.setdefault("deadline_seconds", DEADLINE)
    return GuardedRedis(client, **kwargs)


async def answer(value: Any = "ok") -> Any:
    return value


async def refuse() -> None:
    raise RedisConnectionError("connection refused")


async def hang() -> None:
    await asyncio.sleep(10)


async def test_an_answer_is_returned_timed_and_reported(client: Redis) -> None:
    telemetry = Recorder()
    guard = guard_on(client, telemetry=telemetry, role=Role(tier="l2", timed_ops=("get",)))
    assert await guard.run("get", answer) == "ok"
    assert await guard.run("get", lambda: answer(None)) is None  # a None reply is not FAILED
    assert await guard.run("publish", answer) == "ok"
    stats = guard.stats()
    assert guard.state == "ok"
    assert stats["get_count"] == 2
    assert "publish_count" not in stats  # only the role's timed operations
    assert (stats["errors"], stats["timeouts"], stats["short_circuits"]) == (0, 0, 0)
    assert telemetry.operations == [("l2", "get"), ("l2", "get"), ("l2", "publish")]


async def test_a_failure_is_failed_and_degrades_until_the_next_success(client: Redis) -> None:
    states: list[str] = []
    guard = guard_on(client, on_state=states.append)
    assert await guard.run("get", refuse) is FAILED
    assert guard.state == "degraded"
    assert await guard.run("get", refuse) is FAILED
    assert await guard.run("get", answer) == "ok"
    assert guard.state == "ok"
    assert states == ["degraded", "ok"]  # transitions only, not every call
    assert guard.stats()["errors"] == 2


async def test_a_silent_call_is_bounded_by_the_deadline(client: Redis) -> None:
    guard = guard_on(client)
    started = time.perf_counter()
    assert await guard.run("get", hang) is FAILED
    waited = time.perf_counter() - started
    assert DEADLINE * 0.9 <= waited < DEADLINE + 0.1
    assert guard.stats()["timeouts"] == 1


async def test_the_breaker_skips_redis_after_consecutive_failures(client: Redis) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_seconds=5, clock=lambda: now[0])
    guard = guard_on(client, breaker=breaker)
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    assert await guard.run("get", refuse) is FAILED
    assert await guard.run("get", refuse) is FAILED
    assert await guard.run("get", counted) is FAILED  # open: not even tried
    assert calls == 0
    assert guard.stats()["short_circuits"] == 1
    assert guard.stats()["breaker_open"] == 1
    now[0] = 5.0  # past the reset: one probe goes through and closes it
    assert await guard.run("get", counted) == "ok"
    assert calls == 1
    assert guard.state == "ok"


async def test_a_swallowed_cancellation_is_raised_again(client: Redis) -> None:
    """redis-py on 3.11 can return normally although its caller was cancelled."""
    guard = guard_on(client, deadline_seconds=5.0)
    entered = asyncio.Event()

    async def swallows_cancel() -> str:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "answered anyway"  # what asyncio.wait_for does on 3.11
        return "never"

    task = asyncio.create_task(guard.run("get", swallows_cancel))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert guard.state == "ok"  # Redis answered: no verdict against it


async def test_a_cancelled_probe_frees_the_probe_slot(client: Redis) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=1, reset_seconds=1, clock=lambda: now[0])
    guard = guard_on(client, breaker=breaker, deadline_seconds=5.0)
    assert await guard.run("get", refuse) is FAILED
    now[0] = 1.0
    probe = asyncio.create_task(guard.run("get", hang))
    await asyncio.sleep(0.01)
    assert await guard.run("get", answer) is FAILED  # the probe is in flight: skipped
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await guard.run("get", answer) == "ok"  # the next caller may probe


async def test_max_in_flight_bounds_concurrent_calls(client: Redis) -> None:
    guard = guard_on(client, max_in_flight=3, deadline_seconds=1.0)
    running = peak = 0

    async def tracked() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return 1

    results = await asyncio.gather(*(guard.run("get", tracked) for _ in range(12)))
    assert results == [1] * 12
    assert peak == 3


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="deadline_seconds must be positive"):
        GuardedRedis(Redis(), deadline_seconds=0)
