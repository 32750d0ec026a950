"""Answers about named compounds: lookup, properties (with yes/no checks) and targets."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from chemagent.query.answers.outcomes import Formatted, Run
from chemagent.query.answers.records import key_of, panel_of, smiles_of, who
from chemagent.query.answers.words import (
    LIST_CAP,
    SUMMARY_FIELDS,
    capped,
    conditions_text,
    joined,
    phrase,
    value_text,
)
from chemagent.query.model import Condition, Intent
from chemagent.query.plan import Ref

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


_RO5_RULES: tuple[tuple[str, float, str], ...] = (
    ("mw_freebase", 500, "MW > 500 Da"),
    ("alogp", 5, "ALogP > 5"),
    ("hba", 10, "more than 10 H-bond acceptors"),
    ("hbd", 5, "more than 5 H-bond donors"),
)


def _summary(record: Mapping[str, Any]) -> str:
    """The key fields; a salt's MW is its parent's, so the full MW is added when it differs."""
    panel = panel_of(record)
    parts = [phrase(f, panel[f]) for f in SUMMARY_FIELDS if panel.get(f) is not None]
    full, parent = panel.get("full_mwt"), panel.get("mw_freebase")
    if full is not None and parent is not None and abs(float(full) - float(parent)) > 0.01:
        mw = phrase("mw_freebase", parent)
        parts = [
            f"{p} (parent; {value_text('full_mwt', full)} with counterions)" if p == mw else p
            for p in parts
        ]
    return ", ".join(parts)


def _lookup_line(record: Mapping[str, Any], also: Sequence[Mapping[str, Any]]) -> str:
    """ "Aspirin (CHEMBL25) is a small molecule, first approved in 1950: formula ..."."""
    head = who(record, start=True)
    if not record.get("chembl_id"):
        head += " is not in the library; computed"
    else:
        year = record.get("first_approval")
        head += f" is a {str(record.get('molecule_type') or 'compound').lower()}"
        head += f", first approved in {year}" if year else ""
    line = f"{head}: {_summary(record)}."
    if smiles := smiles_of(record):
        line += f" SMILES {smiles}."
    if also:
        line += f" Also matching: {joined([who(r) for r in also])}."
    return line


def answer_lookup(run: Run) -> Formatted:
    lines = []
    for node in run.nodes("panel"):
        record = run.result(node.id)
        if record is None:
            continue
        resolved = run.result(node.input.node) if isinstance(node.input, Ref) else None
        also = (resolved or {}).get("matches", [])[1:4]
        lines.append(_lookup_line(record, [m for m in also if key_of(m) != key_of(record)]))
    return " ".join(lines), {"compounds": run.panels()}, []


def condition_checks(
    record: Mapping[str, Any], conditions: Sequence[Condition]
) -> list[dict[str, Any]]:
    panel = panel_of(record)
    checks = []
    for c in conditions:
        actual = panel.get(c.field)
        passed = actual is not None and _OPS[c.op](float(actual), c.value)
        checks.append(
            {"field": c.field, "op": c.op, "value": c.value, "actual": actual, "passed": passed}
        )
    return checks


def _ro5_reasons(panel: Mapping[str, Any]) -> list[str]:
    return [text for f, limit, text in _RO5_RULES if (panel.get(f) or 0) > limit]


_RO3_FIELDS = ("mw_freebase", "alogp", "hbd", "hba", "rtb", "psa")


_RO5_FIELDS = ("mw_freebase", "alogp", "hba", "hbd")


def _values(panel: Mapping[str, Any], fields: Iterable[str]) -> str:
    return ", ".join(phrase(f, panel.get(f)) for f in fields)


def _ro3_verdict(record: Mapping[str, Any]) -> str:
    """Answer "rule of three for X": ChEMBL's ro3_pass and the values it is made of."""
    panel = panel_of(record)
    passes = panel.get("ro3_pass") == "Y"
    verb = "passes" if passes else "does not pass"
    values = _values(panel, _RO3_FIELDS)
    return f"{'Yes' if passes else 'No'}: {who(record)} {verb} the rule of three ({values})."


def _ro5_verdict(record: Mapping[str, Any], passed: bool) -> str:
    """Answer "Is metformin Lipinski compliant?": yes/no, violations, the four values."""
    panel = panel_of(record)
    violations = panel.get("num_ro5_violations")
    reasons = _ro5_reasons(panel)
    why = f": {joined(reasons)}" if reasons else ""
    verb = "meets" if violations == 0 else "does not meet"
    return (
        f"{'Yes' if passed else 'No'}: {who(record)} {verb} Lipinski's rule of five "
        f"({phrase('num_ro5_violations', violations)}{why}; {_values(panel, _RO5_FIELDS)})."
    )


def verdict(record: Mapping[str, Any], intent: Intent) -> str:
    """A yes/no line for a question with conditions on one compound."""
    if intent.properties == ["ro3_pass"]:
        return _ro3_verdict(record)
    passed = all(c["passed"] for c in condition_checks(record, intent.conditions))
    if all(c.field == "num_ro5_violations" for c in intent.conditions):
        return _ro5_verdict(record, passed)
    values = _values(panel_of(record), (c.field for c in intent.conditions))
    wanted = conditions_text(intent.conditions)
    return f"{'Yes' if passed else 'No'}: {who(record)} has {values} (asked: {wanted})."


def _properties_line(record: Mapping[str, Any], intent: Intent) -> str:
    if intent.conditions or intent.properties == ["ro3_pass"]:
        return verdict(record, intent)
    panel = panel_of(record)
    if not intent.properties:
        return f"{who(record, start=True)}: {_summary(record)}."
    values = [phrase(f, panel.get(f)) for f in intent.properties]
    if intent.properties == ["num_ro5_violations"] and (reasons := _ro5_reasons(panel)):
        values[0] += f" ({joined(reasons)})"
    return f"{who(record, start=True)} has {joined(values)}."


def answer_properties(run: Run) -> Formatted:
    records = run.panels()
    intent = run.intent
    lines = [_properties_line(r, intent) for r in records]
    text = " ".join(lines[:LIST_CAP])
    if len(lines) > LIST_CAP:
        text += f" And {len(lines) - LIST_CAP} more compounds (in the result)."
    result: dict[str, Any] = {"properties": list(intent.properties), "compounds": records}
    if intent.conditions:
        result["checks"] = [
            {"chembl_id": r.get("chembl_id"), "checks": condition_checks(r, intent.conditions)}
            for r in records
        ]
    return text, result, []


def answer_targets(run: Run) -> Formatted:
    found = run.result(run.plan.output)
    query = run.query_compound()
    if isinstance(found, Mapping):
        items = found.get("targets") or found.get("mechanisms") or []
    else:
        items = found if isinstance(found, list) else []
    names = []
    for item in items:
        name = item.get("pref_name") or item.get("target_name") or item.get("target_chembl_id")
        action = item.get("mechanism_of_action") or item.get("action_type")
        names.append(f"{name} ({action})" if action else str(name))
    target = who(query) if query else "the compound"
    if not names:
        return f"No targets are recorded for {target}.", found, []
    return f"Targets of {target}: {capped(names)}.", found, []
