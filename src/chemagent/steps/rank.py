"""``rank``: order compound records by one property (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.properties import NUMERIC_FIELDS
from chemagent.errors import InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.records import records_of, value_of
from chemagent.steps.registry import register


@register("rank", version=1, description="Order records by one property.")
def rank(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: compound records (JSON).
        params: ``property``, ``direction`` (``max`` first by default), ``top_k``.

    Returns:
        ``{"records": [...ordered...], "property", "direction"}``; records without the
        property go last.
    """
    field = str(params.get("property", ""))
    if field not in NUMERIC_FIELDS:
        raise InvalidInput(f"Cannot rank by '{field}'; use one of {', '.join(NUMERIC_FIELDS)}.")
    direction = str(params.get("direction", "max"))
    records = records_of(text)
    have = [r for r in records if value_of(r, field) is not None]
    lacking = [r for r in records if value_of(r, field) is None]
    have.sort(key=lambda r: float(value_of(r, field)), reverse=direction == "max")
    top_k = params.get("top_k")
    ordered = have + lacking
    return {
        "records": ordered[: int(top_k)] if top_k else ordered,
        "property": field,
        "direction": direction,
    }
