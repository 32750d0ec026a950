"""``keep``: filter compound records by their property panels (pure Python)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from chemagent.steps.context import StepContext
from chemagent.steps.filter import parse_conditions
from chemagent.steps.records import records_of, value_of
from chemagent.steps.registry import register

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@register("keep", version=1, description="Keep the records that satisfy conditions.")
def keep(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: compound records (JSON).
        params: ``conditions``: ``field op value`` joined by ``;``.

    Returns:
        ``{"records": [...kept...], "dropped": n}``; a record without the field is dropped.
    """
    conditions = parse_conditions(str(params.get("conditions", "")))
    records = records_of(text)
    kept = [
        r
        for r in records
        if all(
            (value := value_of(r, name)) is not None and _OPS[op](float(value), limit)
            for name, op, limit in conditions
        )
    ]
    return {"records": kept, "dropped": len(records) - len(kept)}
