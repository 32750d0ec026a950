"""The public functions: one formatter per intent kind, then the status and the problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chemagent.query.answers.compare import answer_compare
from chemagent.query.answers.compounds import answer_lookup, answer_properties, answer_targets
from chemagent.query.answers.outcomes import (
    Answer,
    Formatted,
    OutcomeLike,
    Run,
    failed_nodes,
    node_action,
    output_nodes,
    smiles_hint,
)
from chemagent.query.answers.search import (
    answer_similarity,
    answer_substructure,
    group_words,
    pattern_words,
)
from chemagent.query.answers.words import dedupe, field_name, joined
from chemagent.query.answers.workflow import answer_filter, answer_workflow
from chemagent.query.model import Intent, IntentKind
from chemagent.query.plan import Plan

CAPABILITIES = (
    "ChemAgent answers questions about small molecules in its compound library (the ChEMBL "
    "approved drugs): look up a compound by name, ChEMBL ID, InChIKey or SMILES; compute "
    "and compare properties (MW, logP, TPSA, H-bond donors and acceptors, QED, Lipinski); "
    "find similar compounds or substructures; filter and rank the library by properties; "
    'and chain these into workflows. For example: "What is CHEMBL25?", "Which has '
    'higher LogP: aspirin or ibuprofen?", "Find compounds similar to ibuprofen above '
    '0.5", "Drugs with MW < 300 and LogP < 3 ranked by QED".'
)


_FORMATTERS: dict[IntentKind, Callable[[Run], Formatted]] = {
    IntentKind.LOOKUP: answer_lookup,
    IntentKind.PROPERTIES: answer_properties,
    IntentKind.BATCH: answer_properties,
    IntentKind.COMPARE: answer_compare,
    IntentKind.SIMILARITY: answer_similarity,
    IntentKind.SUBSTRUCTURE: answer_substructure,
    IntentKind.FILTER: answer_filter,
    IntentKind.WORKFLOW: answer_workflow,
    IntentKind.TARGETS: answer_targets,
}


def _compound_words(intent: Intent) -> str:
    return joined([e.text for e in intent.compounds]) or "the compound"


def _what(intent: Intent) -> str:
    """What the query asked, as a verb phrase for "Could not ..."."""
    names = _compound_words(intent)
    fields = joined([field_name(f) for f in intent.properties])
    phrases = {
        IntentKind.LOOKUP: f"look up {names}",
        IntentKind.PROPERTIES: f"get the {fields or 'properties'} of {names}",
        IntentKind.BATCH: f"get the {fields or 'properties'} of {names}",
        IntentKind.COMPARE: f"compare {names}",
        IntentKind.SIMILARITY: f"search for compounds similar to {names}",
        IntentKind.SUBSTRUCTURE: (
            f"check whether {names} contain{'s' if len(intent.compounds) == 1 else ''} "
            f"{group_words(intent)}"
            if intent.compounds
            else f"search for {pattern_words(intent)}"
        ),
        IntentKind.FILTER: "filter the library",
        IntentKind.WORKFLOW: f"run the workflow{' on ' + names if intent.compounds else ''}",
        IntentKind.TARGETS: f"get the targets of {names}",
    }
    return phrases.get(intent.kind, "answer this")


def format_answer(intent: Intent, plan: Plan, outcomes: Mapping[str, OutcomeLike]) -> Answer:
    """Turn the outcomes of ``plan`` into the answer to ``intent``.

    Args:
        intent: the parsed query.
        plan: the plan that ran for it.
        outcomes: node id -> outcome (``NodeOutcome`` or anything with status, result, error).

    Returns:
        The answer: ``failed`` when the output could not be computed (the text says what
        and why, with any "did you mean"), ``partial`` when it could but something else
        failed (the text adds "Could not ...: <why>"), else ``ok``.
    """
    formatter = _FORMATTERS.get(intent.kind)
    if intent.errors or formatter is None:
        return format_rejection(intent)
    run = Run(intent, plan, outcomes)
    failures = [(node, smiles_hint(detail)) for node, detail in failed_nodes(run)]
    problems = dedupe(detail for _, detail in failures)
    if not any(run.ok(node_id) for node_id in output_nodes(run)):
        why = " ".join(problems) or _output_error(run)
        return Answer(f"Could not {_what(intent)}: {why}", "failed", None, problems or [why])
    text, result, extra = formatter(run)
    problems = dedupe([*problems, *extra])
    seen: set[str] = set()
    for node, detail in failures:
        if detail not in seen:
            seen.add(detail)
            text += f" Could not {node_action(node)}: {detail}"
    text += "".join(f" {p}" for p in extra)
    return Answer(text, "partial" if problems else "ok", result, problems)


def _output_error(run: Run) -> str:
    outcome = run.outcomes.get(run.plan.output)
    error = (outcome.error if outcome is not None else None) or {}
    return str(error.get("detail") or "it did not run.")


def format_rejection(intent: Intent, reason: str | None = None) -> Answer:
    """The answer to a query that was not run.

    Args:
        intent: the parsed query.
        reason: why it could not be planned (a ``PlanError`` message), if it was tried.

    Returns:
        A ``rejected`` answer: the intent's errors, else a note on what ChemAgent can do
        for out-of-scope and unreadable queries, else ``reason``. Never a guessed compound.
    """
    if intent.errors:
        errors = dedupe(intent.errors)
        return Answer(f"I can't run this query: {'; '.join(errors)}.", "rejected", None, errors)
    if intent.kind is IntentKind.OUT_OF_SCOPE:
        text = "That is outside what I can help with: I only answer chemistry questions."
        return Answer(f"{text} {CAPABILITIES}", "rejected", None, [])
    if intent.kind is IntentKind.UNKNOWN or reason is None:
        text = "I could not find a question about a compound in that."
        return Answer(f"{text} {CAPABILITIES}", "rejected", None, [])
    return Answer(f"I can't run this query: {reason.rstrip('.')}.", "rejected", None, [reason])
