"""Workflows: a search, then properties, filters and a ranking, as ordered sub-intents.

"find compounds similar to ibuprofen, get their properties and keep MW < 300, rank by
QED" becomes ``steps`` = SIMILARITY(ibuprofen) -> PROPERTIES -> FILTER(MW < 300) ->
COMPARE(rank_by=qed_weighted). The order is the pipeline's, whatever the sentence's: a
filter needs the properties, a ranking needs what survived the filter. ``top_k`` goes on
the last step (it limits the final answer). The top-level intent keeps the aggregate
fields too, so a reader that ignores ``steps`` still sees everything asked.
"""

from __future__ import annotations

from chemagent.query.model import Intent, IntentKind


def build_workflow(intent: Intent, source: IntentKind, panel: bool) -> None:
    """Fill ``intent.steps`` from its aggregate fields.

    Args:
        intent: a WORKFLOW intent with compounds, conditions, rank_by, ... filled.
        source: the first step's kind (SIMILARITY, SUBSTRUCTURE or BATCH).
        panel: whether the whole property panel was asked for ("get their properties").
    """
    query = intent.query
    steps = [
        Intent(
            kind=source,
            query=query,
            compounds=list(intent.compounds),
            threshold=intent.threshold,
            threshold_max=intent.threshold_max,
            substructure=intent.substructure,
        )
    ]
    if panel or intent.properties or intent.conditions or intent.rank_by:
        steps.append(
            Intent(kind=IntentKind.PROPERTIES, query=query, properties=[*intent.properties])
        )
    if intent.conditions:
        steps.append(Intent(kind=IntentKind.FILTER, query=query, conditions=[*intent.conditions]))
    if intent.rank_by:
        intent.direction = intent.direction or "max"
        steps.append(
            Intent(
                kind=IntentKind.COMPARE,
                query=query,
                rank_by=intent.rank_by,
                direction=intent.direction,
            )
        )
    steps[-1].top_k = intent.top_k
    intent.steps = steps
