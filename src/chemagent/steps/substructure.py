"""``substructure``: SMARTS/SMILES substructure search, fingerprint screen then RDKit match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import require_query
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("substructure", version=1, description="Substructure search: screen, then verify.")
def substructure(ctx: StepContext, query: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Library compounds containing the SMARTS/SMILES ``query`` (every hit verified by RDKit).

    Args:
        params: ``limit`` (most hits; default and ceiling ``ctx.max_results``),
            ``chirality`` (bool, match stereo), ``format``
            (``smarts``, the default, or ``smiles``).

    Returns:
        ``{"hits": [...], "truncated": bool}`` in library order; ``truncated`` is true
        when more than ``limit`` compounds match.
    """
    # Unset (a workflow's search): every match up to CHEMAGENT_MAX_TOP_K.
    limit = min(int(params.get("limit", ctx.max_results)), ctx.max_results)
    pattern = require_query(query, ctx.limits, fmt=str(params.get("format", "smarts")))
    rows = ctx.library.substructure_index().search(
        pattern, limit + 1, use_chirality=bool(params.get("chirality", False))
    )
    library = ctx.library
    return {
        "hits": [library.summary(r) for r in rows[:limit]],
        "truncated": len(rows) > limit,
    }
