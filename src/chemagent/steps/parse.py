"""``parse``: validate a user SMILES within the limits and canonicalize it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import canonical_smiles, require_molecule
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("parse", version=1, description="Validate and canonicalize a SMILES string.")
def parse(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Returns ``{"smiles": canonical SMILES, "heavy_atoms": n}``.

    Raises:
        InvalidMolecule: the SMILES is empty, too long, too big or not a molecule.
    """
    mol = require_molecule(
        text,
        ctx.limits,
        what=str(params.get("what", "SMILES")),
        complete=bool(params.get("complete", True)),
    )
    return {"smiles": canonical_smiles(mol), "heavy_atoms": mol.GetNumHeavyAtoms()}
