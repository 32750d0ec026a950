"""``contains``: does one compound contain a substructure? ("Does aspirin contain a
carboxylic acid?"), matched the way the library substructure search matches."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from chemagent.chem.molecule import require_query
from chemagent.chem.substructure import count_matches
from chemagent.errors import CompoundNotFound, InvalidInput
from chemagent.steps.compound import not_found
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register

_CHEMBL_ID = re.compile(r"^CHEMBL\d+$", re.IGNORECASE)


@register("contains", version=1, description="Whether one compound contains a substructure.")
def contains(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check one compound's parent structure for a SMARTS/SMILES pattern.

    The parent is what the library search matches, so a salt answers like its parent, and
    "Does X contain Y?" agrees with "Which drugs contain Y?".

    Args:
        text: JSON: a ``resolve`` result (its first match, else its molecule) or one
            compound (``chembl_id``, ``pref_name``, ``parent_smiles``/``canonical_smiles``).
        params: ``pattern`` (required), ``format`` (``smarts``, the default, or ``smiles``),
            ``chirality`` (bool, match stereo).

    Returns:
        ``{"chembl_id", "pref_name", "smiles", "pattern", "contains", "matches"}``;
        ``smiles`` is the structure checked, ``matches`` counts distinct atom sets.

    Raises:
        CompoundNotFound: the resolve result found nothing (with the offline hint for an
            unknown ChEMBL ID, else any "did you mean").
        InvalidInput: no pattern, or an input that is not such JSON.
        InvalidMolecule: the pattern does not parse.
    """
    pattern_text = str(params.get("pattern") or "").strip()
    if not pattern_text:
        raise InvalidInput("Say which substructure to look for, as SMARTS or a group name.")
    pattern = require_query(pattern_text, ctx.limits, fmt=str(params.get("format", "smarts")))
    compound = _compound(ctx, text)
    smiles = str(compound.get("parent_smiles") or compound.get("canonical_smiles") or "")
    count = count_matches(smiles, pattern, use_chirality=bool(params.get("chirality", False)))
    if count is None:
        raise InvalidInput(f"The structure of the compound ('{smiles[:80]}') does not parse.")
    return {
        "chembl_id": compound.get("chembl_id"),
        "pref_name": compound.get("pref_name"),
        "smiles": smiles,
        "pattern": pattern_text,
        "contains": count > 0,
        "matches": count,
    }


def _compound(ctx: StepContext, text: str) -> dict[str, Any]:
    """The compound to check, from a resolve result or a compound's JSON."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise InvalidInput("The input must be a resolve result or a compound, as JSON.")
    if "matches" not in data:  # one compound
        return data
    if data["matches"]:
        return dict(data["matches"][0])
    if data.get("molecule"):
        molecule = data["molecule"]
        return {"chembl_id": None, "pref_name": None, "parent_smiles": molecule["parent_smiles"]}
    query = str(data.get("query", ""))
    if _CHEMBL_ID.match(query):
        not_found(ctx, query)  # "No compound with ID ...": with where else it could be
    names = [f"{s['pref_name']} ({s['chembl_id']})" for s in data.get("suggestions", [])]
    hint = f" Did you mean {', '.join(names)}?" if names else ""
    raise CompoundNotFound(f"'{query}' is not a known compound.{hint}", names)
