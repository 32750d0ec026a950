"""``panels``: the records and property panels of many library compounds by ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from chemagent.chem.molecule import TRUSTED_LIMITS, require_molecule
from chemagent.chem.properties import property_panel
from chemagent.chem.standardize import standardize
from chemagent.errors import InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.records import records_of
from chemagent.steps.registry import register


@register("panels", version=1, description="Records and panels of many compounds by ID.")
def panels(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Args:
        text: JSON list of IDs, or of records/hits with ``chembl_id``.

    Returns:
        ``{"records": [...], "missing": [ids not in the library]}`` in input order; panels
        of a ``--fast`` index are computed here.
    """
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        items = None
    if isinstance(items, list) and all(isinstance(i, str) for i in items):
        ids = items
    else:
        ids = [str(r.get("chembl_id")) for r in records_of(text)]
    if len(ids) > ctx.max_results:
        raise InvalidInput(f"{len(ids)} compounds; the limit is {ctx.max_results}.")
    records, missing = [], []
    for ident in ids:
        row = ctx.library.row_of(ident)
        if row is None:
            missing.append(ident)
            continue
        record = ctx.library.record(row)
        if record["molecule_properties"] is None:
            mol = require_molecule(ctx.library.smiles[row], TRUSTED_LIMITS)
            record["molecule_properties"] = property_panel(standardize(mol))
        records.append(record)
    return {"records": records, "missing": missing}
