"""Score parsed intents against the golden expectations (used by test_golden.py).

A case is correct only if every field matches. Always checked (absent means the default):
kind, compounds (values, in order, case-insensitive), properties (in order), conditions,
threshold, top_k, direction, and whether errors is non-empty. Checked when the case
gives them: threshold_max, rank_by, substructure, steps (the kinds of the workflow steps).

Cases marked ``"held_out": true`` were written after the rules and first run blind; the
report has a ``held_out`` row for them (they also count in their own category).

Answers (used by test_answers.py): a case with ``answer_contains`` (substrings, matched
case-insensitively) and/or ``answer_status`` (``ok`` when left out) is also run and
formatted; its answer is correct when the text holds every substring and the status
matches.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chemagent.query.intent import parse
from chemagent.query.model import Intent

CASES_PATH = Path(__file__).with_name("queries.json")
OPTIONAL = ("threshold_max", "rank_by", "substructure", "steps")


@dataclass(frozen=True)
class Outcome:
    """One case's result: the mismatched fields (empty when correct)."""

    case: dict[str, Any]
    mismatches: dict[str, tuple[Any, Any]]

    @property
    def correct(self) -> bool:
        return not self.mismatches


def load_cases(path: Path = CASES_PATH) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8")))


def _same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, abs_tol=1e-9)


def observed(intent: Intent) -> dict[str, Any]:
    """The scored fields of an intent, in the golden file's vocabulary."""
    return {
        "kind": intent.kind.value,
        "compounds": [str(e.value).lower() for e in intent.compounds],
        "properties": list(intent.properties),
        "conditions": [[c.field, c.op, float(c.value)] for c in intent.conditions],
        "threshold": intent.threshold,
        "top_k": intent.top_k,
        "direction": intent.direction,
        "errors": bool(intent.errors),
        "threshold_max": intent.threshold_max,
        "rank_by": intent.rank_by,
        "substructure": intent.substructure,
        "steps": [s.kind.value for s in intent.steps],
    }


def expected(case: dict[str, Any]) -> dict[str, Any]:
    """The scored fields a case expects (defaults for those it leaves out)."""
    want: dict[str, Any] = {
        "kind": case["kind"],
        "compounds": [str(c).lower() for c in case.get("compounds", [])],
        "properties": list(case.get("properties", [])),
        "conditions": [[f, op, float(v)] for f, op, v in case.get("conditions", [])],
        "threshold": case.get("threshold"),
        "top_k": case.get("top_k"),
        "direction": case.get("direction"),
        "errors": bool(case.get("errors", False)),
    }
    want.update({key: case[key] for key in OPTIONAL if key in case})
    return want


def score(case: dict[str, Any], intent: Intent) -> Outcome:
    """Compare one parsed intent with its case."""
    got, want = observed(intent), expected(case)
    mismatches: dict[str, tuple[Any, Any]] = {}
    for key, value in want.items():
        if key in ("threshold", "threshold_max"):
            same = _same_number(got[key], value)
        else:
            same = got[key] == value
        if not same:
            mismatches[key] = (value, got[key])
    return Outcome(case, mismatches)


def run_case(case: dict[str, Any]) -> Outcome:
    """Parse a case's query (after its context query, if any) and score it."""
    context = parse(case["context"]) if case.get("context") else None
    return score(case, parse(case["query"], context))


class Scored(Protocol):
    """A scored case: an intent Outcome or an AnswerOutcome."""

    @property
    def case(self) -> dict[str, Any]: ...

    @property
    def correct(self) -> bool: ...


def per_category(outcomes: Sequence[Scored]) -> dict[str, dict[str, float]]:
    """``category -> {"cases", "correct", "accuracy"}``, plus an ``overall`` row."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for outcome in outcomes:
        keys = [outcome.case["category"], "overall"]
        if outcome.case.get("held_out"):
            keys.append("held_out")
        for key in keys:
            counts[key][0] += 1
            counts[key][1] += int(outcome.correct)
    return {
        key: {"cases": n, "correct": ok, "accuracy": ok / n}
        for key, (n, ok) in sorted(
            counts.items(), key=lambda kv: (kv[0] in ("held_out", "overall"), kv[0])
        )
    }


def table(report: dict[str, dict[str, float]]) -> str:
    lines = [f"{'category':<14} {'cases':>5} {'correct':>7} {'accuracy':>8}"]
    for key, row in report.items():
        lines.append(
            f"{key:<14} {int(row['cases']):>5} {int(row['correct']):>7} {row['accuracy']:>8.1%}"
        )
    return "\n".join(lines)


# --- answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerOutcome:
    """One case's answer: the substrings missing from its text and a wrong status, if any."""

    case: dict[str, Any]
    text: str
    status: str
    missing: list[str]
    wrong_status: bool

    @property
    def correct(self) -> bool:
        return not self.missing and not self.wrong_status

    def explain(self) -> str:
        where = f" (after {self.case['context']!r})" if self.case.get("context") else ""
        parts = [f"missing {m!r}" for m in self.missing]
        if self.wrong_status:
            parts.append(
                f"status: want {self.case.get('answer_status', 'ok')!r}, got {self.status!r}"
            )
        return f"{self.case['query']!r}{where}: {'; '.join(parts)}\n    answer: {self.text}"


def has_answer_check(case: dict[str, Any]) -> bool:
    return "answer_contains" in case or "answer_status" in case


def score_answer(case: dict[str, Any], text: str, status: str) -> AnswerOutcome:
    """Compare an answer's text (case-insensitive substrings) and status with the case."""
    lowered = text.lower()
    missing = [s for s in case.get("answer_contains", []) if s.lower() not in lowered]
    wrong = status != case.get("answer_status", "ok")
    return AnswerOutcome(case, text, status, missing, wrong)
