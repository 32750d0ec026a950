"""Answers comparing compounds: who has the higher value, or the values side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chemagent.query.answers.outcomes import YES_NO, Formatted, Run
from chemagent.query.answers.records import key_of, panel_of, who
from chemagent.query.answers.words import (
    FIELDS,
    SUMMARY_FIELDS,
    Field,
    field_name,
    joined,
    phrase,
    value_text,
)
from chemagent.query.model import Intent


def superlative(field: str, direction: str, n: int) -> str:
    counted = FIELDS.get(field, Field(field)).plural is not None
    words = {
        (True, "max"): ("more", "the most"),
        (True, "min"): ("fewer", "the fewest"),
        (False, "max"): ("the higher", "the highest"),
        (False, "min"): ("the lower", "the lowest"),
    }[(counted, direction)]
    return f"{words[0] if n == 2 else words[1]} {field_name(field)}"


def _compare_sentence(result: Mapping[str, Any], intent: Intent, first: str | None) -> str:
    field, direction = str(result["property"]), str(result["direction"])
    ranking: list[Mapping[str, Any]] = list(result["ranking"])
    best, rest = ranking[0], ranking[1:]
    if result.get("tie"):
        tied = [r for r in ranking if r["value"] == best["value"]]
        text = (
            f"{joined([who(r) for r in tied])} tie on {field_name(field)}: "
            f"{value_text(field, best['value'])} each"
        )
        others = [r for r in ranking if r["value"] != best["value"]]
        if others:
            text += "; " + ", ".join(f"{who(r)} {value_text(field, r['value'])}" for r in others)
        return text + "."
    yes_no = first is not None and YES_NO.match(intent.query) is not None
    text = f"{who(best, start=not yes_no)} has {superlative(field, direction, len(ranking))}: "
    text += value_text(field, best["value"])
    if len(rest) == 1:
        text += f" vs {value_text(field, rest[0]['value'])} for {who(rest[0])}."
    else:
        text += "; then " + ", ".join(f"{who(r)} {value_text(field, r['value'])}" for r in rest)
        text += "."
    if yes_no:  # "Is aspirin more lipophilic than ibuprofen?": about the first compound
        text = f"{'Yes' if key_of(best) == first else 'No'}: {text}"
    return text


def _side_by_side(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    if len(records) == 2:
        a, b = (panel_of(r) for r in records)
        parts = [
            f"{field_name(f)} {value_text(f, a.get(f))} vs {value_text(f, b.get(f))}"
            for f in fields
        ]
        return f"{who(records[0], start=True)} vs {who(records[1])}: {'; '.join(parts)}."
    return " ".join(
        f"{who(r, start=True)}: {', '.join(phrase(f, panel_of(r).get(f)) for f in fields)}."
        for r in records
    )


def answer_compare(run: Run) -> Formatted:
    records = run.panels()
    intent = run.intent
    output = run.plan.node(run.plan.output)
    compared = run.result(output.id) if output.kind == "compare" else None
    if not isinstance(compared, Mapping) or "ranking" not in compared:
        fields = intent.properties or [f for f in SUMMARY_FIELDS if f != "full_molformula"]
        return _side_by_side(records, fields), {"compounds": records}, []
    first = key_of(records[0]) if records else None
    text = _compare_sentence(compared, intent, first)
    extra = [f for f in intent.properties if f != compared["property"]]
    if extra and records:
        text += " " + _side_by_side(records, extra)
    return text, {**compared, "compounds": records}, []
