"""The tiered step cache: L1 -> L2 -> compute, single-flight, negatives, XFetch, locks.

Deterministic: a fake clock, scripted random draws, and an in-memory L2 that implements
the ``L2Store`` protocol (expiring entries on the same fake clock).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from chemagent.cache.codec import Envelope, decode, encode
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import L2Store
from chemagent.cache.negative import NotFoundErrors
from chemagent.cache.policy import CachePolicy
from chemagent.cache.tiered import OFFLOAD_ABOVE, TieredCache
from chemagent.errors import CompoundNotFound, NotFound, UpstreamUnavailable
from chemagent.execution.step import Step

pytestmark = pytest.mark.anyio

NS = CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "36")
T0 = 1_000_000.0
SIM = Step.of("similarity", "CCO", threshold=0.7)
PROPS = Step.of("properties", "CCO")


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeL2:
    """An in-memory L2Store on the fake clock; ``failing`` makes it fail open like Redis down."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.state = "ok"
        self.failing = False
        self.data: dict[str, tuple[bytes, float]] = {}
        self.locks: dict[str, str] = {}
        self.ttls: dict[str, float] = {}
        self.calls: Counter[str] = Counter()
        self.gets: Counter[str] = Counter()
        self.before_read: Callable[[str], Awaitable[None]] | None = None
        self.before_answer: Callable[[str], Awaitable[None]] | None = None

    def _fail(self) -> bool:
        self.state = "degraded" if self.failing else "ok"
        return self.failing

    async def get(self, key: str) -> bytes | None:
        self.calls["get"] += 1
        self.gets[key] += 1
        if self.before_read is not None:
            await self.before_read(key)
        if self._fail():
            return None
        value, expires = self.data.get(key, (b"", 0.0))
        answer = value if self.clock() < expires else None
        if self.before_answer is not None:
            await self.before_answer(key)
        return answer

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.calls["set"] += 1
        if not self._fail():
            self.data[key] = (value, self.clock() + ttl_seconds)
            self.ttls[key] = ttl_seconds

    async def delete(self, keys: Sequence[str]) -> int:
        if self._fail():
            return 0
        return sum(self.data.pop(key, None) is not None for key in keys)

    async def delete_prefix(self, prefix: str) -> int:
        if self._fail():
            return 0
        doomed = [key for key in self.data if key.startswith(prefix)]
        for key in doomed:
            del self.data[key]
        return len(doomed)

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        self.calls["acquire_lock"] += 1
        if self._fail() or key in self.locks:
            return None
        self.locks[key] = token = f"token-{self.calls['acquire_lock']}"
        return token

    async def release_lock(self, key: str, token: str) -> bool:
        self.calls["release_lock"] += 1
        if self._fail() or self.locks.get(key) != token:
            return False
        del self.locks[key]
        return True

    def stats(self) -> dict[str, float | int]:
        return {"calls": sum(self.calls.values())}

    async def aclose(self) -> None:
        return None


class Draws(random.Random):
    """A random source returning scripted draws (the last one repeats)."""

    def __init__(self, *draws: float) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0) if len(self.draws) > 1 else self.draws[0]


class Computation:
    """A compute callable: counts calls, may take (fake) time, wait on a gate, or fail."""

    def __init__(
        self,
        *values: Any,
        clock: FakeClock | None = None,
        takes: float = 0.0,
        error: BaseException | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.values = list(values) or [{"hits": ["CHEMBL25"]}]
        self.clock, self.takes, self.error, self.gate = clock, takes, error, gate
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.clock is not None:
            self.clock.advance(self.takes)
        if self.error is not None:
            raise self.error
        return self.values[min(self.calls, len(self.values)) - 1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def l2(clock: FakeClock) -> FakeL2:
    return FakeL2(clock)


MakeCache = Callable[..., TieredCache]


@pytest.fixture
def make_cache(clock: FakeClock, l2: FakeL2) -> MakeCache:
    def make(
        *,
        policy: CachePolicy | None = None,
        namespace: CacheNamespace = NS,
        store: L2Store | None = None,
        l1_size: int = 100,
        rng: random.Random | None = None,
        **kwargs: Any,
    ) -> TieredCache:
        return TieredCache(
            L1Cache(l1_size, clock=clock),
            store if store is not None else l2,
            policy or CachePolicy(l1_max_ttl=None),
            namespace,
            clock=clock,
            rng=rng or Draws(0.999),  # ln(0.999) ~ -0.001: no early refresh unless asked
            **kwargs,
        )

    return make


async def settle() -> None:
    """Let background tasks run to completion (they only await already-done things)."""
    for _ in range(20):
        await asyncio.sleep(0)


# --- the read path -------------------------------------------------------------------


async def test_miss_writes_both_tiers_then_l1_hits(make_cache: MakeCache, l2: FakeL2) -> None:
    cache = make_cache()
    compute = Computation({"hits": [1]})
    assert await cache.get_or_compute(SIM, 1, compute) == ({"hits": [1]}, "miss")
    key = cache.key_for(SIM, 1)
    assert decode(l2.data[key][0]).value == {"hits": [1]}
    assert l2.ttls[key] == 86_400
    assert await cache.get_or_compute(SIM, 1, compute) == ({"hits": [1]}, "l1")
    assert compute.calls == 1
    stats = cache.stats()
    assert stats["l1"]["hits"] == 1
    assert stats["l1"]["misses"] == 1
    assert stats["l2"]["misses"] == 1
    assert stats["computes"] == 1
    assert stats["l1"]["entries"] == 1
    assert stats["l1"]["latency_count"] == 2


async def test_l2_hit_promotes_to_l1_with_the_remaining_ttl(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    policy = CachePolicy(ttl={"similarity": 100.0}, l1_max_ttl=None)
    pod_a, pod_b = make_cache(policy=policy), make_cache(policy=policy)
    await pod_a.get_or_compute(SIM, 1, Computation("a"))
    clock.advance(60)
    other = Computation("b")
    assert await pod_b.get_or_compute(SIM, 1, other) == ("a", "l2")
    assert await pod_b.get_or_compute(SIM, 1, other) == ("a", "l1")
    clock.advance(39.9)
    assert await pod_b.get_or_compute(SIM, 1, other) == ("a", "l1")
    clock.advance(0.1)  # 100 s after pod A computed it: gone from B's L1 too
    assert await pod_b.get_or_compute(SIM, 1, other) == ("b", "miss")
    assert other.calls == 1
    assert pod_b.stats()["l2"]["hits"] == 1


async def test_l1_max_ttl_caps_l1_but_not_l2(make_cache: MakeCache, clock: FakeClock) -> None:
    cache = make_cache(policy=CachePolicy(l1_max_ttl=5.0))
    compute = Computation("v")
    await cache.get_or_compute(SIM, 1, compute)
    clock.advance(5)
    assert await cache.get_or_compute(SIM, 1, compute) == ("v", "l2")
    assert compute.calls == 1


async def test_ttl_per_kind(make_cache: MakeCache, clock: FakeClock, l2: FakeL2) -> None:
    policy = CachePolicy(default_ttl=100.0, ttl={"similarity": 10.0}, l1_max_ttl=None)
    cache = make_cache(policy=policy)
    sim, props = Computation("s1", "s2"), Computation("p1", "p2")
    await cache.get_or_compute(SIM, 1, sim)
    await cache.get_or_compute(PROPS, 1, props)
    assert l2.ttls[cache.key_for(SIM, 1)] == 10
    assert l2.ttls[cache.key_for(PROPS, 1)] == 100
    clock.advance(9.99)
    assert await cache.get_or_compute(SIM, 1, sim) == ("s1", "l1")
    clock.advance(0.01)
    assert await cache.get_or_compute(SIM, 1, sim) == ("s2", "miss")
    assert await cache.get_or_compute(PROPS, 1, props) == ("p1", "l1")
    clock.advance(90)
    assert await cache.get_or_compute(PROPS, 1, props) == ("p2", "miss")


async def test_step_version_is_part_of_the_key(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.get_or_compute(SIM, 1, Computation("v1"))
    assert await cache.get_or_compute(SIM, 2, Computation("v2")) == ("v2", "miss")
    assert await cache.get_or_compute(SIM, 1, Computation("x")) == ("v1", "l1")


async def test_uncacheable_kinds_are_computed_every_time(make_cache: MakeCache, l2: FakeL2) -> None:
    cache = make_cache()
    compute = Computation({"records": []})
    step = Step.of("keep", "[]", where="mw < 500")
    for _ in range(3):
        assert await cache.get_or_compute(step, 1, compute) == ({"records": []}, "miss")
    assert compute.calls == 3
    assert not l2.calls
    assert cache.stats()["bypassed"] == 3


async def test_local_only_kinds_never_touch_l2(make_cache: MakeCache, l2: FakeL2) -> None:
    cache = make_cache()
    compute = Computation({"chembl_id": "CHEMBL25"})
    step = Step.of("compound", "CHEMBL25")
    await cache.get_or_compute(step, 1, compute)
    assert await cache.get_or_compute(step, 1, compute) == ({"chembl_id": "CHEMBL25"}, "l1")
    assert not l2.calls
    assert compute.calls == 1


async def test_l1_disabled_reads_l2_every_time(make_cache: MakeCache) -> None:
    cache = make_cache(l1_size=0)
    compute = Computation("v")
    await cache.get_or_compute(SIM, 1, compute)
    assert await cache.get_or_compute(SIM, 1, compute) == ("v", "l2")
    assert await cache.get_or_compute(SIM, 1, compute) == ("v", "l2")
    assert compute.calls == 1
    assert cache.stats()["l1"]["entries"] == 0


async def test_large_values_round_trip_through_l2(make_cache: MakeCache, l2: FakeL2) -> None:
    noise = random.Random(7)
    records = [{"chembl_id": f"CHEMBL{i}", "x": noise.randbytes(30).hex()} for i in range(8000)]
    assert len(encode(Envelope(records, 0, 0, 0))) > OFFLOAD_ABOVE // 4  # decoded in a thread
    pod_a, pod_b = make_cache(), make_cache()
    await pod_a.get_or_compute(PROPS, 1, Computation(records))
    assert decode(l2.data[pod_a.key_for(PROPS, 1)][0]).value == records
    assert await pod_b.get_or_compute(PROPS, 1, Computation("x")) == (records, "l2")


# --- errors and negative entries ------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [UpstreamUnavailable("ChEMBL is down."), ValueError("a bug"), TimeoutError()],
    ids=["service-error", "bug", "timeout"],
)
async def test_errors_are_never_cached(make_cache: MakeCache, l2: FakeL2, error: Exception) -> None:
    cache = make_cache()
    compute = Computation(error=error)
    for _ in range(2):
        with pytest.raises(type(error)):
            await cache.get_or_compute(SIM, 1, compute)
    assert compute.calls == 2
    assert not l2.data
    assert cache.stats()["compute_errors"] == 2


async def test_not_found_is_cached_for_the_negative_ttl(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    cache = make_cache(policy=CachePolicy(negative_ttl=60.0, l1_max_ttl=None))
    original = CompoundNotFound("No compound named 'asprin'.", ["aspirin"])
    compute = Computation(error=original)
    step = Step.of("resolve", "asprin")
    with pytest.raises(CompoundNotFound) as first:
        await cache.get_or_compute(step, 1, compute)
    assert first.value is original
    assert l2.ttls[cache.key_for(step, 1)] == 60
    clock.advance(59.9)
    with pytest.raises(CompoundNotFound) as again:
        await cache.get_or_compute(step, 1, compute)
    assert again.value is not original
    assert again.value.detail == original.detail
    assert again.value.suggestions == ["aspirin"]
    assert compute.calls == 1
    clock.advance(0.1)
    with pytest.raises(CompoundNotFound):
        await cache.get_or_compute(step, 1, compute)
    assert compute.calls == 2
    stats = cache.stats()
    assert stats["negative_stored"] == 2
    assert stats["negative_hits"] == 1


async def test_negative_entry_is_shared_through_l2(make_cache: MakeCache) -> None:
    pod_a, pod_b = make_cache(), make_cache()
    step = Step.of("compound", "CHEMBL0")  # local-only: stays in pod A
    with pytest.raises(NotFound):
        await pod_a.get_or_compute(step, 1, Computation(error=NotFound("No CHEMBL0.")))
    step = Step.of("resolve", "CHEMBL0")
    with pytest.raises(NotFound):
        await pod_a.get_or_compute(step, 1, Computation(error=NotFound("No CHEMBL0.")))
    compute = Computation("found")
    with pytest.raises(NotFound, match=r"No CHEMBL0\."):
        await pod_b.get_or_compute(step, 1, compute)
    assert compute.calls == 0


def test_not_found_errors_payloads() -> None:
    negatives = NotFoundErrors()
    assert negatives.dump(UpstreamUnavailable("down")) is None
    assert negatives.dump(ValueError("x")) is None
    payload = negatives.dump(NotFound("No such target."))
    assert payload == {"code": "not_found", "detail": "No such target.", "status": 404}
    rebuilt = negatives.load(payload)
    assert type(rebuilt) is NotFound
    assert str(rebuilt) == "No such target."
    unknown = negatives.load({"code": "from_a_newer_release", "detail": "Gone."})
    assert type(unknown) is NotFound
    assert str(unknown) == "Gone."


# --- single-flight -------------------------------------------------------------------


async def test_48_concurrent_cold_calls_compute_once(make_cache: MakeCache) -> None:
    cache = make_cache()
    gate = asyncio.Event()
    compute = Computation({"hits": 48}, gate=gate)
    calls = [asyncio.create_task(cache.get_or_compute(SIM, 1, compute)) for _ in range(48)]
    await settle()
    assert compute.calls == 1
    assert cache.stats()["in_flight"] == 1
    gate.set()
    results = await asyncio.gather(*calls)
    assert results == [({"hits": 48}, "miss")] * 48
    assert compute.calls == 1
    assert cache.stats()["coalesced"] == 47
    assert cache.stats()["in_flight"] == 0


async def test_single_flight_shares_an_error_without_caching_it(make_cache: MakeCache) -> None:
    cache = make_cache()
    gate = asyncio.Event()
    compute = Computation(error=UpstreamUnavailable("down"), gate=gate)
    calls = [asyncio.create_task(cache.get_or_compute(SIM, 1, compute)) for _ in range(5)]
    await settle()
    gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert compute.calls == 1
    with pytest.raises(UpstreamUnavailable):
        await cache.get_or_compute(SIM, 1, compute)
    assert compute.calls == 2


async def test_cancelled_first_caller_does_not_fail_the_others(make_cache: MakeCache) -> None:
    cache = make_cache()
    gate = asyncio.Event()
    compute = Computation("v", gate=gate)
    first = asyncio.create_task(cache.get_or_compute(SIM, 1, compute))
    await settle()
    others = [asyncio.create_task(cache.get_or_compute(SIM, 1, compute)) for _ in range(47)]
    await settle()
    first.cancel()
    await settle()
    assert first.cancelled()
    gate.set()
    assert await asyncio.gather(*others) == [("v", "miss")] * 47
    assert compute.calls == 1


async def test_computation_is_stored_even_when_every_caller_gave_up(
    make_cache: MakeCache,
) -> None:
    cache = make_cache()
    gate = asyncio.Event()
    compute = Computation("v", gate=gate)
    caller = asyncio.create_task(cache.get_or_compute(SIM, 1, compute))
    await settle()
    caller.cancel()
    await settle()
    gate.set()
    await settle()
    assert await cache.get_or_compute(SIM, 1, compute) == ("v", "l1")
    assert compute.calls == 1


async def test_late_l2_miss_uses_the_value_computed_meanwhile(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache()
    answered, gate = asyncio.Event(), asyncio.Event()

    async def first_answer_arrives_late(_: str) -> None:
        if not answered.is_set():  # the miss is decided now, delivered after the gate
            answered.set()
            await gate.wait()

    l2.before_answer = first_answer_arrives_late
    compute = Computation("v")
    slow = asyncio.create_task(cache.get_or_compute(PROPS, 1, compute))
    await answered.wait()
    assert await cache.get_or_compute(PROPS, 1, compute) == ("v", "miss")
    gate.set()
    assert await slow == ("v", "l1")
    assert compute.calls == 1


# --- XFetch --------------------------------------------------------------------------


async def _warm(cache: TieredCache, clock: FakeClock, *, delta: float) -> Computation:
    """Compute SIM at T0 taking ``delta`` s: expires at T0 + delta + TTL (100 s)."""
    compute = Computation("old", "new", clock=clock, takes=delta)
    await cache.get_or_compute(SIM, 1, compute)
    compute.takes = 0.0
    return compute


XFETCH_POLICY = CachePolicy(ttl={"similarity": 100.0}, l1_max_ttl=None)


@pytest.mark.parametrize("beta", [1.0, 2.5])
async def test_xfetch_refreshes_exactly_when_the_formula_says(
    make_cache: MakeCache, clock: FakeClock, beta: float
) -> None:
    draw, delta = 0.25, 2.0
    cache = make_cache(policy=XFETCH_POLICY, rng=Draws(draw), xfetch_beta=beta)
    compute = await _warm(cache, clock, delta=delta)
    expires_at = T0 + delta + 100.0
    boundary = expires_at + delta * beta * math.log(draw)  # now - d*b*ln(r) >= expiry
    clock.now = boundary - 1e-6
    assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")
    await settle()
    assert compute.calls == 1
    assert cache.stats()["refreshes"] == 0
    clock.now = boundary + 1e-6
    assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")
    await settle()
    assert compute.calls == 2
    assert cache.stats()["refreshes"] == 1
    assert await cache.get_or_compute(SIM, 1, compute) == ("new", "l1")


async def test_xfetch_follows_a_seeded_rng(make_cache: MakeCache, clock: FakeClock) -> None:
    delta, beta, seed = 5.0, 1.0, 1234
    cache = make_cache(policy=XFETCH_POLICY, rng=random.Random(seed), xfetch_beta=beta)
    compute = await _warm(cache, clock, delta=delta)
    expires_at = T0 + delta + 100.0
    reference = random.Random(seed)
    clock.now = expires_at - 30.0
    expected_hit = None
    for hit in range(3000):  # one hit per 10 ms over the last 30 s of the value's life
        due = clock.now - delta * beta * math.log(reference.random()) >= expires_at
        value, _ = await cache.get_or_compute(SIM, 1, compute)
        await settle()
        if due:
            expected_hit = hit
            break
        assert compute.calls == 1, f"refreshed early at hit {hit}"
        clock.advance(0.01)
    assert expected_hit is not None
    assert expected_hit > 0
    assert value == "old"
    assert compute.calls == 2


async def test_xfetch_never_fires_for_instant_computations_or_beta_zero(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    for delta, beta in ((0.0, 1.0), (3.0, 0.0)):
        cache = make_cache(
            policy=XFETCH_POLICY, rng=Draws(1e-300), xfetch_beta=beta, store=FakeL2(clock)
        )
        compute = await _warm(cache, clock, delta=delta)
        clock.advance(99.0)
        await cache.get_or_compute(SIM, 1, compute)
        await settle()
        assert compute.calls == 1
        clock.now = T0


async def test_a_zero_draw_refreshes_at_once(make_cache: MakeCache, clock: FakeClock) -> None:
    cache = make_cache(policy=XFETCH_POLICY, rng=Draws(0.0))  # ln(0) = -inf
    compute = await _warm(cache, clock, delta=0.5)
    assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")
    await settle()
    assert compute.calls == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"lock_poll_seconds": 0.0}, {"lock_wait_seconds": -1.0}, {"xfetch_beta": -0.5}],
)
def test_bad_tuning_is_refused(make_cache: MakeCache, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="lock_poll_seconds must be positive"):
        make_cache(**kwargs)


async def test_background_refresh_runs_once(make_cache: MakeCache, clock: FakeClock) -> None:
    cache = make_cache(policy=XFETCH_POLICY, rng=Draws(1e-300))  # always due
    compute = await _warm(cache, clock, delta=1.0)
    gate = asyncio.Event()
    compute.gate = gate
    for _ in range(10):
        assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")
        await settle()
    assert compute.calls == 2
    assert cache.stats()["refreshes"] == 1
    gate.set()
    await settle()
    assert await cache.get_or_compute(SIM, 1, compute) == ("new", "l1")


async def test_failed_background_refresh_keeps_the_value(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    cache = make_cache(policy=XFETCH_POLICY, rng=Draws(1e-300))
    compute = await _warm(cache, clock, delta=1.0)
    compute.error = UpstreamUnavailable("down")
    assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")
    await settle()
    assert cache.stats()["refresh_errors"] == 1
    assert await cache.get_or_compute(SIM, 1, compute) == ("old", "l1")


async def test_aclose_cancels_background_refreshes(make_cache: MakeCache, clock: FakeClock) -> None:
    cache = make_cache(policy=XFETCH_POLICY, rng=Draws(1e-300))
    compute = await _warm(cache, clock, delta=1.0)
    compute.gate = asyncio.Event()
    await cache.get_or_compute(SIM, 1, compute)
    await settle()
    assert cache.stats()["in_flight"] == 1
    await cache.aclose()
    assert cache.stats()["in_flight"] == 0


# --- stale windows -------------------------------------------------------------------

TARGETS = Step.of("targets", "CHEMBL25")
STALE_POLICY = CachePolicy(
    ttl={"targets": 10.0},
    stale_while_revalidate={"targets": 5.0},
    stale_if_error={"targets": 100.0},
    l1_max_ttl=None,
)


async def test_stale_while_revalidate(make_cache: MakeCache, clock: FakeClock, l2: FakeL2) -> None:
    cache = make_cache(policy=STALE_POLICY)
    compute = Computation("old", "new")
    await cache.get_or_compute(TARGETS, 1, compute)
    assert l2.ttls[cache.key_for(TARGETS, 1)] == 110  # kept for the stale-if-error window
    clock.advance(12)
    assert await cache.get_or_compute(TARGETS, 1, compute) == ("old", "stale")
    await settle()
    assert compute.calls == 2
    assert await cache.get_or_compute(TARGETS, 1, compute) == ("new", "l1")
    assert cache.stats()["l1"]["stale"] == 1


async def test_stale_if_error(make_cache: MakeCache, clock: FakeClock) -> None:
    cache = make_cache(policy=STALE_POLICY)
    compute = Computation("old")
    await cache.get_or_compute(TARGETS, 1, compute)
    clock.advance(50)  # past stale-while-revalidate, within stale-if-error
    compute.error = UpstreamUnavailable("ChEMBL is down.")
    assert await cache.get_or_compute(TARGETS, 1, compute) == ("old", "stale")
    assert cache.stats()["stale_if_error"] == 1
    compute.error = None
    compute.values = ["new"]
    assert await cache.get_or_compute(TARGETS, 1, compute) == ("new", "miss")
    clock.advance(10 + 100)  # past both windows: the error goes through
    compute.error = UpstreamUnavailable("ChEMBL is down.")
    with pytest.raises(UpstreamUnavailable):
        await cache.get_or_compute(TARGETS, 1, compute)


async def test_stale_if_error_does_not_hide_a_not_found(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    cache = make_cache(policy=STALE_POLICY)
    compute = Computation("old")
    await cache.get_or_compute(TARGETS, 1, compute)
    clock.advance(50)
    compute.error = NotFound("CHEMBL25 was withdrawn.")
    with pytest.raises(NotFound):
        await cache.get_or_compute(TARGETS, 1, compute)


async def test_kinds_without_windows_are_not_served_stale(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    cache = make_cache(policy=XFETCH_POLICY, xfetch_beta=0.0)
    compute = Computation("old", "new")
    await cache.get_or_compute(SIM, 1, compute)
    clock.advance(100)
    assert await cache.get_or_compute(SIM, 1, compute) == ("new", "miss")


async def test_expired_value_from_a_pod_with_longer_windows_is_a_miss(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    keeper = make_cache(policy=STALE_POLICY)  # keeps targets 100 s past expiry in L2
    await keeper.get_or_compute(TARGETS, 1, Computation("old"))
    clock.advance(50)
    no_windows = CachePolicy(ttl={"targets": 10.0}, stale_while_revalidate={}, stale_if_error={})
    strict = make_cache(policy=no_windows)
    compute = Computation("new")
    assert await strict.get_or_compute(TARGETS, 1, compute) == ("new", "miss")
    assert strict.stats()["l2"]["misses"] == 1


# --- the cross-pod lock --------------------------------------------------------------


def _other_pod_writes_after(l2: FakeL2, clock: FakeClock, key: str, gets: int, value: Any) -> None:
    """Make "another pod" store ``value`` in the fake L2 just before its read number ``gets``."""

    async def other_pod_stores(k: str) -> None:
        if k == key and l2.gets[k] == gets:
            envelope = Envelope(value, clock(), 1.0, clock() + 100.0)
            l2.data[k] = (encode(envelope), clock() + 100.0)

    l2.before_read = other_pod_stores


async def test_lock_waiter_gets_the_value_of_the_pod_holding_it(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    cache = make_cache(lock_wait_seconds=1.0, lock_poll_seconds=0.001)
    key = cache.key_for(SIM, 1)
    l2.locks[f"{key}:lock"] = "other-pod"
    _other_pod_writes_after(l2, clock, key, gets=4, value="from B")
    compute = Computation("mine")
    assert await cache.get_or_compute(SIM, 1, compute) == ("from B", "l2")
    assert compute.calls == 0
    assert l2.gets[key] == 4  # the lookup, then three polls
    stats = cache.stats()
    assert stats["lock_waits"] == 1
    assert stats["lock_wait_hits"] == 1
    assert await cache.get_or_compute(SIM, 1, compute) == ("from B", "l1")


async def test_lock_never_released_means_compute_after_the_wait(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache(lock_wait_seconds=0.01, lock_poll_seconds=0.001)
    key = cache.key_for(SIM, 1)
    l2.locks[f"{key}:lock"] = "dead-pod"
    compute = Computation("mine")
    assert await cache.get_or_compute(SIM, 1, compute) == ("mine", "miss")
    assert compute.calls == 1
    assert l2.gets[key] == 1 + 10  # the lookup, then ceil(0.01 / 0.001) polls
    assert cache.stats()["lock_wait_hits"] == 0
    assert decode(l2.data[key][0]).value == "mine"


async def test_lock_is_taken_and_released_for_expensive_kinds_only(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache()
    await cache.get_or_compute(SIM, 1, Computation("v"))
    assert l2.calls["acquire_lock"] == 1
    assert l2.calls["release_lock"] == 1
    assert not l2.locks
    await cache.get_or_compute(PROPS, 1, Computation("p"))
    assert l2.calls["acquire_lock"] == 1
    assert cache.stats()["locks_acquired"] == 1


async def test_value_stored_just_before_the_lock_is_taken_is_used(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    cache = make_cache()
    key = cache.key_for(SIM, 1)
    _other_pod_writes_after(l2, clock, key, gets=2, value="from B")
    compute = Computation("mine")
    assert await cache.get_or_compute(SIM, 1, compute) == ("from B", "l2")
    assert compute.calls == 0
    assert not l2.locks


async def test_redis_failure_skips_the_lock_wait(make_cache: MakeCache, l2: FakeL2) -> None:
    cache = make_cache(lock_wait_seconds=10.0, lock_poll_seconds=1.0)
    l2.failing = True
    compute = Computation("v")
    assert await asyncio.wait_for(cache.get_or_compute(SIM, 1, compute), 1.0) == ("v", "miss")
    assert compute.calls == 1
    assert cache.stats()["lock_waits"] == 0


# --- L2 failures and corrupt values ---------------------------------------------------


async def test_l2_failing_still_computes_and_serves_from_l1(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache()
    l2.failing = True
    compute = Computation("v")
    assert await cache.get_or_compute(PROPS, 1, compute) == ("v", "miss")
    assert await cache.get_or_compute(PROPS, 1, compute) == ("v", "l1")
    assert compute.calls == 1
    stats = cache.stats()
    assert stats["l2"]["errors"] == 1
    assert stats["l2"]["misses"] == 0
    assert stats["l2"]["state"] == "degraded"


async def test_corrupt_l2_value_is_a_counted_miss_and_overwritten(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    cache = make_cache()
    key = cache.key_for(PROPS, 1)
    l2.data[key] = (b"\x80\x04garbage from an old release", clock() + 1000)
    compute = Computation({"mw": 46.07})
    assert await cache.get_or_compute(PROPS, 1, compute) == ({"mw": 46.07}, "miss")
    assert compute.calls == 1
    assert cache.stats()["l2"]["corrupt"] == 1
    assert decode(l2.data[key][0]).value == {"mw": 46.07}


async def test_unencodable_value_is_served_but_not_cached(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache()
    compute = Computation({"bad": object()})
    value, tier = await cache.get_or_compute(PROPS, 1, compute)
    assert tier == "miss"
    assert "bad" in value
    await cache.get_or_compute(PROPS, 1, compute)
    assert compute.calls == 2
    assert not l2.data
    assert cache.stats()["encode_errors"] == 2


# --- invalidation and namespaces ------------------------------------------------------


async def _fill(cache: TieredCache, l2: FakeL2, clock: FakeClock) -> None:
    l2.data["chemagent:session:s1"] = (b"[]", clock() + 1000)
    for step in (SIM, Step.of("similarity", "CCN"), PROPS):
        await cache.get_or_compute(step, 1, Computation("v"))


async def test_invalidate_one_key(make_cache: MakeCache, l2: FakeL2, clock: FakeClock) -> None:
    cache = make_cache()
    await _fill(cache, l2, clock)
    assert await cache.invalidate(cache.key_for(SIM, 1)) == 1
    assert await cache.get_or_compute(SIM, 1, Computation("w")) == ("w", "miss")
    assert await cache.get_or_compute(PROPS, 1, Computation("w")) == ("v", "l1")


async def test_invalidate_one_kind(make_cache: MakeCache, l2: FakeL2, clock: FakeClock) -> None:
    cache = make_cache()
    await _fill(cache, l2, clock)
    assert await cache.invalidate(kind="similarity") == 2
    assert await cache.get_or_compute(SIM, 1, Computation("w")) == ("w", "miss")
    assert await cache.get_or_compute(PROPS, 1, Computation("w")) == ("v", "l1")
    assert "chemagent:session:s1" in l2.data


async def test_invalidate_everything_spares_sessions(
    make_cache: MakeCache, l2: FakeL2, clock: FakeClock
) -> None:
    cache = make_cache()
    await _fill(cache, l2, clock)
    assert await cache.invalidate(everything=True) == 3
    assert list(l2.data) == ["chemagent:session:s1"]
    assert cache.stats()["l1"]["entries"] == 0
    assert await cache.get_or_compute(PROPS, 1, Computation("w")) == ("w", "miss")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"key": "k", "everything": True}, {"kind": "a", "everything": True}],
)
async def test_invalidate_needs_exactly_one_target(
    make_cache: MakeCache, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await make_cache().invalidate(**kwargs)


async def test_invalidate_refuses_keys_outside_the_namespace(make_cache: MakeCache) -> None:
    with pytest.raises(ValueError, match="not a key of this cache namespace"):
        await make_cache().invalidate("chemagent:session:s1")


async def test_computation_in_flight_during_invalidation_is_not_stored(
    make_cache: MakeCache, l2: FakeL2
) -> None:
    cache = make_cache()
    gate = asyncio.Event()
    compute = Computation("before", "after", gate=gate)
    call = asyncio.create_task(cache.get_or_compute(PROPS, 1, compute))
    await settle()
    await cache.invalidate(everything=True)
    gate.set()
    assert await call == ("before", "miss")
    assert not l2.data
    assert await cache.get_or_compute(PROPS, 1, compute) == ("after", "miss")


async def test_new_rdkit_or_library_version_never_serves_old_entries(
    make_cache: MakeCache,
) -> None:
    old = make_cache()
    await old.get_or_compute(PROPS, 1, Computation("rdkit 2026.09.1"))
    upgraded = make_cache(namespace=CacheNamespace(SCHEMA, "2027.03.1", "chembl-approved", "36"))
    compute = Computation("rdkit 2027.03.1")
    assert await upgraded.get_or_compute(PROPS, 1, compute) == ("rdkit 2027.03.1", "miss")
    rebuilt = make_cache(namespace=CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "37"))
    assert await rebuilt.get_or_compute(PROPS, 1, Computation("lib 37")) == ("lib 37", "miss")
    assert await old.get_or_compute(PROPS, 1, compute) == ("rdkit 2026.09.1", "l1")


# --- L1 on its own -------------------------------------------------------------------


def _env(clock: FakeClock) -> Envelope:
    return Envelope("v", clock(), 0.0, clock() + 10)


def test_l1_evicts_least_recently_used_and_counts(clock: FakeClock) -> None:
    l1 = L1Cache(2, clock=clock)
    for key in ("a", "b"):
        l1.set(key, _env(clock), clock() + 10)
    assert l1.get("a") is not None  # "b" is now the least recently used
    l1.set("c", _env(clock), clock() + 10)
    assert l1.get("b") is None
    assert l1.get("a") is not None
    assert l1.evictions == 1
    assert len(l1) == 2


def test_l1_expiry_is_per_entry_and_not_an_eviction(clock: FakeClock) -> None:
    l1 = L1Cache(10, clock=clock)
    l1.set("short", _env(clock), clock() + 1)
    l1.set("long", _env(clock), clock() + 100)
    clock.advance(1)
    assert l1.get("short") is None
    assert l1.get("long") is not None
    assert len(l1) == 1
    assert l1.evictions == 0
    l1.set("past", _env(clock), clock() - 1)
    assert l1.get("past") is None


def test_l1_delete_prefix_and_clear(clock: FakeClock) -> None:
    l1 = L1Cache(10, clock=clock)
    for key in ("p:a", "p:b", "q:a"):
        l1.set(key, _env(clock), clock() + 10)
    assert l1.delete_prefix("p:") == 2
    assert l1.delete("q:a") == 1
    assert l1.delete("q:a") == 0
    l1.set("r", _env(clock), clock() + 10)
    assert l1.clear() == 1
    assert len(l1) == 0
    assert l1.evictions == 0


def test_l1_size_zero_is_disabled(clock: FakeClock) -> None:
    l1 = L1Cache(0, clock=clock)
    l1.set("a", _env(clock), clock() + 10)
    assert l1.get("a") is None
    assert not l1.enabled
    assert len(l1) == 0
    assert l1.delete("a") == 0
    assert l1.delete_prefix("") == 0
    assert l1.clear() == 0
    with pytest.raises(ValueError, match="negative"):
        L1Cache(-1)


async def test_fast_expensive_kinds_stop_taking_the_lock(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    """The lock costs three Redis round trips: not worth it for a 0.5 ms search."""
    cache = make_cache(lock_above_seconds=0.005)
    fast = Step.of("similarity", "C", threshold=0.7)
    await cache.get_or_compute(fast, 1, Computation("v", clock=clock, takes=0.0005))
    assert l2.calls["acquire_lock"] == 1  # unknown cost: assume slow
    await cache.get_or_compute(SIM, 1, Computation("w", clock=clock, takes=0.0005))
    assert l2.calls["acquire_lock"] == 1  # now known to be fast
    for n in range(3):
        step = Step.of("substructure", f"c1ccccc1{'C' * n}")
        await cache.get_or_compute(step, 1, Computation("s", clock=clock, takes=0.05))
    assert l2.calls["acquire_lock"] == 4  # every slow cold miss takes it


async def test_a_kind_that_becomes_slow_takes_the_lock_again(
    make_cache: MakeCache, clock: FakeClock, l2: FakeL2
) -> None:
    cache = make_cache(lock_above_seconds=0.005)
    for n in range(2):
        step = Step.of("similarity", "C" * (n + 1))
        await cache.get_or_compute(step, 1, Computation("v", clock=clock, takes=0.0001))
    assert l2.calls["acquire_lock"] == 1
    # A much bigger library (or a loaded machine): the moving average climbs past 5 ms.
    for n in range(2, 6):
        step = Step.of("similarity", "C" * (n + 1))
        await cache.get_or_compute(step, 1, Computation("v", clock=clock, takes=0.1))
    assert l2.calls["acquire_lock"] >= 2
