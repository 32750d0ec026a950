"""``standardize``: the ChEMBL pipeline's standardized and parent structures, and checker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import canonical_smiles, molblock, require_molblock, require_molecule
from chemagent.chem.standardize import check, check_molblock, standardize
from chemagent.errors import InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("standardize", version=1, description="ChEMBL standardize, parent and checker.")
def standardize_step(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        params: ``format``: ``smiles`` (default) or ``molblock``.

    Returns:
        standardized and parent SMILES and molblocks, the exclusion flag and the checker's
        penalties (``[{"score", "message"}]``, worst first; score 6-7 means ChEMBL would
        reject the structure).
    """
    fmt = params.get("format", "smiles")
    if fmt == "molblock":
        mol = require_molblock(text, ctx.limits)
        penalties = check_molblock(text)
    elif fmt == "smiles":
        mol = require_molecule(text, ctx.limits)
        penalties = check(mol)
    else:
        raise InvalidInput("format must be 'smiles' or 'molblock'.")
    std = standardize(mol)
    return {
        "standardized_smiles": canonical_smiles(std.full),
        "standardized_molblock": molblock(std.full),
        "parent_smiles": canonical_smiles(std.parent),
        "parent_molblock": molblock(std.parent),
        "salts_removed": canonical_smiles(std.full) != canonical_smiles(std.parent),
        "excluded": std.excluded,
        "penalties": [{"score": p.score, "message": p.message} for p in penalties],
        "max_penalty": max((p.score for p in penalties), default=0),
    }
