"""Follow-ups: resolve pronouns and ellipsis against the previous exchange's intent.

Two general rules, no sentence-specific cases:

* **reference** — the query names no compound but refers back ("its", "them", "both",
  "these compounds") or carries no action of its own ("and TPSA?"): the compounds come
  from the context. "what's its logP?" after "Tell me about warfarin" is PROPERTIES of
  warfarin; "which of them has more rotatable bonds?" after "Compare aspirin and
  ibuprofen" is COMPARE of both on ``rtb``.
* **ellipsis** — the query names compounds but no action ("what about ibuprofen?",
  "and for caffeine?"): the previous question is asked again about the new compounds.
"""

from __future__ import annotations

from dataclasses import replace

from chemagent.query.model import Entity, Intent, IntentKind
from chemagent.query.signals import Signals

_NO_CONTEXT = (IntentKind.OUT_OF_SCOPE, IntentKind.UNKNOWN)
_LIBRARY_WIDE = (IntentKind.FILTER, IntentKind.SUBSTRUCTURE)


def context_compounds(context: Intent) -> list[Entity]:
    """The compounds a follow-up can refer to.

    Args:
        context: the previous intent.

    Returns:
        Its compounds, or those of its first workflow step.
    """
    if context.compounds:
        return list(context.compounds)
    return list(context.steps[0].compounds) if context.steps else []


def _repeat(intent: Intent, context: Intent) -> None:
    """Ask the context's question again with what the new query changes."""
    intent.kind = context.kind
    intent.properties = intent.properties or list(context.properties)
    intent.conditions = intent.conditions or list(context.conditions)
    intent.threshold = context.threshold
    intent.threshold_max = context.threshold_max
    intent.top_k = intent.top_k if intent.top_k is not None else context.top_k
    intent.direction = intent.direction or context.direction
    intent.rank_by = intent.rank_by or context.rank_by
    intent.substructure = intent.substructure or context.substructure
    if context.steps:
        first = replace(context.steps[0], compounds=list(intent.compounds))
        intent.steps = [first, *context.steps[1:]]


def inherit(intent: Intent, context: Intent, own: IntentKind | None, sig: Signals) -> Intent:
    """Resolve a follow-up against ``context``.

    Args:
        intent: the intent parsed from the new query alone.
        context: the previous exchange's intent.
        own: the kind the new query's own words ask for (``None``: no action word).
        sig: the new query's cues.

    Returns:
        ``intent``, completed from the context when the query refers back to it.
    """
    if context.kind in _NO_CONTEXT:
        return intent
    refers = sig.has("refers_back")
    if not intent.compounds:
        previous = context_compounds(context)
        elliptic = own is None or sig.has("ellipsis")
        if not previous or not (refers or elliptic):
            return intent
        if own in _LIBRARY_WIDE and not refers:
            return intent
        intent.compounds = previous
        if own is None and not intent.properties:
            _repeat(intent, context)
            return intent
        if own is None or own is IntentKind.FILTER:
            compare = context.kind is IntentKind.COMPARE or (sig.has("which") and sig.direction)
            if own is IntentKind.FILTER and not compare:
                single = len(previous) == 1
                intent.kind = IntentKind.PROPERTIES if single else IntentKind.BATCH
            elif compare and len(previous) >= 2:
                intent.kind = IntentKind.COMPARE
                intent.direction = intent.direction or context.direction
            else:
                intent.kind = IntentKind.PROPERTIES if len(previous) == 1 else IntentKind.BATCH
        return intent
    if sig.has("ellipsis") and own in (None, IntentKind.LOOKUP, IntentKind.BATCH):
        _repeat(intent, context)
    return intent
