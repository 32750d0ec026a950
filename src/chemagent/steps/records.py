"""Shared helpers for steps that work on lists of compound records (pure Python)."""

from __future__ import annotations

from typing import Any

import orjson

from chemagent.errors import InvalidInput


def records_of(text: str) -> list[dict[str, Any]]:
    """Decode a step input holding compound records: a JSON list, or ``{"records": [...]}``.

    Raises:
        InvalidInput: the input is not such JSON.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput("The step input is not JSON.") from None
    if isinstance(data, dict):
        data = data.get("records", data.get("hits"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput("The step input must be a list of compound records.")
    return data


def value_of(record: dict[str, Any], field: str) -> Any:
    """A panel field of a record (``molecule_properties`` or flat), or None."""
    panel = record.get("molecule_properties") or {}
    return panel.get(field, record.get(field))


def label_of(record: dict[str, Any]) -> dict[str, Any]:
    """The identifying part of a record: ID, name and SMILES."""
    structures = record.get("molecule_structures") or {}
    return {
        "chembl_id": record.get("chembl_id"),
        "pref_name": record.get("pref_name"),
        "canonical_smiles": structures.get("canonical_smiles", record.get("canonical_smiles")),
    }
