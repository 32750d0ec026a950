"""``compare``: order two or more compounds by one property (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.chem.properties import NUMERIC_FIELDS
from chemagent.errors import InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.records import label_of, records_of, value_of
from chemagent.steps.registry import register


@register("compare", version=1, description="Order compounds by one property.")
def compare(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: JSON list of compound records (with ``molecule_properties``).
        params: ``property`` (a numeric panel field), ``direction`` (``max`` or ``min``).

    Returns:
        ``{"property", "direction", "ranking": [{chembl_id, pref_name, value}], "best",
        "tie"}``: best first; ``tie`` when the best value is shared.
    """
    field = str(params.get("property", ""))
    direction = str(params.get("direction", "max"))
    if field not in NUMERIC_FIELDS:
        raise InvalidInput(f"'{field}' cannot be compared; use one of {', '.join(NUMERIC_FIELDS)}.")
    if direction not in ("max", "min"):
        raise InvalidInput("direction must be 'max' or 'min'.")
    records = records_of(text)
    if len(records) < 2:
        raise InvalidInput("A comparison needs at least two compounds.")
    ranking = [{**label_of(r), "value": value_of(r, field)} for r in records]
    missing = [r for r in ranking if r["value"] is None]
    if missing:
        raise InvalidInput(f"{missing[0]['pref_name'] or missing[0]['chembl_id']} has no {field}.")
    ranking.sort(key=lambda r: r["value"], reverse=direction == "max")
    tie = len(ranking) > 1 and ranking[0]["value"] == ranking[1]["value"]
    return {
        "property": field,
        "direction": direction,
        "ranking": ranking,
        "best": ranking[0],
        "tie": tie,
    }
