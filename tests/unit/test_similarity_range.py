"""Similarity ranges: "between 0.4 and 0.8", "0.4-0.8", "70-90%" bound both sides."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from chemagent.execution.plan_runner import PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.query.intent import parse
from chemagent.query.planner import plan
from chemagent.steps.context import StepContext

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("compounds similar to morphine between 0.4 and 0.8", 0.4, 0.8),
        ("similar to morphine 0.4-0.8", 0.4, 0.8),
        ("similar to morphine 0.4 to 0.8", 0.4, 0.8),
        ("analogs of morphine with similarity 40-80%", 0.4, 0.8),
        ("similar to morphine, tanimoto 0.8-0.4", 0.4, 0.8),
        ("similar to morphine above 0.4", 0.4, None),
    ],
)
def test_ranges_are_read(query: str, low: float, high: float | None) -> None:
    intent = parse(query)
    assert intent.kind.value == "similarity"
    assert intent.threshold == pytest.approx(low)
    if high is None:
        assert intent.threshold_max is None
    else:
        assert intent.threshold_max == pytest.approx(high)
    assert [str(c.value) for c in intent.compounds] == ["morphine"]


def test_a_range_above_one_is_an_error() -> None:
    assert parse("similar to morphine 0.5-1.5").errors


@pytest.fixture
def executor(ctx: StepContext) -> Iterator[PlanExecutor]:
    pool = ThreadPoolExecutor(2)
    yield PlanExecutor(StepRunner(ctx, pool, step_timeout=10.0, max_pending=64))
    pool.shutdown(wait=True)


async def test_the_upper_bound_drops_closer_hits(executor: PlanExecutor) -> None:
    async def hits(query: str) -> tuple[int, list[float]]:
        built = plan(parse(query))
        outcomes, _ = await executor.execute(built)
        result = outcomes[built.output].result
        return result["total"], [h["similarity"] for h in result["hits"]]

    all_total, everything = await hits("similar to morphine above 0.4")
    total, ranged = await hits("similar to morphine between 0.4 and 0.8")
    assert max(everything) > 0.8  # morphine itself: the bound has something to drop
    assert ranged == [s for s in everything if s <= 0.8]
    assert total == len(ranged) < all_total
    _, top = await hits("similar to morphine between 0.4 and 0.8, top 2")
    assert top == ranged[:2]
