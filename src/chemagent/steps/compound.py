"""``compound``: one library compound by ID, with structures and its property panel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from chemagent.errors import CompoundNotFound, InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register

MAX_ID_LENGTH = 64
_CHEMBL_ID = re.compile(r"^CHEMBL\d+$", re.IGNORECASE)


@register("compound", version=1, description="Look up a compound by its ID.")
def compound(ctx: StepContext, chembl_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the library record (ChEMBL-shaped: structures and ``molecule_properties``).

    Raises:
        CompoundNotFound: unknown ID; when the ID looks like a name, suggests compounds.
    """
    ident = chembl_id.strip()
    if not ident or len(ident) > MAX_ID_LENGTH:
        raise InvalidInput(f"A compound ID has 1 to {MAX_ID_LENGTH} characters, such as CHEMBL25.")
    row = ctx.library.row_of(ident)
    if row is None:
        not_found(ctx, ident)
    return ctx.library.record(row)


def not_found(ctx: StepContext, ident: str) -> NoReturn:
    """Raise CompoundNotFound for ``ident`` with a hint and any name-based suggestions."""
    matches = ctx.names.exact(ident) or ctx.names.fuzzy(ident, limit=3)
    suggestions = [f"{ctx.library.names[m.row]} ({ctx.library.ids[m.row]})" for m in matches]
    if suggestions and not _CHEMBL_ID.match(ident):
        # A name in the ID slot: point at the compound, not at the ChEMBL upstream.
        raise CompoundNotFound(
            f"'{ident}' is not a compound ID (IDs look like CHEMBL25). Did you mean "
            f"{', '.join(suggestions)}? Look names up with /v1/compounds?name=.",
            suggestions=suggestions,
        )
    raise CompoundNotFound(f"No compound with ID '{ident.upper()}'. {ctx.not_found_hint()}")
