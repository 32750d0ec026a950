"""query.formatter: real queries parsed, planned and run on the bundled library, then answered.

Expected values are read from the library's own panels, not written here, so the checks
are about the formatter: the right compound, the right winner, the value with its unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from chemagent.chem.properties import NUMERIC_FIELDS
from chemagent.execution.plan_runner import NodeOutcome, PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.library.library import Library
from chemagent.query.formatter import (
    CAPABILITIES,
    FIELDS,
    LIST_CAP,
    Answer,
    format_answer,
    format_rejection,
    number,
)
from chemagent.query.intent import parse
from chemagent.query.model import Intent, IntentKind
from chemagent.query.plan import Plan, PlanError
from chemagent.query.planner import plan
from chemagent.steps.context import StepContext

pytestmark = pytest.mark.anyio


@pytest.fixture
def executor(ctx: StepContext) -> Iterator[PlanExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="formatter-cpu")
    yield PlanExecutor(StepRunner(ctx, pool, step_timeout=10.0, max_pending=256))
    pool.shutdown(wait=True)


@dataclass
class Ran:
    answer: Answer
    plan: Plan
    outcomes: dict[str, NodeOutcome]


async def ask(executor: PlanExecutor, query: str, context: str | None = None) -> Ran:
    """parse -> plan -> execute -> format, as the query service does."""
    intent = parse(query, parse(context) if context else None)
    built = plan(intent)
    outcomes, _ = await executor.execute(built, max_workers=4)
    return Ran(format_answer(intent, built, outcomes), built, outcomes)


def panel(library: Library, chembl_id: str) -> dict[str, Any]:
    row = library.row_of(chembl_id)
    assert row is not None, chembl_id
    values = library.properties(row)
    assert values is not None
    return values


def name(library: Library, chembl_id: str) -> str:
    row = library.row_of(chembl_id)
    assert row is not None
    return str(library.names[row]).lower()


# --- words and numbers ------------------------------------------------------------------


def test_the_field_table_covers_the_whole_panel() -> None:
    assert set(NUMERIC_FIELDS) | {"full_molformula", "ro3_pass"} == set(FIELDS)


@pytest.mark.parametrize(
    ("value", "text"), [(500.0, "500"), (180.16, "180.16"), (2, "2"), (-1.03, "-1.03"), (0.0, "0")]
)
def test_numbers_have_no_float_noise(value: float, text: str) -> None:
    assert number(value) == text


# --- one answer per intent kind -----------------------------------------------------------


async def test_lookup_names_the_compound_with_units(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "What is CHEMBL25?")
    p = panel(library, "CHEMBL25")
    assert ran.answer.status == "ok"
    assert ran.answer.text.startswith("Aspirin (CHEMBL25)")
    assert f"MW {number(p['mw_freebase'])} Da" in ran.answer.text
    assert f"TPSA {number(p['psa'])} Å²" in ran.answer.text
    assert f"formula {p['full_molformula']}" in ran.answer.text
    assert ran.answer.result["compounds"][0]["chembl_id"] == "CHEMBL25"
    assert ran.answer.problems == []


async def test_lookup_of_a_salt_gives_parent_and_full_weight(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "info about metformin hydrochloride")
    p = panel(library, "CHEMBL1703")
    assert p["full_mwt"] != p["mw_freebase"]
    assert f"MW {number(p['mw_freebase'])} Da (parent; {number(p['full_mwt'])} Da" in (
        ran.answer.text
    )


async def test_one_property(executor: PlanExecutor, library: Library) -> None:
    ran = await ask(executor, "LogP of aspirin")
    alogp = panel(library, "CHEMBL25")["alogp"]
    assert ran.answer.text == f"Aspirin (CHEMBL25) has ALogP {number(alogp)}."


async def test_counts_read_as_counts(executor: PlanExecutor, library: Library) -> None:
    ran = await ask(executor, "How many rotatable bonds does ibuprofen have?")
    rtb = panel(library, "CHEMBL521")["rtb"]
    assert ran.answer.text == f"Ibuprofen (CHEMBL521) has {rtb} rotatable bonds."


async def test_properties_of_several_compounds_one_line_each(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "LogP of aspirin, ibuprofen and naproxen")
    assert ran.answer.status == "ok"
    for ident in ("CHEMBL25", "CHEMBL521", "CHEMBL154"):
        line = f"{name(library, ident).capitalize()} ({ident}) has ALogP "
        assert line + number(panel(library, ident)["alogp"]) in ran.answer.text
    assert len(ran.answer.result["compounds"]) == 3


async def test_lipinski_yes_and_no(executor: PlanExecutor, library: Library) -> None:
    yes = await ask(executor, "Is metformin Lipinski compliant?")
    assert panel(library, "CHEMBL1431")["num_ro5_violations"] == 0
    assert yes.answer.text.startswith("Yes: metformin (CHEMBL1431) meets Lipinski")
    no = await ask(executor, "Does atorvastatin pass the rule of five?")
    p = panel(library, "CHEMBL1487")
    assert p["num_ro5_violations"] > 0
    assert no.answer.text.startswith("No: atorvastatin (CHEMBL1487) does not meet")
    assert f"{p['num_ro5_violations']} rule-of-five violations" in no.answer.text
    assert ("MW > 500 Da" in no.answer.text) == (p["mw_freebase"] > 500)
    checks = no.answer.result["checks"][0]["checks"]
    assert checks[0]["passed"] is False


async def test_rule_of_three_for_a_new_structure(executor: PlanExecutor) -> None:
    ran = await ask(executor, "rule of three for CCN(CC)CC")
    assert ran.answer.text.startswith(("Yes: CCN(CC)CC passes", "No: CCN(CC)CC does not"))
    assert "Da" in ran.answer.text


async def test_compare_names_the_winner_with_both_values(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "Which has higher LogP: aspirin or ibuprofen?")
    a, b = panel(library, "CHEMBL25")["alogp"], panel(library, "CHEMBL521")["alogp"]
    winner, loser = ("CHEMBL521", "CHEMBL25") if b > a else ("CHEMBL25", "CHEMBL521")
    high, low = max(a, b), min(a, b)
    assert ran.answer.text == (
        f"{name(library, winner).capitalize()} ({winner}) has the higher ALogP: "
        f"{number(high)} vs {number(low)} for {name(library, loser)} ({loser})."
    )
    assert ran.answer.result["best"]["chembl_id"] == winner


async def test_compare_lowest_of_three(executor: PlanExecutor, library: Library) -> None:
    ran = await ask(executor, "Which of caffeine, aspirin and paracetamol has the lowest TPSA?")
    ids = ("CHEMBL113", "CHEMBL25", "CHEMBL112")
    best = min(ids, key=lambda i: panel(library, i)["psa"])
    assert ran.answer.text.startswith(f"{name(library, best).capitalize()} ({best}) has the lowest")
    assert f"{number(panel(library, best)['psa'])} Å²" in ran.answer.text


async def test_compare_as_a_yes_no_question(executor: PlanExecutor, library: Library) -> None:
    ran = await ask(executor, "Is aspirin more lipophilic than ibuprofen?")
    aspirin_wins = panel(library, "CHEMBL25")["alogp"] > panel(library, "CHEMBL521")["alogp"]
    assert ran.answer.text.startswith("Yes:" if aspirin_wins else "No:")


async def test_compare_without_a_property_is_side_by_side(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "Compare aspirin and ibuprofen")
    a, b = panel(library, "CHEMBL25"), panel(library, "CHEMBL521")
    assert ran.answer.text.startswith("Aspirin (CHEMBL25) vs ibuprofen (CHEMBL521):")
    mw = f"MW {number(a['mw_freebase'])} Da vs {number(b['mw_freebase'])} Da"
    assert mw in ran.answer.text
    assert [c["chembl_id"] for c in ran.answer.result["compounds"]] == ["CHEMBL25", "CHEMBL521"]


async def test_compare_reports_a_tie(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Which has higher LogP: CCO or OCC?")
    assert "tie on ALogP" in ran.answer.text


async def test_similarity_lists_hits_without_the_query_itself(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Give me the first 15 hits similar to CHEMBL113 over 0.3")
    result = ran.answer.result
    assert result["total"] == len(result["hits"]) > 1
    assert ran.answer.text.startswith(
        f"{result['total']} library compounds similar to caffeine (CHEMBL113) at Tanimoto ≥ 0.3"
    )
    assert "itself included" in ran.answer.text
    listed = ran.answer.text.split(": ", 1)[1]
    assert "caffeine (CHEMBL113) 1.00" not in listed
    second = result["hits"][1]
    assert f"({second['chembl_id']}) {second['similarity']:.2f}" in listed


async def test_similarity_applies_the_upper_bound(executor: PlanExecutor) -> None:
    ran = await ask(executor, "molecules similar to CHEMBL25 with Tanimoto between 0.3 and 0.9")
    hits = ran.answer.result["hits"]
    assert all(0.3 <= h["similarity"] <= 0.9 for h in hits)
    assert "CHEMBL25" not in {h["chembl_id"] for h in hits}  # itself is 1.0: out of range
    assert "Tanimoto 0.3 to 0.9" in ran.answer.text


async def test_similarity_with_only_the_query_itself(executor: PlanExecutor) -> None:
    ran = await ask(executor, "compounds similar to aspirin with similarity > 0.8")
    assert ran.answer.text.startswith("Only aspirin (CHEMBL25) itself")


async def test_substructure_says_when_there_are_more(executor: PlanExecutor) -> None:
    ran = await ask(executor, "top 3 drugs containing a sulfonamide")
    assert ran.answer.result["truncated"] is True
    assert ran.answer.text.startswith("More than 3 library compounds contain sulfonamide")
    assert all(h["chembl_id"] in ran.answer.text for h in ran.answer.result["hits"])


async def test_filter_says_the_count_and_the_conditions(executor: PlanExecutor) -> None:
    ran = await ask(executor, "drugs with fewer than 3 H-bond donors and TPSA below 90")
    total = ran.answer.result["total"]
    assert ran.answer.text.startswith(
        f"{total:,} library compounds have fewer than 3 H-bond donors and TPSA below 90 Å²"
    )
    assert f"and {len(ran.answer.result['hits']) - LIST_CAP} more" in ran.answer.text


async def test_filter_range_reads_as_one(executor: PlanExecutor) -> None:
    ran = await ask(executor, "compounds with molecular weight between 200 and 350 Da")
    assert "MW from 200 to 350 Da" in ran.answer.text


async def test_ranked_filter_names_the_best_and_its_value(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "compounds with MW under 400 ranked by QED")
    records = ran.answer.result["records"]
    best = records[0]
    qed = best["molecule_properties"]["qed_weighted"]
    assert qed == max(r["molecule_properties"]["qed_weighted"] for r in records)
    assert ran.answer.text.startswith(f"{name(library, best['chembl_id']).capitalize()} (")
    assert f"has the highest QED of the {ran.answer.result['total']:,} library compounds" in (
        ran.answer.text
    )
    # Every match was ranked, not the first ones in library order.
    rows = library.filter_rows([("mw_freebase", "<", 400.0)])
    assert ran.answer.result["total"] == len(rows)
    assert qed == max(library.numeric["qed_weighted"][rows])
    assert "were ranked" not in ran.answer.text


async def test_workflow_says_what_each_stage_kept(executor: PlanExecutor) -> None:
    ran = await ask(
        executor, "compounds containing a carboxylic acid with logP > 2, ranked by molecular weight"
    )
    kept = next(o.result for o in ran.outcomes.values() if o.result and "dropped" in o.result)
    text = ran.answer.text
    assert "compounds containing carboxylic acid (C(=O)[OH])" in text
    assert (
        f", {len(kept['records'])} kept with ALogP above 2, ranked by MW (highest first):" in text
    )
    weights = [r["molecule_properties"]["mw_freebase"] for r in ran.answer.result["records"]]
    assert weights == sorted(weights, reverse=True)
    assert f"MW {number(weights[0])} Da" in text


async def test_workflow_over_ids(executor: PlanExecutor) -> None:
    ran = await ask(
        executor, "get properties of CHEMBL25, CHEMBL521 and CHEMBL113 and keep those with MW < 200"
    )
    assert ran.answer.text.startswith("3 of 3 compounds found, 2 kept with MW below 200 Da")
    assert {r["chembl_id"] for r in ran.answer.result["records"]} == {"CHEMBL25", "CHEMBL113"}


async def test_follow_up_is_answered_about_the_context_compound(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "what's its logP?", context="Tell me about warfarin")
    alogp = panel(library, "CHEMBL1464")["alogp"]
    assert ran.answer.text == f"Warfarin (CHEMBL1464) has ALogP {number(alogp)}."


# --- failures, partial answers and rejections ---------------------------------------------


async def test_targets_offline_fail_with_the_reason(executor: PlanExecutor) -> None:
    ran = await ask(executor, "What targets does aspirin bind to?")
    assert ran.answer.status == "failed"
    assert ran.answer.text.startswith("Could not get the targets of aspirin:")
    assert "CHEMAGENT_CHEMBL_URL" in ran.answer.text
    assert ran.answer.result is None


async def test_unknown_name_fails_with_did_you_mean(executor: PlanExecutor) -> None:
    ran = await ask(executor, "LogP of asprin")
    assert ran.answer.status == "failed"
    assert ran.answer.text.startswith("Could not get the ALogP of asprin:")
    assert "Did you mean ASPIRIN (CHEMBL25)" in ran.answer.text
    assert ran.answer.problems == [ran.answer.text.split(": ", 1)[1]]


async def test_unknown_query_compound_of_a_step_fails_with_did_you_mean(
    executor: PlanExecutor,
) -> None:
    ran = await ask(executor, "What targets does asprin bind to?")  # the step never ran
    assert "'asprin' is not a known compound. Did you mean ASPIRIN (CHEMBL25)" in ran.answer.text


async def test_broken_smiles_says_it_does_not_parse(executor: PlanExecutor) -> None:
    ran = await ask(executor, "properties of CC(=O)Oc1ccccc1C(=O")
    assert ran.answer.status == "failed"
    why = ran.answer.text.split(": ", 1)[1]  # the resolve step's sentence, or the hint
    assert "SMILES" in why
    assert ran.answer.problems == [why]


async def test_skipped_steps_are_explained_by_their_cause_once(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Which has higher LogP: aspirin or asprin?")
    statuses = sorted(o.status for o in ran.outcomes.values())
    assert "skipped" in statuses  # the compare step
    assert ran.answer.status == "failed"
    assert len(ran.answer.problems) == 1
    assert ran.answer.problems[0].startswith("'asprin' is not a known compound")


async def test_partial_answer_keeps_what_worked(executor: PlanExecutor, library: Library) -> None:
    ran = await ask(executor, "calculate TPSA and HBD for morphine, codeine, heroin, oxycodone")
    assert ran.answer.status == "partial"
    for ident in ("CHEMBL70", "CHEMBL485"):
        assert f"({ident}) has TPSA {number(panel(library, ident)['psa'])} Å²" in ran.answer.text
    assert "Could not get the properties of heroin: 'heroin' is not a known compound" in (
        ran.answer.text
    )
    assert len(ran.answer.problems) == 1
    assert len(ran.answer.result["compounds"]) == 3


async def test_partial_when_the_first_of_several_fails(executor: PlanExecutor) -> None:
    # The plan's output is the first panel; the others still answer.
    ran = await ask(executor, "compare asprin, aspirin and ibuprofen")
    assert ran.answer.status == "partial"
    assert ran.answer.text.startswith("Aspirin (CHEMBL25) vs ibuprofen (CHEMBL521):")


@dataclass
class FakeOutcome:
    status: str
    result: Any = None
    error: dict[str, Any] | None = None


def test_timeouts_are_one_problem() -> None:
    intent = parse("Which has higher LogP: aspirin or ibuprofen?")
    built = plan(intent)
    late = {"error": "query_timeout", "detail": "The query took longer than 1 s."}
    outcomes = {node.id: FakeOutcome("timeout", error=late) for node in built.nodes}
    answer = format_answer(intent, built, outcomes)
    assert answer.status == "failed"
    assert answer.problems == ["The query took longer than 1 s."]
    assert answer.text == "Could not compare aspirin and ibuprofen: The query took longer than 1 s."


def test_invalid_threshold_is_rejected_with_the_error() -> None:
    intent = parse("compounds similar to aspirin above 1.5")
    with pytest.raises(PlanError):
        plan(intent)
    answer = format_rejection(intent)
    assert answer.status == "rejected"
    assert answer.text.startswith("I can't run this query: threshold 1.5 is above 1")
    assert answer.result is None
    assert answer.problems == intent.errors


@pytest.mark.parametrize("query", ["What is the weather today?", "asdkjh qwe zzz", "hello"])
def test_out_of_scope_and_gibberish_get_the_capabilities(query: str) -> None:
    intent = parse(query)
    with pytest.raises(PlanError) as raised:
        plan(intent)
    answer = format_rejection(intent, str(raised.value))
    assert answer.status == "rejected"
    assert answer.text.endswith(CAPABILITIES)
    assert answer.text.count("CHEMBL") == CAPABILITIES.count("CHEMBL")  # no guessed compound
    assert answer.result is None


def test_a_planner_error_is_said() -> None:
    intent = Intent(IntentKind.SUBSTRUCTURE, "find drugs containing")
    with pytest.raises(PlanError) as raised:
        plan(intent)
    answer = format_rejection(intent, str(raised.value))
    assert answer.text == f"I can't run this query: {str(raised.value).rstrip('.')}."
    assert answer.problems == [str(raised.value)]


def test_format_answer_rejects_an_intent_with_errors() -> None:
    intent = parse("top 0 compounds similar to caffeine")
    answer = format_answer(intent, Plan([], "n1"), {})
    assert answer.status == "rejected"
    assert "top 0" in answer.text


def test_capabilities_give_example_questions() -> None:
    examples = CAPABILITIES.split("For example:", 1)[1]
    assert examples.count('"') // 2 >= 3  # at least three quoted example questions
    for word in ("look up", "compare", "similar", "substructure", "filter"):
        assert word in CAPABILITIES
