"""query.planner: intents (built by hand here) become plans that run and answer."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chemagent.execution.plan_runner import BINDERS, NodeOutcome, PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.query.model import Condition, Entity, EntityKind, Intent, IntentKind
from chemagent.query.plan import Plan, PlanError
from chemagent.query.planner import conditions_text, plan
from chemagent.steps.context import StepContext
from chemagent.steps.registry import list_step_kinds

pytestmark = pytest.mark.anyio
KNOWN = {kind.name for kind in list_step_kinds()} | set(BINDERS)


def name(text: str) -> Entity:
    return Entity(EntityKind.NAME, text, text)


def intent(kind: IntentKind, *compounds: str, **fields: Any) -> Intent:
    return Intent(kind, "test", compounds=[name(c) for c in compounds], **fields)


@pytest.fixture
def executor(ctx: StepContext) -> Iterator[PlanExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="planner-cpu")
    yield PlanExecutor(StepRunner(ctx, pool, step_timeout=10.0, max_pending=256))
    pool.shutdown(wait=True)


async def run(executor: PlanExecutor, query: Intent) -> tuple[Plan, dict[str, NodeOutcome]]:
    built = plan(query)
    built.validate(KNOWN)
    outcomes, _ = await executor.execute(built, max_workers=4)
    return built, outcomes


def test_conditions_text_is_the_filter_syntax() -> None:
    text = conditions_text([Condition("mw_freebase", "<", 500), Condition("alogp", "<=", 5)])
    assert text == "mw_freebase<500;alogp<=5"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Intent(IntentKind.OUT_OF_SCOPE, "weather?"), "nothing to run"),
        (Intent(IntentKind.UNKNOWN, "xkcd"), "nothing to run"),
        (intent(IntentKind.COMPARE, "aspirin", properties=["alogp"]), "2 compounds"),
        (intent(IntentKind.SIMILARITY), "needs a compound"),
        (intent(IntentKind.FILTER), "at least one condition"),
        (intent(IntentKind.SUBSTRUCTURE), "which substructure"),
        (intent(IntentKind.LOOKUP, "x", errors=["threshold 1.5 is above 1"]), "threshold 1.5"),
    ],
)
def test_unplannable_intents_say_why(query: Intent, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(query)


async def test_compare_resolves_both_compounds_in_one_layer(executor: PlanExecutor) -> None:
    query = intent(
        IntentKind.COMPARE, "aspirin", "ibuprofen", properties=["alogp"], direction="max"
    )
    built, outcomes = await run(executor, query)
    first_layer = {node.kind for node in built.layers()[0]}
    assert first_layer == {"resolve"}
    assert len(built.layers()[0]) == 2  # both compounds resolved concurrently
    result = outcomes[built.output].result
    assert result["best"]["chembl_id"] == "CHEMBL521"  # ibuprofen logP 3.07 > aspirin 1.31
    assert [r["value"] for r in result["ranking"]] == sorted(
        (r["value"] for r in result["ranking"]), reverse=True
    )


async def test_compare_lowest_of_three(executor: PlanExecutor) -> None:
    query = intent(
        IntentKind.COMPARE,
        "caffeine",
        "aspirin",
        "paracetamol",
        properties=["psa"],
        direction="min",
    )
    built, outcomes = await run(executor, query)
    ranking = outcomes[built.output].result["ranking"]
    assert len(ranking) == 3
    assert ranking[0]["value"] == min(r["value"] for r in ranking)


async def test_lookup_of_a_synonym_returns_the_record(executor: PlanExecutor) -> None:
    built, outcomes = await run(executor, intent(IntentKind.LOOKUP, "Tylenol"))
    assert outcomes[built.output].result["chembl_id"] == "CHEMBL112"


async def test_batch_with_one_unknown_still_answers_the_others(executor: PlanExecutor) -> None:
    query = intent(IntentKind.BATCH, "CHEMBL25", "CHEMBL999999999", "CHEMBL521")
    built, outcomes = await run(executor, query)
    panels = [outcomes[n.id] for n in built.nodes if n.kind == "panel"]
    assert [p.status for p in panels] == ["ok", "error", "ok"]


async def test_similarity_with_threshold_and_top_k(executor: PlanExecutor) -> None:
    query = intent(IntentKind.SIMILARITY, "ibuprofen", threshold=0.3, top_k=5)
    built, outcomes = await run(executor, query)
    hits = outcomes[built.output].result["hits"]
    assert 0 < len(hits) <= 5
    assert hits[0]["chembl_id"] == "CHEMBL521"
    assert all(h["similarity"] >= 0.3 for h in hits)


async def test_substructure_and_filter(executor: PlanExecutor) -> None:
    built, outcomes = await run(
        executor, intent(IntentKind.SUBSTRUCTURE, substructure="S(=O)(=O)N", top_k=3)
    )
    assert len(outcomes[built.output].result["hits"]) == 3
    conditions = [Condition("mw_freebase", "<", 200.0), Condition("hbd", "==", 0.0)]
    built, outcomes = await run(executor, intent(IntentKind.FILTER, conditions=conditions))
    result = outcomes[built.output].result
    assert result["total"] > 0


async def test_filter_ranked_by_qed(executor: PlanExecutor) -> None:
    query = intent(
        IntentKind.FILTER,
        conditions=[Condition("mw_freebase", "<", 300.0)],
        rank_by="qed_weighted",
        direction="max",
        top_k=5,
    )
    built, outcomes = await run(executor, query)
    records = outcomes[built.output].result["records"]
    values = [r["molecule_properties"]["qed_weighted"] for r in records]
    assert len(values) == 5
    assert values == sorted(values, reverse=True)
    assert all(r["molecule_properties"]["mw_freebase"] < 300 for r in records)


async def test_workflow_similar_keep_rank(executor: PlanExecutor) -> None:
    query = intent(
        IntentKind.WORKFLOW,
        "ibuprofen",
        threshold=0.2,
        conditions=[Condition("mw_freebase", "<", 300.0)],
        rank_by="qed_weighted",
    )
    built, outcomes = await run(executor, query)
    assert [n.kind for n in built.nodes] == ["resolve", "similar", "panels", "keep", "rank"]
    assert all(o.status == "ok" for o in outcomes.values())
    records = outcomes[built.output].result["records"]
    assert records
    assert all(r["molecule_properties"]["mw_freebase"] < 300 for r in records)
    qeds = [r["molecule_properties"]["qed_weighted"] for r in records]
    assert qeds == sorted(qeds, reverse=True)


async def test_targets_offline_say_what_to_set(executor: PlanExecutor) -> None:
    built, outcomes = await run(executor, intent(IntentKind.TARGETS, "aspirin"))
    error = outcomes[built.output].error
    assert error is not None
    assert "CHEMAGENT_CHEMBL_URL" in error["detail"]


async def test_targets_of_an_unknown_compound_fail_cleanly(executor: PlanExecutor) -> None:
    built, outcomes = await run(executor, intent(IntentKind.TARGETS, "notadrugxyz"))
    assert outcomes[built.output].status == "error"


# --- parse -> plan -> run: the parser's intents are ones the planner can run ----------


@pytest.mark.parametrize(
    ("query", "check"),
    [
        (
            "Which has higher LogP: aspirin or ibuprofen?",
            lambda r: r["best"]["chembl_id"] == "CHEMBL521",
        ),
        (
            "Compare aspirin and ibuprofen",  # no property: both panels
            lambda r: r["chembl_id"] in {"CHEMBL25", "CHEMBL521"},
        ),
        (
            "Which drug has the highest QED?",  # a ranking with no condition: the whole library
            lambda r: len(r["records"]) >= 1,
        ),
        (
            "Find sulfonamides with MW below 400 and sort them by TPSA",
            lambda r: all(x["molecule_properties"]["mw_freebase"] < 400 for x in r["records"]),
        ),
        (
            "find compounds similar to ibuprofen, get their properties and keep MW < 300, "
            "rank by QED",
            lambda r: all(x["molecule_properties"]["mw_freebase"] < 300 for x in r["records"]),
        ),
    ],
)
async def test_parsed_queries_plan_and_run(executor: PlanExecutor, query: str, check: Any) -> None:
    from chemagent.query.intent import parse

    built, outcomes = await run(executor, parse(query))
    output = outcomes[built.output]
    assert output.status == "ok", (query, output.error)
    assert check(output.result), query
