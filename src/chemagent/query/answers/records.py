"""A compound record in words: its name and ChEMBL ID, SMILES and property panel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chemagent.query.answers.words import phrase


def panel_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """A record's property panel (``molecule_properties``, or the record itself if flat)."""
    panel = record.get("molecule_properties")
    return panel if isinstance(panel, Mapping) else record


def smiles_of(record: Mapping[str, Any]) -> str | None:
    structures = record.get("molecule_structures") or {}
    smiles = structures.get("canonical_smiles") or record.get("canonical_smiles")
    return str(smiles) if smiles else None


def who(record: Mapping[str, Any], start: bool = False) -> str:
    """``"aspirin (CHEMBL25)"``; a structure outside the library is shown by its SMILES.

    Args:
        start: the words begin a sentence (the name is capitalised, never a SMILES).
    """
    name, ident = record.get("pref_name"), record.get("chembl_id")
    if name:
        text = str(name).lower()
        text = text[:1].upper() + text[1:] if start else text
        return f"{text} ({ident})" if ident else text
    return str(ident or smiles_of(record) or "the compound")


def key_of(record: Mapping[str, Any]) -> str:
    return str(record.get("chembl_id") or smiles_of(record))


def compact(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its heavy structure fields: ID, name, SMILES, panel, extras."""
    out = {k: v for k, v in record.items() if k != "molecule_structures"}
    out["canonical_smiles"] = smiles_of(record)
    return out


def hit_text(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """``"ibuprofen (CHEMBL521) QED 0.82, MW 206.28 Da"``."""
    panel = panel_of(record)
    values = [phrase(f, panel[f]) for f in fields if panel.get(f) is not None]
    return f"{who(record)} {', '.join(values)}".rstrip()
