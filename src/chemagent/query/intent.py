"""Rule-based intent parsing: a plain-English query -> :class:`Intent`.

The parser extracts entities (``entities``, ``quantities``, ``names``), reads keyword cues
(``signals``) and decides the intent with a short ordered list of rules:

1. nothing chemical and an out-of-scope word -> OUT_OF_SCOPE; keyboard mash or nothing to
   act on -> UNKNOWN (never a guess at a compound);
2. a similarity or substructure search, plus filters, ranking or properties -> WORKFLOW
   (ordered ``steps``); alone -> SIMILARITY / SUBSTRUCTURE;
3. targets, mechanisms -> TARGETS; a comparison with two or more compounds -> COMPARE;
4. several compounds -> BATCH (or WORKFLOW with filters); one -> PROPERTIES or LOOKUP;
   none but conditions or a superlative -> FILTER over the library.

Follow-ups resolve against the previous exchange's intent (``followup``). All patterns
are compiled at import; a typical query parses in well under a millisecond.
"""

from __future__ import annotations

from chemagent.query.entities import (
    Extraction,
    consume_properties,
    extract_groups_and_properties,
    extract_structures,
)
from chemagent.query.followup import inherit
from chemagent.query.model import Entity, EntityKind, Intent, IntentKind
from chemagent.query.names import extract_names
from chemagent.query.quantities import (
    Threshold,
    extract_conditions,
    extract_threshold,
    extract_top_k,
    extract_unknown_fields,
    threshold_errors,
)
from chemagent.query.signals import Signals, carried_by, cue_spans, read_signals
from chemagent.query.workflow import build_workflow

_PATTERN_KINDS = (EntityKind.SMILES, EntityKind.SMARTS)
_SEARCHES = (IntentKind.SIMILARITY, IntentKind.SUBSTRUCTURE)


def _pattern(ex: Extraction, sig: Signals) -> Entity | None:
    """The substructure pattern: named groups, a SMARTS, or a structure after "contain".

    Several named groups ("a carboxylic acid and a benzene ring") become one SMARTS with
    disconnected parts, which matches molecules that hold all of them.
    """
    if len(ex.groups) > 1:
        first, last = ex.groups[0], ex.groups[-1]
        joined = ".".join(dict.fromkeys(str(g.value) for g in ex.groups))
        return Entity(
            EntityKind.GROUP, ex.text[first.start : last.end], joined, first.start, last.end
        )
    if ex.groups:
        return ex.groups[0]
    for entity in ex.structures:
        if entity.kind is EntityKind.SMARTS:
            return entity
        if entity.kind in _PATTERN_KINDS and (
            (sig.has("substructure") and entity.start >= sig.cues["substructure"][0])
            or carried_by(ex.masked, entity.start)
        ):
            return entity
    return None


def _rank_by(ex: Extraction, sig: Signals) -> str | None:
    """The property after "rank by" / "sort by" (or before "first": "highest QED first")."""
    if not sig.has("rank"):
        return None
    for prop in ex.properties:
        if prop.start >= sig.end("rank") - 2 and prop.start not in ex.condition_properties:
            return str(prop.value)
    return None


def _free_properties(ex: Extraction, rank_by: str | None) -> list[str]:
    """Properties asked for, not used by a condition or by the ranking."""
    fields = [
        str(p.value)
        for p in ex.properties
        if p.start not in ex.condition_properties and p.value != rank_by
    ]
    return list(dict.fromkeys(fields))


def _all_properties(ex: Extraction) -> list[str]:
    return list(dict.fromkeys(str(p.value) for p in ex.properties))


def _decide(
    ex: Extraction,
    sig: Signals,
    compounds: list[Entity],
    pattern: Entity | None,
    gibberish: list[str],
    top_k: int | None,
) -> IntentKind | None:
    """The intent the query's own words ask for (``None``: no action word at all)."""
    chem = bool(ex.structures or ex.properties or ex.groups or ex.conditions) or any(
        sig.has(c) for c in ("similar", "chemistry", "targets")
    )
    if not chem and sig.has("out_of_scope"):
        return IntentKind.OUT_OF_SCOPE
    if not chem and gibberish:
        return IntentKind.UNKNOWN
    if sig.has("similar"):
        return IntentKind.SIMILARITY
    if pattern is not None and (sig.has("substructure") or ex.groups):
        return IntentKind.SUBSTRUCTURE
    if sig.has("targets"):
        return IntentKind.TARGETS
    direction = ex.implied_direction or sig.direction
    if sig.has("compare") or (
        sig.has("which")
        and direction
        and (compounds or sig.has("refers_back") or sig.has("ellipsis"))
    ):
        return IntentKind.COMPARE
    if compounds and len(compounds) >= 2:
        return IntentKind.BATCH
    if compounds:
        has_frame = sig.has("lookup") or ex.structures or _names_only(ex)
        if ex.properties or sig.has("panel"):
            return IntentKind.PROPERTIES
        return IntentKind.LOOKUP if has_frame else None
    ranked = direction or top_k is not None
    if ex.conditions or (ex.properties and ranked and not sig.has("refers_back")):
        return IntentKind.FILTER
    return None


def _names_only(ex: Extraction) -> bool:
    """Whether the query is nothing but names (a bare "aspirin" is a lookup)."""
    leftover = "".join(ch for ch in ex.masked if ch.isalnum())
    return not leftover


def parse(query: str, context: Intent | None = None) -> Intent:
    """Parse a plain-English query into an :class:`Intent`.

    Args:
        query: the user's text.
        context: the previous exchange's intent, for follow-ups ("what's its logP?").

    Returns:
        The intent, with entities, parameters and, when a value is invalid, ``errors``
        that say what to change. OUT_OF_SCOPE and UNKNOWN intents carry no compounds.
    """
    ex = Extraction(query, query)
    extract_structures(ex)
    extract_groups_and_properties(ex)
    extract_conditions(ex)
    consume_properties(ex)
    top_k = extract_top_k(ex)
    sig = read_signals(ex.masked)
    if not sig.has("similar"):  # "similar to X >= 0.6" is a threshold, not a property
        extract_unknown_fields(ex)
    pattern = _pattern(ex, sig)
    threshold = extract_threshold(ex)  # read now, used only if the intent is a search
    for start, end in cue_spans(ex.masked):
        ex.consume(start, end)
    gibberish = extract_names(ex)
    compounds = sorted(
        [e for e in ex.structures if e is not pattern] + ex.names, key=lambda e: e.start
    )
    kind = _decide(ex, sig, compounds, pattern, gibberish, top_k)
    if kind is IntentKind.SIMILARITY:
        # "kinase inhibitors similar to imatinib": the query compound follows the cue.
        after = [c for c in compounds if c.start >= sig.end("similar")]
        compounds = after or compounds
    rank_by = _rank_by(ex, sig)
    direction = ex.implied_direction or sig.direction
    if kind is None and ex.properties and not ex.names:
        kind_or_default = IntentKind.PROPERTIES  # "what's its logP?": which compound is asked
    else:
        kind_or_default = kind or IntentKind.UNKNOWN
    intent = Intent(
        kind=kind_or_default,
        query=query,
        compounds=compounds,
        properties=_all_properties(ex),
        conditions=list(ex.conditions),
        top_k=top_k,
        direction=direction,
        rank_by=rank_by,
        substructure=str(pattern.value) if pattern is not None else None,
        errors=list(ex.errors),
    )
    if context is not None and kind not in (IntentKind.OUT_OF_SCOPE, IntentKind.UNKNOWN):
        intent = inherit(intent, context, kind, sig)
    _finish(intent, ex, sig, threshold)
    intent.entities = sorted(
        [*ex.structures, *ex.groups, *ex.properties, *ex.numbers, *ex.names],
        key=lambda e: e.start,
    )
    return intent


def _finish(intent: Intent, ex: Extraction, sig: Signals, threshold: Threshold | None) -> None:
    """Fill kind-specific fields, check values, and build workflow steps."""
    kind = intent.kind
    if kind in (IntentKind.OUT_OF_SCOPE, IntentKind.UNKNOWN):
        intent.compounds, intent.properties, intent.conditions = [], [], []
        intent.direction = intent.rank_by = intent.substructure = None
        intent.top_k = None
        intent.confidence = 0.0 if kind is IntentKind.UNKNOWN else 0.9
        return
    if kind in (IntentKind.SIMILARITY, IntentKind.WORKFLOW) and threshold is not None:
        intent.threshold, intent.threshold_max = threshold.low, threshold.high
        intent.errors.extend(threshold_errors(threshold))
    if kind is IntentKind.FILTER and intent.rank_by is None and not intent.conditions:
        intent.rank_by = intent.properties[0] if intent.properties else None
    if kind in _SEARCHES or kind in (IntentKind.FILTER, IntentKind.BATCH):
        intent.properties = _free_properties(ex, intent.rank_by)
    if intent.rank_by is not None:
        intent.direction = intent.direction or "max"
    elif kind is not IntentKind.COMPARE:
        intent.direction = None
    promote = (
        kind in _SEARCHES
        and (intent.conditions or intent.rank_by or sig.has("panel") or intent.properties)
    ) or (kind is IntentKind.BATCH and (intent.conditions or intent.rank_by))
    if promote:
        intent.kind = IntentKind.WORKFLOW
        build_workflow(intent, source=kind, panel=sig.has("panel"))
    _check(intent)


def _check(intent: Intent) -> None:
    """Append sentences for what the intent cannot do as written."""
    kind, n = intent.kind, len(intent.compounds)
    if intent.top_k is not None and intent.top_k < 1:
        intent.errors.append(f"top {intent.top_k} asks for no results; ask for at least 1")
    if kind is IntentKind.COMPARE and n < 2:
        intent.errors.append(
            f"a comparison needs at least two compounds; {n} given — name the others"
        )
    needs_one = (IntentKind.SIMILARITY, IntentKind.PROPERTIES, IntentKind.TARGETS)
    if kind in needs_one and n == 0:
        intent.errors.append(
            f"which compound? name it, or give its ChEMBL ID or SMILES for the {kind.value} "
            "question"
        )
    if (
        kind is IntentKind.WORKFLOW
        and intent.steps
        and intent.steps[0].kind in (IntentKind.SIMILARITY,)
        and n == 0
    ):
        intent.errors.append("a similarity search needs a query compound; name one")
