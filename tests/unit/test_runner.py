"""StepRunner: executor threads, deadlines, load shedding and observers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest

from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import DisabledL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.tiered import TieredCache
from chemagent.errors import CompoundNotFound, InvalidMolecule, Overloaded, StepTimeout
from chemagent.execution.runner import StepRecord, StepRunner
from chemagent.execution.step import Step
from chemagent.steps import registry
from chemagent.steps.context import StepContext

pytestmark = pytest.mark.anyio

StepFn = Callable[[StepContext, str, Mapping[str, Any]], Any]


@pytest.fixture
def temporary_kinds() -> Iterator[Callable[..., None]]:
    """Register step kinds for one test; removed from the registry afterwards."""
    added: list[str] = []

    def add(name: str, fn: StepFn, timeout_seconds: float | None = None) -> None:
        registry.register(
            name, version=1, description="unit test kind", timeout_seconds=timeout_seconds
        )(fn)
        added.append(name)

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


@pytest.fixture
def records() -> list[StepRecord]:
    return []


@pytest.fixture
def runner(ctx: StepContext, cpu_pool: ThreadPoolExecutor, records: list[StepRecord]) -> StepRunner:
    step_runner = StepRunner(ctx, cpu_pool, step_timeout=5.0, max_pending=8)
    step_runner.observers.append(records.append)
    return step_runner


async def wait_until(condition: Callable[[], bool]) -> None:
    """Let the loop run (the runner releases its count via call_soon_threadsafe): <= 5 s."""
    for _ in range(500):
        if condition():
            return
        await anyio.sleep(0.01)
    pytest.fail("condition not reached in 5 s")


async def test_step_runs_off_the_event_loop(
    runner: StepRunner, temporary_kinds: Callable[..., None]
) -> None:
    seen: dict[str, Any] = {}

    def where(ctx: StepContext, text: str, params: Mapping[str, Any]) -> str:
        seen["thread"] = threading.current_thread()
        seen["ctx"] = ctx
        seen["params"] = dict(params)
        return text.upper()

    temporary_kinds("unit_where", where)
    result = await runner.run(Step.of("unit_where", "abc", n=1))
    assert result == "ABC"
    assert seen["thread"] is not threading.current_thread()  # not the loop's thread
    assert seen["thread"].name.startswith("unit-cpu")
    assert seen["ctx"] is runner.context
    assert seen["params"] == {"n": 1}
    assert runner.pending == 0


async def test_real_step_and_ok_record(runner: StepRunner, records: list[StepRecord]) -> None:
    step = Step.of("parse", "OC(=O)c1ccccc1OC(C)=O")
    result = await runner.run(step)
    assert result["smiles"] == "CC(=O)Oc1ccccc1C(=O)O"
    assert len(records) == 1
    record = records[0]
    assert (record.step, record.outcome, record.cache, record.error) == (step, "ok", "miss", None)
    assert record.seconds >= 0


async def test_error_is_raised_and_recorded(runner: StepRunner, records: list[StepRecord]) -> None:
    with pytest.raises(InvalidMolecule):
        await runner.run(Step.of("parse", "C1CC"))
    assert [(r.outcome, r.error) for r in records] == [("error", "InvalidMolecule")]
    assert runner.pending == 0


async def test_deadline_raises_step_timeout(
    runner: StepRunner, records: list[StepRecord], temporary_kinds: Callable[..., None]
) -> None:
    release = threading.Event()

    def stuck(ctx: StepContext, text: str, params: Mapping[str, Any]) -> None:
        release.wait(5)

    temporary_kinds("unit_stuck", stuck, timeout_seconds=0.05)
    try:
        started = time.monotonic()
        with pytest.raises(StepTimeout, match=r"unit_stuck step took longer than 0\.05 s"):
            await runner.run(Step.of("unit_stuck", "x"))
        assert time.monotonic() - started < 2  # the per-kind deadline, not the default 5 s
        assert [(r.outcome, r.error) for r in records] == [("timeout", "step_timeout")]
    finally:
        release.set()
    await wait_until(lambda: runner.pending == 0)


async def test_default_deadline_applies(
    ctx: StepContext, cpu_pool: ThreadPoolExecutor, temporary_kinds: Callable[..., None]
) -> None:
    release = threading.Event()
    temporary_kinds("unit_slow", lambda c, t, p: release.wait(5))
    fast_runner = StepRunner(ctx, cpu_pool, step_timeout=0.05, max_pending=4)
    try:
        with pytest.raises(StepTimeout, match=r"0\.05 s"):
            await fast_runner.run(Step.of("unit_slow", "x"))
    finally:
        release.set()
    await wait_until(lambda: fast_runner.pending == 0)


async def test_overload_until_abandoned_thread_finishes(
    ctx: StepContext,
    cpu_pool: ThreadPoolExecutor,
    records: list[StepRecord],
    temporary_kinds: Callable[..., None],
) -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck(c: StepContext, text: str, params: Mapping[str, Any]) -> str:
        release.wait(5)
        finished.set()
        return text

    temporary_kinds("unit_block", stuck, timeout_seconds=0.05)
    temporary_kinds("unit_quick", lambda c, t, p: t)
    small = StepRunner(ctx, cpu_pool, step_timeout=5.0, max_pending=1)
    small.observers.append(records.append)
    try:
        with pytest.raises(StepTimeout):
            await small.run(Step.of("unit_block", "x"))
        # Abandoned, but its thread still runs: it still counts.
        assert small.pending == 1
        with pytest.raises(Overloaded, match="1 steps are already queued"):
            await small.run(Step.of("unit_quick", "y"))
        await anyio.sleep(0.1)
        assert small.pending == 1
        assert not finished.is_set()
    finally:
        release.set()
    await wait_until(lambda: small.pending == 0)
    assert finished.is_set()
    assert await small.run(Step.of("unit_quick", "z")) == "z"
    assert [r.outcome for r in records] == ["timeout", "error", "ok"]
    assert records[1].error == "Overloaded"


async def test_unknown_kind(runner: StepRunner) -> None:
    with pytest.raises(KeyError, match="unknown step kind"):
        await runner.run(Step.of("unit_does_not_exist", "x"))
    assert runner.pending == 0


async def test_run_all_keeps_order_with_exceptions(
    runner: StepRunner, temporary_kinds: Callable[..., None]
) -> None:
    def nap(ctx: StepContext, text: str, params: Mapping[str, Any]) -> str:
        time.sleep(float(params["seconds"]))  # finish in the reverse of input order
        if text == "boom":
            raise ValueError("boom")
        return text

    temporary_kinds("unit_nap", nap)
    steps = [
        Step.of("unit_nap", "first", seconds=0.15),
        Step.of("unit_nap", "boom", seconds=0.1),
        Step.of("parse", "C1CC"),
        Step.of("unit_nap", "last", seconds=0.0),
    ]
    results = await runner.run_all(steps)
    assert results[0] == "first"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "boom"
    assert isinstance(results[2], InvalidMolecule)
    assert results[3] == "last"
    assert runner.pending == 0


# --- the cache seam ----------------------------------------------------------------------


def _cached_runner(
    ctx: StepContext, cpu_pool: ThreadPoolExecutor, records: list[StepRecord]
) -> StepRunner:
    cache = TieredCache(
        L1Cache(100), DisabledL2(), CachePolicy(), CacheNamespace(SCHEMA, "r", "lib", "1")
    )
    step_runner = StepRunner(ctx, cpu_pool, step_timeout=5.0, max_pending=8, cache=cache)
    step_runner.observers.append(records.append)
    return step_runner


async def test_second_run_is_an_l1_hit_that_never_reaches_the_pool(
    ctx: StepContext,
    cpu_pool: ThreadPoolExecutor,
    records: list[StepRecord],
    temporary_kinds: Callable[..., None],
) -> None:
    calls: list[str] = []

    def count(_ctx: StepContext, text: str, _params: Mapping[str, Any]) -> dict[str, str]:
        calls.append(threading.current_thread().name)
        return {"echo": text}

    temporary_kinds("unit_count", count)
    runner = _cached_runner(ctx, cpu_pool, records)
    first = await runner.run_cached(Step.of("unit_count", "x"))
    second = await runner.run_cached(Step.of("unit_count", "x"))
    other = await runner.run_cached(Step.of("unit_count", "x", flag=True))
    assert first == ({"echo": "x"}, "miss")
    assert second == ({"echo": "x"}, "l1")
    assert other == ({"echo": "x"}, "miss")  # params are part of the key
    assert len(calls) == 2
    assert [r.cache for r in records] == ["miss", "l1", "miss"]
    assert all(r.outcome == "ok" for r in records)


async def test_cached_not_found_is_recorded_as_a_hit_and_other_errors_are_not_cached(
    ctx: StepContext,
    cpu_pool: ThreadPoolExecutor,
    records: list[StepRecord],
    temporary_kinds: Callable[..., None],
) -> None:
    calls: list[str] = []

    def missing(_ctx: StepContext, text: str, _params: Mapping[str, Any]) -> None:
        calls.append(text)
        if text == "bad":
            raise InvalidMolecule("not a molecule")
        raise CompoundNotFound(f"no {text}", ["CHEMBL25"])

    temporary_kinds("unit_missing", missing)
    runner = _cached_runner(ctx, cpu_pool, records)
    for _ in range(2):
        with pytest.raises(CompoundNotFound) as caught:
            await runner.run(Step.of("unit_missing", "nothing"))
        assert caught.value.suggestions == ["CHEMBL25"]
        with pytest.raises(InvalidMolecule):
            await runner.run(Step.of("unit_missing", "bad"))
    assert calls == ["nothing", "bad", "bad"]  # the invalid one is recomputed
    assert [(r.outcome, r.cache) for r in records] == [
        ("error", "miss"),
        ("error", "miss"),
        ("error", "l1"),
        ("error", "miss"),
    ]
