"""query.plan (the DAG) and execution.plan_runner (layers run concurrently)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chemagent.errors import InvalidInput
from chemagent.execution.plan_runner import PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.query.plan import Plan, PlanError, PlanNode, Ref, bind
from chemagent.steps import registry
from chemagent.steps.context import StepContext

StepFn = Callable[[StepContext, str, Mapping[str, Any]], Any]


# --- the DAG -------------------------------------------------------------------------


def diamond() -> Plan:
    """a -> (b, c) -> d"""
    return Plan(
        nodes=[
            PlanNode("a", "parse", "CCO"),
            PlanNode("b", "properties", Ref("a", ("smiles",))),
            PlanNode("c", "depict", Ref("a", ("smiles",)), {"width": 100}),
            PlanNode("d", "filter", [Ref("b"), Ref("c", ("svg",))]),
        ],
        output="d",
    )


def test_layers_group_independent_nodes() -> None:
    layers = diamond().layers()
    assert [[n.id for n in layer] for layer in layers] == [["a"], ["b", "c"], ["d"]]


def test_depends_on_reads_refs_in_input_and_params() -> None:
    node = PlanNode("x", "similarity", Ref("a"), {"threshold": Ref("b", ("t",))})
    assert node.depends_on == ("a", "b")


def test_cycle_is_a_plan_error() -> None:
    plan = Plan([PlanNode("a", "parse", Ref("b")), PlanNode("b", "parse", Ref("a"))], "a")
    with pytest.raises(PlanError, match="cycle"):
        plan.layers()


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (Plan([PlanNode("a", "nope", "x")], "a"), "unknown kind"),
        (Plan([PlanNode("a", "parse", Ref("zz"))], "a"), "missing node"),
        (Plan([PlanNode("a", "parse", "x")], "b"), "output node"),
        (Plan([PlanNode("a", "parse", "x"), PlanNode("a", "parse", "y")], "a"), "unique"),
    ],
)
def test_validate_rejects_broken_plans(plan: Plan, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan.validate({"parse"})


def test_validate_accepts_a_sound_plan() -> None:
    diamond().validate({"parse", "properties", "depict", "filter"})


def test_bind_follows_paths_through_dicts_and_lists() -> None:
    results = {"a": {"matches": [{"id": "CHEMBL25"}]}, "b": 3}
    value = {"x": [Ref("a", ("matches", 0, "id")), Ref("b")], "y": "plain"}
    assert bind(value, results) == {"x": ["CHEMBL25", 3], "y": "plain"}


def test_describe_shows_refs_as_paths() -> None:
    described = diamond().describe()
    assert described["layers"] == [["a"], ["b", "c"], ["d"]]
    node_b = next(n for n in described["nodes"] if n["id"] == "b")
    assert node_b["input"] == "$a.smiles"
    assert node_b["depends_on"] == ["a"]


# --- execution -----------------------------------------------------------------------


@pytest.fixture
def temporary_kinds() -> Iterator[Callable[[str, StepFn], None]]:
    added: list[str] = []

    def add(name: str, fn: StepFn) -> None:
        registry.register(name, version=1, description="unit test kind")(fn)
        added.append(name)

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


@pytest.fixture
def runner(ctx: StepContext) -> Iterator[StepRunner]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="plan-cpu")
    yield StepRunner(ctx, pool, step_timeout=5.0, max_pending=64)
    pool.shutdown(wait=True)


def sleeper(seconds: float) -> StepFn:
    def fn(ctx: StepContext, text: str, params: Mapping[str, Any]) -> Any:
        time.sleep(seconds)
        return {"echo": text}

    return fn


def fan_out(width: int, kind: str) -> Plan:
    nodes = [PlanNode(f"n{i}", kind, f"item-{i}") for i in range(width)]
    return Plan(nodes, "n0")


@pytest.mark.anyio
async def test_independent_nodes_run_concurrently(
    runner: StepRunner, temporary_kinds: Callable[[str, StepFn], None]
) -> None:
    temporary_kinds("t_sleep", sleeper(0.2))
    executor = PlanExecutor(runner)
    outcomes, parallel = await executor.execute(fan_out(4, "t_sleep"), max_workers=4)
    assert all(o.status == "ok" for o in outcomes.values())
    _, serial = await executor.execute(fan_out(4, "t_sleep"), parallel=False)
    # 4 x 0.2 s: ~0.2 s together, ~0.8 s one by one (generous bounds for a busy machine)
    assert parallel.wall_seconds < 0.6 < serial.wall_seconds
    assert parallel.speedup > 1.5
    assert serial.speedup == pytest.approx(1.0, abs=0.2)
    assert parallel.parallelization_ratio > 0.3
    assert parallel.layers == 1
    assert parallel.steps_run == 4


@pytest.mark.anyio
async def test_max_workers_bounds_concurrency(
    runner: StepRunner, temporary_kinds: Callable[[str, StepFn], None]
) -> None:
    temporary_kinds("t_sleep2", sleeper(0.15))
    _, metrics = await PlanExecutor(runner).execute(fan_out(4, "t_sleep2"), max_workers=2)
    assert metrics.wall_seconds >= 0.29  # two rounds of two


@pytest.mark.anyio
async def test_a_failure_skips_only_its_dependents(
    runner: StepRunner, temporary_kinds: Callable[[str, StepFn], None]
) -> None:
    def boom(ctx: StepContext, text: str, params: Mapping[str, Any]) -> Any:
        raise InvalidInput(f"bad {text}")

    temporary_kinds("t_boom", boom)
    temporary_kinds("t_ok", sleeper(0.0))
    plan = Plan(
        [
            PlanNode("bad", "t_boom", "x"),
            PlanNode("good", "t_ok", "y"),
            PlanNode("after_bad", "t_ok", Ref("bad")),
            PlanNode("after_good", "t_ok", Ref("good", ("echo",))),
        ],
        "after_good",
    )
    outcomes, metrics = await PlanExecutor(runner).execute(plan)
    assert outcomes["bad"].status == "error"
    assert outcomes["bad"].error == {"error": "invalid_input", "detail": "bad x", "status": 422}
    assert outcomes["after_bad"].status == "skipped"
    assert "bad" in (outcomes["after_bad"].error or {})["detail"]
    assert outcomes["after_good"].status == "ok"
    assert outcomes["after_good"].result == {"echo": "y"}
    assert (metrics.steps_failed, metrics.steps_skipped) == (1, 1)


@pytest.mark.anyio
async def test_plan_deadline_marks_unfinished_nodes(
    runner: StepRunner, temporary_kinds: Callable[[str, StepFn], None]
) -> None:
    temporary_kinds("t_slow", sleeper(1.0))
    temporary_kinds("t_fast", sleeper(0.0))
    plan = Plan([PlanNode("slow", "t_slow", "x"), PlanNode("next", "t_fast", Ref("slow"))], "next")
    started = time.perf_counter()
    outcomes, _ = await PlanExecutor(runner).execute(plan, deadline=0.2)
    assert time.perf_counter() - started < 0.9
    assert outcomes["slow"].status == "timeout"
    assert outcomes["next"].status == "timeout"
    assert outcomes["slow"].error is not None
    assert outcomes["slow"].error["error"] == "query_timeout"


@pytest.mark.anyio
async def test_events_are_ordered_with_rising_progress(
    runner: StepRunner, temporary_kinds: Callable[[str, StepFn], None]
) -> None:
    temporary_kinds("t_ev", sleeper(0.01))
    plan = Plan([PlanNode("a", "t_ev", "x"), PlanNode("b", "t_ev", Ref("a", ("echo",)))], "b")
    events: list[dict[str, Any]] = []

    async def sink(event: dict[str, Any]) -> None:
        events.append(event)

    await PlanExecutor(runner).execute(plan, on_event=sink)
    assert [(e["type"], e["node"]) for e in events] == [
        ("step_start", "a"),
        ("step_complete", "a"),
        ("step_start", "b"),
        ("step_complete", "b"),
    ]
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


@pytest.mark.anyio
async def test_panel_binder_picks_compound_or_properties(runner: StepRunner) -> None:
    plan = Plan(
        [
            PlanNode("r1", "resolve", "aspirin"),
            PlanNode("r2", "resolve", "CC(=O)Nc1ccc(OC)cc1"),  # not in the library
            PlanNode("r3", "resolve", "asprin"),
            PlanNode("p1", "panel", Ref("r1")),
            PlanNode("p2", "panel", Ref("r2")),
            PlanNode("p3", "panel", Ref("r3")),
            PlanNode("s1", "similar", Ref("r1"), {"threshold": 0.5}),
        ],
        "p1",
    )
    outcomes, _ = await PlanExecutor(runner).execute(plan)
    assert outcomes["p1"].result["chembl_id"] == "CHEMBL25"
    assert outcomes["p1"].result["molecule_properties"]["alogp"] == 1.31
    assert "chembl_id" not in outcomes["p2"].result  # computed, not a library record
    assert outcomes["p2"].result["molecule_properties"]["heavy_atoms"] == 12  # C9H11NO2
    assert outcomes["p3"].status == "error"
    assert "ASPIRIN (CHEMBL25)" in (outcomes["p3"].error or {})["detail"]
    assert outcomes["s1"].result["hits"][0]["chembl_id"] == "CHEMBL25"
