"""Answers over lists of compounds: filters, rankings and multi-step workflows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chemagent.query.answers.compare import superlative
from chemagent.query.answers.compounds import condition_checks, verdict
from chemagent.query.answers.outcomes import Formatted, Run, is_check
from chemagent.query.answers.records import compact, hit_text, panel_of, who
from chemagent.query.answers.search import pattern_words, similar_hits, similar_scope
from chemagent.query.answers.words import (
    FIELDS,
    capped,
    conditions_text,
    dedupe,
    field_name,
    joined,
    value_text,
)
from chemagent.query.model import Intent


def _ranked_list(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    return capped([hit_text(r, fields) for r in records], sep="; ")


_WORKFLOW_FIELDS = ("mw_freebase", "alogp", "psa", "qed_weighted")
"""Shown next to each compound of a workflow that names no field ("show their properties")."""


def _list_fields(intent: Intent, default: Sequence[str] = ()) -> list[str]:
    """The fields shown next to each listed compound: rank, conditions, asked properties."""
    fields = [intent.rank_by] if intent.rank_by else []
    fields += [c.field for c in intent.conditions] + list(intent.properties)
    return dedupe(f for f in fields or default if f in FIELDS)


def answer_filter(run: Run) -> Formatted:
    intent = run.intent
    found = run.first("filter") or {}
    total = int(found.get("total", 0))
    where = conditions_text(intent.conditions)
    if intent.rank_by:
        return _ranked(run, total, where)
    hits = list(found.get("hits", []))
    result = {**found, "conditions": where}
    if not total:
        return f"No library compounds have {where}.", result, []
    shown = f"; the first {len(hits)}" if len(hits) < total else ""
    text = f"{total:,} library compounds have {where}{shown}: {capped([who(h) for h in hits])}."
    return text, result, []


def _ranked(run: Run, total: int, where: str) -> Formatted:
    """Answer "Which drug has the highest QED?", "MW < 400 ranked by QED": best first.

    The filter step ranked every match before cutting to the top k; the output (the
    panels of those hits) keeps its order.
    """
    intent = run.intent
    found = run.first("filter") or {}
    records = [compact(r) for r in (run.result(run.plan.output) or {}).get("records", [])]
    field = str(found.get("order_by") or intent.rank_by)
    direction = str(found.get("direction") or intent.direction or "max")
    scope = f"the {total:,} library compounds" + (f" with {where}" if where else "")
    if not records:
        return f"No library compounds have {where}.", {"total": 0, "records": []}, []
    best, rest = records[0], records[1:]
    value = value_text(field, panel_of(best).get(field))
    text = f"{who(best, start=True)} has {superlative(field, direction, 3)} of {scope}: {value}."
    if rest:
        text += f" Next: {_ranked_list(rest, _list_fields(intent))}."
    if intent.top_k and len(records) < min(intent.top_k, total):
        text += f" (Only the top {len(records):,} are listed: the most one search returns.)"
    result = {
        "total": total,
        "conditions": where,
        "property": field,
        "direction": direction,
        "records": records,
    }
    return text, result, []


def _stage_source(run: Run) -> str:
    """What the workflow started from: a similarity search, a substructure search or the
    named compounds."""
    if run.nodes("similar"):
        _, hits, total = similar_hits(run)
        return similar_scope(run, total, len(hits))
    if run.nodes("substructure"):
        found = run.first("substructure") or {}
        hits = found.get("hits", [])
        pattern = pattern_words(run.intent)
        if found.get("truncated"):  # the search stopped at its limit: say so
            return f"the first {len(hits)} compounds containing {pattern} (more match)"
        return f"{len(hits)} compounds containing {pattern}"
    found = len((run.first("panels") or {}).get("records", [])) + len(run.panels())
    return f"{found} of {len(run.intent.compounds)} compounds found"


def answer_workflow(run: Run) -> Formatted:
    """Answer a pipeline: "12 compounds similar to X, 5 kept with MW below 300 Da, ..."."""
    intent = run.intent
    if is_check(run):
        return _batch_verdicts(run)
    stages = [_stage_source(run)]
    kept = run.first("keep")
    if kept is not None:
        count = len(kept["records"])
        stages.append(f"{count or 'none'} kept with {conditions_text(intent.conditions)}")
    ranked = run.first("rank")
    if ranked is not None:
        order = "highest" if ranked.get("direction") != "min" else "lowest"
        stages.append(f"ranked by {field_name(ranked['property'])} ({order} first)")
    if run.plan.node(run.plan.output).kind == "panel":  # named compounds, nothing after
        final_records = _batch_records(run)
    else:
        final_records = (run.result(run.plan.output) or {}).get("records", [])
    records = [compact(r) for r in final_records]
    text = ", ".join(stages)
    text = text[:1].upper() + text[1:]
    fields = _list_fields(intent, default=_WORKFLOW_FIELDS)
    text += f": {_ranked_list(records, fields)}." if records else "."
    return text, {"stages": stages, "records": records}, _missing_ids(run)


def _missing_ids(run: Run) -> list[str]:
    """The problem of a workflow over IDs: those not in the library."""
    missing = (run.first("panels") or {}).get("missing", [])
    if missing and run.plan.nodes and run.plan.nodes[0].kind == "panels":
        return [f"Not found in the library by ID: {joined(missing)}."]
    return []


def _batch_records(run: Run) -> list[dict[str, Any]]:
    """Every record of the named compounds of a batch workflow, in query order."""
    return list((run.first("panels") or {}).get("records", [])) + run.panels()


def _batch_verdicts(run: Run) -> Formatted:
    """One yes/no line per compound found; ``records`` holds those that pass (what the
    ``keep`` step keeps, also when a compound not found stopped it)."""
    records = _batch_records(run)
    checks = [condition_checks(r, run.intent.conditions) for r in records]
    result = {
        "records": [compact(r) for r, done in zip(records, checks, strict=True) if _passed(done)],
        "checks": [
            {"chembl_id": r.get("chembl_id"), "checks": done}
            for r, done in zip(records, checks, strict=True)
        ],
    }
    text = " ".join(verdict(r, run.intent) for r in records)
    return text, result, _missing_ids(run)


def _passed(checks: Sequence[Mapping[str, Any]]) -> bool:
    return all(check["passed"] for check in checks)
