"""The golden query set: every case parsed and scored; the suite fails below 95% overall.

Prints accuracy per category (run with ``-s`` to see it) and, when ``GOLDEN_REPORT`` is
set, writes it there as JSON. Failing cases are listed in the assertion message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chemagent.query.intent import parse
from tests.golden.scoring import load_cases, per_category, run_case, score, table

FLOOR = 0.95
CATEGORIES = {
    "lookup",
    "properties",
    "lipinski",
    "compare",
    "similarity",
    "substructure",
    "filter",
    "batch",
    "workflow",
    "targets",
    "out_of_scope",
    "unknown",
    "invalid",
    "smiles_shape",
    "followup",
}


def test_golden_set_is_large_and_covers_every_category() -> None:
    cases = load_cases()
    assert len(cases) >= 150
    assert {c["category"] for c in cases} == CATEGORIES
    assert len({(c.get("context"), c["query"]) for c in cases}) == len(cases), "duplicates"
    assert any(c.get("errors") for c in cases)
    assert any(c.get("context") for c in cases)


def test_golden_accuracy() -> None:
    outcomes = [run_case(case) for case in load_cases()]
    report = per_category(outcomes)
    print("\n" + table(report))
    if target := os.environ.get("GOLDEN_REPORT"):
        Path(target).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failing = [
        f"{o.case['query']!r}"
        + (f" (after {o.case['context']!r})" if o.case.get("context") else "")
        + ": "
        + "; ".join(f"{k}: want {w!r}, got {g!r}" for k, (w, g) in o.mismatches.items())
        for o in outcomes
        if not o.correct
    ]
    accuracy = report["overall"]["accuracy"]
    assert accuracy >= FLOOR, (
        f"golden accuracy {accuracy:.1%} < {FLOOR:.0%}; failing cases:\n" + "\n".join(failing)
    )


def test_scoring_counts_a_wrong_expectation_as_wrong() -> None:
    case = {
        "category": "properties",
        "query": "LogP of aspirin",
        "kind": "properties",
        "compounds": ["aspirin"],
        "properties": ["alogp"],
    }
    assert score(case, parse(case["query"])).correct
    for field, wrong in [
        ("kind", "lookup"),
        ("compounds", ["ibuprofen"]),
        ("properties", ["psa"]),
        ("threshold", 0.5),
        ("top_k", 3),
        ("direction", "max"),
        ("errors", True),
        ("conditions", [["alogp", "<", 5]]),
    ]:
        outcome = score({**case, field: wrong}, parse(case["query"]))
        assert not outcome.correct, field
        assert field in outcome.mismatches


def test_scoring_checks_defaults_and_optional_fields() -> None:
    # A field the case leaves out must still be at its default: extra compounds are wrong.
    intent = parse("Compare aspirin and ibuprofen")
    assert not score({"category": "compare", "query": "", "kind": "compare"}, intent).correct
    case = {
        "category": "workflow",
        "query": "",
        "kind": "filter",
        "conditions": [["mw_freebase", "<", 400]],
        "rank_by": "alogp",
    }
    outcome = score(case, parse("compounds with MW under 400 ranked by QED"))
    assert set(outcome.mismatches) == {"rank_by", "direction"}


def test_per_category_report() -> None:
    cases = [
        {"category": "a", "query": "aspirin", "kind": "lookup", "compounds": ["aspirin"]},
        {"category": "a", "query": "aspirin", "kind": "unknown"},
    ]
    report = per_category([run_case(c) for c in cases])
    assert report["a"] == {"cases": 2, "correct": 1, "accuracy": 0.5}
    assert report["overall"]["accuracy"] == 0.5
