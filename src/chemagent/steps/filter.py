"""``filter``: library compounds within property ranges (for the query planner)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.errors import InvalidInput
from chemagent.library.library import FILTER_OPERATORS, NUMERIC_PROPERTY_FIELDS
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register


def parse_conditions(text: str) -> list[tuple[str, str, float]]:
    """``"mw_freebase<500;alogp<=5"`` -> ``[("mw_freebase", "<", 500.0), ...]``.

    Raises:
        InvalidInput: an unknown field, operator or a value that is not a number.
    """
    conditions: list[tuple[str, str, float]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        for op in sorted(FILTER_OPERATORS, key=len, reverse=True):
            name, sep, value = part.partition(op)
            if sep:
                break
        else:
            raise InvalidInput(f"'{part}' has no operator; use one of {FILTER_OPERATORS}.")
        name = name.strip()
        if name not in NUMERIC_PROPERTY_FIELDS:
            raise InvalidInput(
                f"'{name}' is not a numeric property; use one of "
                f"{', '.join(NUMERIC_PROPERTY_FIELDS)}."
            )
        try:
            conditions.append((name, op, float(value)))
        except ValueError:
            raise InvalidInput(f"'{value.strip()}' in '{part}' is not a number.") from None
    if not conditions:
        raise InvalidInput("No filter condition given, e.g. mw_freebase<500;alogp<5.")
    return conditions


@register("filter", version=1, description="Library compounds within property ranges.")
def property_filter(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: conditions as ``field op value`` joined by ``;`` (see :func:`parse_conditions`).
        params: ``limit`` (most hits).

    Returns:
        ``{"total", "hits": [...]}`` in library order.
    """
    if not ctx.library.has_properties:
        raise InvalidInput(
            f"The library '{ctx.library.manifest.name}' was built without properties; "
            "rebuild it with `chemagent library build` (without --fast) to filter."
        )
    rows = ctx.library.filter_rows(parse_conditions(text))
    limit = int(params.get("limit", ctx.max_results))
    return {"total": len(rows), "hits": [ctx.library.summary(int(r)) for r in rows[:limit]]}
