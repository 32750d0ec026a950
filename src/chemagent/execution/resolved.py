"""Reading a ``resolve`` step result: shared by the REST operations and the plan binders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def search_smiles(resolved: Mapping[str, Any]) -> str | None:
    """The structure to search with: the matched compound's parent, else the query
    molecule prepared like the library; None when nothing was resolved."""
    if resolved["matches"]:
        match = resolved["matches"][0]
        return str(match.get("parent_smiles") or match["canonical_smiles"])
    if resolved["molecule"]:
        return str(resolved["molecule"]["parent_smiles"])
    return None


def suggestions(resolved: Mapping[str, Any]) -> list[str]:
    """Fuzzy suggestions as ``"NAME (ID)"``, best first, for "did you mean" sentences."""
    return [f"{s['pref_name']} ({s['chembl_id']})" for s in resolved["suggestions"]]
