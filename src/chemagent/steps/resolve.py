"""``resolve``: a ChEMBL ID, InChIKey, name/synonym or SMILES -> library compounds.

Order: ID, InChIKey, exact name (pref_name, then synonyms), SMILES (matched to the
library by parent InChIKey, so a salt form finds its parent and vice versa), and only
then fuzzy names, which are returned as ``suggestions``, never as matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chemagent.chem.molecule import (
    Mol,
    canonical_smiles,
    check_input,
    parse_smiles,
    require_molecule,
)
from chemagent.chem.properties import structure_record
from chemagent.chem.standardize import standardize
from chemagent.errors import InvalidInput
from chemagent.steps.context import StepContext
from chemagent.steps.registry import register

INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")
_ID_LIKE = re.compile(r"^[A-Za-z]+[_-]?\d+$")
RESOLVE_AS = ("auto", "id", "name", "smiles", "inchikey")
MAX_QUERY_LENGTH = 2000


def _match(ctx: StepContext, row: int, how: str, score: float = 100.0) -> dict[str, Any]:
    return {**ctx.library.summary(row), "match": how, "score": score}


@register("resolve", version=1, description="Resolve an ID, name, InChIKey or SMILES.")
def resolve(ctx: StepContext, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve ``text`` to library compounds.

    Args:
        params: ``as``: one of ``auto`` (default), ``id``, ``name``, ``smiles``, ``inchikey``.

    Returns:
        ``{"query", "kind", "matches": [...], "molecule": {"smiles"} | None,
        "suggestions": [...]}``; ``matches`` hold exact matches only.
    """
    mode = str(params.get("as", "auto"))
    if mode not in RESOLVE_AS:
        raise InvalidInput(f"'as' must be one of {', '.join(RESOLVE_AS)}.")
    query = text.strip()
    if not query:
        raise InvalidInput("The compound query is empty; send an ID, a name or a SMILES.")
    result: dict[str, Any] = {
        "query": query,
        "kind": "unknown",
        "matches": [],
        "molecule": None,
        "suggestions": [],
    }
    library = ctx.library
    if mode == "smiles":  # limits checked by require_molecule
        return _resolve_smiles(ctx, require_molecule(query, ctx.limits), result)
    if len(query) > max(MAX_QUERY_LENGTH, ctx.limits.max_length):
        raise InvalidInput(
            f"The compound query is {len(query)} characters; the limit is "
            f"{max(MAX_QUERY_LENGTH, ctx.limits.max_length)}."
        )
    if mode in ("auto", "id", "name"):  # an ID given as a "name" is still that compound
        row = library.row_of(query)
        if row is not None:
            return {**result, "kind": "id", "matches": [_match(ctx, row, "id")]}
        if mode == "id":
            return result
    if mode in ("auto", "inchikey") and INCHIKEY.match(query.upper()):
        key = query.upper()
        rows = library.by_inchikey.get(key, [])
        how = "inchikey"
        if not rows:
            rows, how = library.by_parent_inchikey.get(key, []), "parent_inchikey"
        return {**result, "kind": "inchikey", "matches": [_match(ctx, r, how) for r in rows]}
    if mode == "inchikey":
        raise InvalidInput(f"'{query[:40]}' is not an InChIKey (27 characters, XXXX-XXXX-X).")
    if mode in ("auto", "name"):
        exact = ctx.names.exact(query)
        if exact:
            return {**result, "kind": "name", "matches": [_match(ctx, m.row, m.how) for m in exact]}
    mol = _as_smiles(query) if mode == "auto" else None
    if mol is not None:
        check_input(query, mol, ctx.limits)  # user input: the same limits as everywhere
        return _resolve_smiles(ctx, mol, result)
    suggestions = ctx.names.fuzzy(query, limit=5)
    return {
        **result,
        "kind": "name",
        "suggestions": [_match(ctx, m.row, "fuzzy", m.score) for m in suggestions],
    }


def _as_smiles(query: str) -> Mol | None:
    """The query parsed as SMILES, or None when it is not one (parsed once: this is on the
    path of every similarity query by structure)."""
    if " " in query or _ID_LIKE.match(query):
        return None
    return parse_smiles(query)


def _resolve_smiles(ctx: StepContext, mol: Mol, result: dict[str, Any]) -> dict[str, Any]:
    smiles = canonical_smiles(mol)
    if not ctx.library.has_properties:
        # A --fast index was only canonicalized: prepare the query the same way, and there
        # are no InChIKeys to match on.
        return {
            **result,
            "kind": "smiles",
            "molecule": {"smiles": smiles, "parent_smiles": smiles, "parent_inchi_key": None},
        }
    std = standardize(mol)
    key = structure_record(std)["parent_inchi_key"]
    rows = ctx.library.by_parent_inchikey.get(key or "", [])
    return {
        **result,
        "kind": "smiles",
        "molecule": {
            "smiles": smiles,
            "parent_smiles": canonical_smiles(std.parent),
            "parent_inchi_key": key,
        },
        "matches": [_match(ctx, r, "structure") for r in rows],
    }
