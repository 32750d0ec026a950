"""``depict``: an SVG drawing of a molecule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.depict import svg
from chemagent.chem.molecule import require_molecule
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("depict", version=1, description="SVG depiction of a SMILES.")
def depict(ctx: StepContext, smiles: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        params: ``width``, ``height`` (pixels, validated by the caller), ``title``.

    Returns:
        ``{"svg": "<svg ...>"}``.
    """
    mol = require_molecule(smiles, ctx.limits, complete=False)  # R-groups (*) can be drawn
    title = params.get("title")
    return {
        "svg": svg(
            mol,
            int(params.get("width", 300)),
            int(params.get("height", 300)),
            title=str(title) if title else None,
        )
    }
