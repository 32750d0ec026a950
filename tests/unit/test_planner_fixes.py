"""Planner bugs found by the golden answers: each test runs parse -> plan -> execute -> format
on the bundled library and checks the compounds the answer is about, read from the library
itself (not written here)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from chemagent.execution.plan_runner import BINDERS, NodeOutcome, PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.library.library import Library
from chemagent.query.formatter import Answer, format_answer
from chemagent.query.intent import parse
from chemagent.query.model import Entity, EntityKind, Intent, IntentKind
from chemagent.query.plan import Plan, PlanNode
from chemagent.query.planner import plan
from chemagent.steps.context import StepContext
from chemagent.steps.registry import list_step_kinds
from tests.unit.builders import memory_library

pytestmark = pytest.mark.anyio
KNOWN = {kind.name for kind in list_step_kinds()} | set(BINDERS)
OFFLINE_HINT = "not in the bundled library of 2,628 approved drugs; set CHEMAGENT_CHEMBL_URL"


@pytest.fixture
def executor(ctx: StepContext) -> Iterator[PlanExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="fixes-cpu")
    yield PlanExecutor(StepRunner(ctx, pool, step_timeout=10.0, max_pending=256))
    pool.shutdown(wait=True)


@dataclass
class Ran:
    answer: Answer
    plan: Plan
    outcomes: dict[str, NodeOutcome]

    def nodes(self, kind: str) -> list[PlanNode]:
        return [n for n in self.plan.nodes if n.kind == kind]

    def result(self, kind: str) -> Any:
        return self.outcomes[self.nodes(kind)[0].id].result


async def ask(executor: PlanExecutor, query: str) -> Ran:
    intent = parse(query)
    built = plan(intent)
    built.validate(KNOWN)
    outcomes, _ = await executor.execute(built, max_workers=4)
    return Ran(format_answer(intent, built, outcomes), built, outcomes)


def panel(library: Library, chembl_id: str) -> dict[str, Any]:
    row = library.row_of(chembl_id)
    assert row is not None, chembl_id
    values = library.properties(row)
    assert values is not None
    return values


# --- 1. a ranked library filter ranks every match, not the first 1,000 ------------------


async def test_ranked_filter_ranks_the_whole_library(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "top 10 drugs by lowest molecular weight")
    weights = library.numeric["mw_freebase"]
    lightest = [library.ids[r] for r in np.argsort(weights, kind="stable")[:10]]
    assert lightest[0] == "CHEMBL1796997"  # helium, 4 Da: beyond row 1,000
    records = ran.answer.result["records"]
    assert [r["chembl_id"] for r in records] == lightest
    assert ran.answer.text.startswith("Helium (CHEMBL1796997) has the lowest MW of the 2,628")
    assert "were ranked" not in ran.answer.text
    assert ran.answer.result["total"] == len(library)
    search = ran.nodes("filter")[0]
    assert search.params == {"order_by": "mw_freebase", "direction": "min", "limit": 10}


def test_library_orders_rows_nan_last_ties_by_row() -> None:
    library = memory_library(numeric={"alogp": [2.0, float("nan"), 1.0, 2.0, 3.0, 1.0]})
    rows = np.arange(6)
    assert library.order_rows(rows, "alogp", descending=True).tolist() == [4, 0, 3, 2, 5, 1]
    assert library.order_rows(rows, "alogp", descending=False).tolist() == [2, 5, 0, 3, 4, 1]
    assert library.order_rows(np.array([1, 3, 5]), "alogp", descending=False).tolist() == [
        5,
        3,
        1,
    ]


# --- 2. a workflow from a substructure search keeps every hit, not the first 20 --------------


async def test_substructure_workflow_ranks_every_hit(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "Find sulfonamides with MW below 400 and sort them by TPSA")
    assert "limit" not in ran.nodes("substructure")[0].params  # up to the step's maximum
    search = ran.result("substructure")
    assert len(search["hits"]) > 20
    ranked = ran.answer.result["records"]
    best = max(
        (
            h["chembl_id"]
            for h in search["hits"]
            if panel(library, h["chembl_id"])["mw_freebase"] < 400
        ),
        key=lambda ident: panel(library, ident)["psa"],
    )
    assert best == "CHEMBL902"  # famotidine, 175.83 Å², the 42nd hit in library order
    assert ranked[0]["chembl_id"] == best
    assert "famotidine (CHEMBL902) TPSA 175.83" in ran.answer.text


# --- 3. a workflow's top_k cuts the final ranking, not the search ---------------------------


async def test_workflow_top_k_cuts_the_ranking_not_the_search(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "similar to ibuprofen, keep MW < 300, rank by QED, top 5")
    assert "top_k" not in ran.nodes("similar")[0].params
    assert ran.nodes("rank")[0].params["top_k"] == 5
    kept = ran.result("keep")["records"]
    assert len(kept) > 5  # everything kept was ranked
    qed = sorted((r["molecule_properties"]["qed_weighted"] for r in kept), reverse=True)
    records = ran.answer.result["records"]
    assert [r["molecule_properties"]["qed_weighted"] for r in records] == qed[:5]


async def test_workflow_top_k_without_a_ranking_limits_the_nearest_neighbours(
    executor: PlanExecutor,
) -> None:
    # The documented reading: the 5 nearest neighbours, then those with MW < 300 kept.
    ran = await ask(executor, "find the 5 compounds most similar to aspirin with MW < 300")
    assert ran.nodes("similar")[0].params["top_k"] == 5
    assert len(ran.result("similar")["hits"]) == 5
    kept = ran.answer.result["records"]
    assert all(r["molecule_properties"]["mw_freebase"] < 300 for r in kept)
    assert ran.answer.text.startswith("The 5 library compounds most similar to aspirin (CHEMBL25)")


# --- 4. "Does aspirin contain a carboxylic acid?" checks aspirin ---------------------------


@pytest.mark.parametrize(
    ("query", "text"),
    [
        (
            "Does aspirin contain a carboxylic acid?",
            "Yes, aspirin (CHEMBL25) contains a carboxylic acid (1 match).",
        ),
        (
            "Does caffeine contain a benzene ring?",
            "No, caffeine (CHEMBL113) does not contain a benzene ring.",
        ),
    ],
)
async def test_substructure_question_about_one_compound(
    executor: PlanExecutor, query: str, text: str
) -> None:
    ran = await ask(executor, query)
    assert [n.kind for n in ran.plan.nodes] == ["resolve", "contains"]
    assert ran.answer.status == "ok"
    assert ran.answer.text == text


async def test_substructure_question_about_several_compounds(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Do aspirin and caffeine contain a carboxylic acid?")
    assert len(ran.nodes("contains")) == 2
    assert ran.answer.text == (
        "Yes, aspirin (CHEMBL25) contains a carboxylic acid (1 match). "
        "No, caffeine (CHEMBL113) does not contain a carboxylic acid."
    )
    assert [c["contains"] for c in ran.answer.result["compounds"]] == [True, False]


async def test_substructure_question_about_an_unknown_compound(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Does asprin contain a carboxylic acid?")
    assert ran.answer.status == "failed"
    assert "'asprin' is not a known compound. Did you mean ASPIRIN (CHEMBL25)" in ran.answer.text


# --- 5. workflows over named compounds resolve the names ----------------------------------


async def test_lipinski_question_about_named_compounds(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Are aspirin and ibuprofen Lipinski compliant?")
    assert ran.answer.status == "ok", ran.answer.text
    assert "Yes: aspirin (CHEMBL25) meets Lipinski's rule of five" in ran.answer.text
    assert "Yes: ibuprofen (CHEMBL521) meets Lipinski's rule of five" in ran.answer.text
    assert {r["chembl_id"] for r in ran.answer.result["records"]} == {"CHEMBL25", "CHEMBL521"}


async def test_named_batch_workflow_keeps_by_property(
    executor: PlanExecutor, library: Library
) -> None:
    ran = await ask(executor, "properties of aspirin, ibuprofen and caffeine, keep MW < 200")
    assert ran.answer.status == "ok", ran.answer.text
    assert len(ran.nodes("panel")) == 3
    kept = {r["chembl_id"] for r in ran.answer.result["records"]}
    expected = {
        ident
        for ident in ("CHEMBL25", "CHEMBL521", "CHEMBL113")
        if panel(library, ident)["mw_freebase"] < 200
    }
    assert kept == expected == {"CHEMBL25", "CHEMBL113"}
    assert ran.answer.text.startswith("3 of 3 compounds found, 2 kept with MW below 200 Da")


async def test_a_check_of_named_compounds_answers_those_found(executor: PlanExecutor) -> None:
    ran = await ask(executor, "Are aspirin and asprin Lipinski compliant?")
    assert ran.answer.status == "partial"
    assert ran.answer.text.startswith("Yes: aspirin (CHEMBL25) meets Lipinski's rule of five")
    assert "Could not get the properties of asprin: 'asprin' is not a known compound" in (
        ran.answer.text
    )
    assert [r["chembl_id"] for r in ran.answer.result["records"]] == ["CHEMBL25"]


async def test_named_batch_workflow_without_a_filter_lists_them(executor: PlanExecutor) -> None:
    compounds = [Entity(EntityKind.NAME, n, n) for n in ("aspirin", "caffeine")]
    query = Intent(
        IntentKind.WORKFLOW,
        "aspirin and caffeine, show their properties",
        compounds=compounds,
        steps=[Intent(IntentKind.BATCH, "", compounds=compounds)],
    )
    built = plan(query)
    assert built.output == next(n.id for n in built.nodes if n.kind == "panel")  # the first
    outcomes, _ = await executor.execute(built)
    answer = format_answer(query, built, outcomes)
    assert answer.text.startswith("2 of 2 compounds found: aspirin (CHEMBL25) MW 180.16 Da")
    assert [r["chembl_id"] for r in answer.result["records"]] == ["CHEMBL25", "CHEMBL113"]


async def test_id_batch_workflow_keeps_the_panels_path(executor: PlanExecutor) -> None:
    ran = await ask(
        executor, "get properties of CHEMBL25, CHEMBL521 and CHEMBL113 and keep those with MW < 200"
    )
    assert [n.kind for n in ran.plan.nodes] == ["panels", "keep"]


# --- 6. an unknown ChEMBL ID gets the offline hint ------------------------------------------


@pytest.mark.parametrize(
    "query", ["What is CHEMBL999999999?", "compounds similar to CHEMBL999999999"]
)
async def test_unknown_chembl_id_says_where_else_to_look(
    executor: PlanExecutor, query: str
) -> None:
    ran = await ask(executor, query)
    assert ran.answer.status == "failed"
    assert "No compound with ID 'CHEMBL999999999'" in ran.answer.text
    assert OFFLINE_HINT in ran.answer.text
    failed = [o for o in ran.outcomes.values() if o.status == "error"]
    assert failed
    assert failed[0].error is not None
    assert OFFLINE_HINT in failed[0].error["detail"]
    assert failed[0].error["status"] == 404


# --- 7. the similarity answer trusts the step's upper bound ---------------------------------


@dataclass
class FakeOutcome:
    status: str
    result: Any = None
    error: dict[str, Any] | None = None


def test_similarity_answer_reports_the_step_total_within_a_range() -> None:
    intent = parse("compounds similar to morphine between 0.4 and 0.8")
    assert intent.kind is IntentKind.SIMILARITY
    built = plan(intent)
    search = next(n for n in built.nodes if n.kind == "similar")
    assert search.params["threshold_max"] == 0.8
    resolved = {
        "query": "morphine",
        "kind": "name",
        "matches": [{"chembl_id": "CHEMBL70", "pref_name": "MORPHINE"}],
        "molecule": None,
        "suggestions": [],
    }
    # The step applied the bound; the formatter reports its hits and total as they are
    # (a hit above the bound here would be the step's business, not re-filtered).
    hits = [
        {"chembl_id": "CHEMBL2", "pref_name": "TWO", "similarity": 0.85},
        {"chembl_id": "CHEMBL485", "pref_name": "CODEINE", "similarity": 0.79},
        {"chembl_id": "CHEMBL1", "pref_name": "ONE", "similarity": 0.5},
    ]
    outcomes = {
        built.nodes[0].id: FakeOutcome("ok", resolved),
        search.id: FakeOutcome("ok", {"total": 7, "hits": hits, "query_smiles": "C"}),
    }
    answer = format_answer(intent, built, outcomes)
    assert answer.text.startswith(
        "7 library compounds similar to morphine (CHEMBL70) at Tanimoto 0.4 to 0.8: "
    )
    assert answer.result["total"] == 7
    assert answer.result["hits"] == hits
