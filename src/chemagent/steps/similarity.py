"""``similarity``: Tanimoto search of the library with FPSim2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import TRUSTED_LIMITS, require_molecule
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("similarity", version=1, description="Tanimoto search (Morgan r2, 2048 bits).")
def similarity(ctx: StepContext, smiles: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Library compounds most similar to ``smiles``.

    The input is the query prepared the way the library was (its ChEMBL parent, or just
    canonical for a ``--fast`` index): the ``resolve`` step does that, so this step does
    not standardize again (3 ms a query, more than the search itself on small libraries).

    Args:
        params: ``threshold`` (0-1), ``top_k`` (optional; else every hit up to the limit),
            ``threshold_max`` (optional: leave out hits more similar than this).

    Returns:
        ``{"query_smiles", "total", "hits": [{chembl_id, pref_name, similarity, ...}]}``
        sorted by similarity, descending; ``total`` counts every hit above the threshold
        and ``hits`` holds at most ``ctx.max_results`` of them.
    """
    threshold = float(params["threshold"])
    top_k = int(params["top_k"]) if params.get("top_k") else None
    ceiling = params.get("threshold_max")
    # No size limits here: the input is a library compound or a user SMILES that resolve
    # already checked; a custom library's large compounds must still work as queries.
    mol = require_molecule(smiles, TRUSTED_LIMITS, what="query SMILES")
    if ceiling is None:
        total, found = ctx.similarity.search(mol, threshold, top_k, limit=ctx.max_results)
    else:
        # "between 0.7 and 0.9": drop the hits above the ceiling before taking the top k.
        # Hits come most similar first, so those past the limit are all below the ceiling.
        total, found = ctx.similarity.search(mol, threshold, None, limit=ctx.max_results)
        above = sum(h.similarity > float(ceiling) for h in found)
        found = [h for h in found if h.similarity <= float(ceiling)][:top_k]
        total -= above
    library = ctx.library
    hits = [{**library.summary(h.row), "similarity": h.similarity} for h in found]
    return {"query_smiles": smiles, "total": total, "hits": hits}
