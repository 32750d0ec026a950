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


DIRECTIONS = ("max", "min")


@register("filter", version=2, description="Library compounds within property ranges.")
def property_filter(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: conditions as ``field op value`` joined by ``;`` (see :func:`parse_conditions`).
        params: ``limit`` (most hits; at most ``ctx.max_results``), ``order_by`` (optional:
            a numeric panel field to sort every match by before the limit is applied) and
            ``direction`` (``max``, the default: highest first, or ``min``).

    Returns:
        ``{"total", "hits": [...]}``: ``total`` counts every match; ``hits`` are in library
        order, or ordered by ``order_by`` (compounds without the value last, ties in
        library order), with ``order_by`` and ``direction`` echoed.

    Raises:
        InvalidInput: bad conditions, an unknown ``order_by`` or ``direction``, or a library
            built without properties.
    """
    if not ctx.library.has_properties:
        raise InvalidInput(
            f"The library '{ctx.library.manifest.name}' was built without properties; "
            "rebuild it with `chemagent library build` (without --fast) to filter."
        )
    rows = ctx.library.filter_rows(parse_conditions(text))
    limit = max(0, min(int(params.get("limit", ctx.max_results)), ctx.max_results))
    order_by = params.get("order_by")
    if order_by is None:
        return {"total": len(rows), "hits": [ctx.library.summary(int(r)) for r in rows[:limit]]}
    direction = str(params.get("direction", "max"))
    if order_by not in NUMERIC_PROPERTY_FIELDS:
        raise InvalidInput(
            f"Cannot order by '{order_by}'; use one of {', '.join(NUMERIC_PROPERTY_FIELDS)}."
        )
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be 'max' or 'min', not '{direction}'.")
    ordered = ctx.library.order_rows(rows, order_by, descending=direction == "max", limit=limit)
    return {
        "total": len(rows),
        "hits": [ctx.library.summary(int(r)) for r in ordered],
        "order_by": order_by,
        "direction": direction,
    }
