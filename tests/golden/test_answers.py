"""Golden answers: cases with ``answer_contains``/``answer_status`` are parsed, planned, run on
the bundled library and formatted in-process; the suite fails below 95% of them correct.

Prints accuracy per category (run with ``-s`` to see it) and, when ``ANSWER_REPORT`` is
set, writes it there as JSON. Failing cases, with their answers, are listed in the
assertion message.
"""

from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chemagent.chem.molecule import MoleculeLimits
from chemagent.execution.plan_runner import PlanExecutor
from chemagent.execution.runner import StepRunner
from chemagent.library.load import load
from chemagent.query.formatter import Answer, format_answer, format_rejection
from chemagent.query.intent import parse
from chemagent.query.model import IntentKind
from chemagent.query.plan import PlanError
from chemagent.query.planner import plan
from chemagent.steps.context import StepContext
from tests.golden.scoring import (
    AnswerOutcome,
    has_answer_check,
    load_cases,
    per_category,
    score_answer,
    table,
)
from tests.golden.test_golden import CATEGORIES

FLOOR = 0.95
MIN_CASES = 60


async def answer(executor: PlanExecutor, case: dict[str, Any]) -> Answer:
    """parse -> plan -> execute -> format, the way the query service answers."""
    context = parse(case["context"]) if case.get("context") else None
    intent = parse(case["query"], context)
    if intent.errors or intent.kind in (IntentKind.OUT_OF_SCOPE, IntentKind.UNKNOWN):
        return format_rejection(intent)
    try:
        built = plan(intent)
    except PlanError as exc:
        return format_rejection(intent, str(exc))
    outcomes, _ = await executor.execute(built, max_workers=4)
    return format_answer(intent, built, outcomes)


async def run_all(cases: list[dict[str, Any]]) -> list[AnswerOutcome]:
    ctx = StepContext(library=load(), limits=MoleculeLimits(), max_results=1000)
    with ThreadPoolExecutor(4, thread_name_prefix="golden-cpu") as pool:
        executor = PlanExecutor(StepRunner(ctx, pool, step_timeout=30.0, max_pending=256))
        scored = []
        for case in cases:
            got = await answer(executor, case)
            scored.append(score_answer(case, got.text, got.status))
        return scored


def answer_cases() -> list[dict[str, Any]]:
    return [case for case in load_cases() if has_answer_check(case)]


def test_answer_set_is_large_and_covers_every_category() -> None:
    cases = answer_cases()
    assert len(cases) >= MIN_CASES
    assert {c["category"] for c in cases} == CATEGORIES
    assert all(c.get("answer_contains") for c in cases), "every answer case checks its text"
    statuses = {c.get("answer_status", "ok") for c in cases}
    assert statuses == {"ok", "partial", "failed", "rejected"}


def test_answer_accuracy() -> None:
    outcomes = asyncio.run(run_all(answer_cases()))
    report = per_category(outcomes)
    print("\n" + table(report))
    if target := os.environ.get("ANSWER_REPORT"):
        Path(target).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failing = [o.explain() for o in outcomes if not o.correct]
    accuracy = report["overall"]["accuracy"]
    assert accuracy >= FLOOR, (
        f"answer accuracy {accuracy:.1%} < {FLOOR:.0%}; failing cases:\n" + "\n".join(failing)
    )


def test_answer_scoring_counts_a_wrong_expectation_as_wrong() -> None:
    case = {
        "category": "compare",
        "query": "Which has higher LogP: aspirin or ibuprofen?",
        "answer_contains": ["IBUPROFEN (chembl521)", "3.07"],
    }
    text = "Ibuprofen (CHEMBL521) has the higher ALogP: 3.07 vs 1.31 for aspirin (CHEMBL25)."
    assert score_answer(case, text, "ok").correct  # case-insensitive, status ok by default
    assert score_answer(case, text, "partial").wrong_status
    assert score_answer({**case, "answer_status": "partial"}, text, "partial").correct
    wrong = score_answer({**case, "answer_contains": ["aspirin (CHEMBL25) has"]}, text, "ok")
    assert not wrong.correct
    assert wrong.missing == ["aspirin (CHEMBL25) has"]
    assert "missing 'aspirin (CHEMBL25) has'" in wrong.explain()
