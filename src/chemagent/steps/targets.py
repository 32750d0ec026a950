"""``targets``: targets and mechanisms of a compound (needs the ChEMBL upstream)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.errors import UpstreamUnavailable
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


@register("targets", version=1, description="Targets and mechanisms (ChEMBL upstream).")
def targets(ctx: StepContext, chembl_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Raises UpstreamUnavailable until the ChEMBL upstream is configured and implemented."""
    if not ctx.online:
        raise UpstreamUnavailable(
            "Targets and mechanisms need the ChEMBL upstream; set CHEMAGENT_CHEMBL_URL."
        )
    raise UpstreamUnavailable(
        "Target lookups through the ChEMBL upstream are not available in this version yet."
    )
