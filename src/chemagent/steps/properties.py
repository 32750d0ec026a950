"""``properties``: the ChEMBL property panel of any molecule (standardize, parent, compute)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import require_molecule
from chemagent.chem.properties import property_panel, structure_record
from chemagent.chem.standardize import standardize
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("properties", version=1, description="ChEMBL property panel of a SMILES.")
def properties(ctx: StepContext, smiles: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Standardize ``smiles`` with the ChEMBL pipeline and compute the panel on its parent.

    Returns:
        ``{"molecule_structures": {...}, "molecule_properties": {...}}`` in ChEMBL's
        field names (the exclusion flag is reported by the ``standardize`` step).
    """
    std = standardize(require_molecule(smiles, ctx.limits))
    return {
        "molecule_structures": structure_record(std),
        "molecule_properties": property_panel(std),
    }
