"""The on-disk library format (an index directory) and its manifest.

::

    <dir>/manifest.json        name, version, count, RDKit version, fingerprint params, ...
    <dir>/compounds.jsonl.gz   one JSON object per compound (see CompoundRow), in row order
    <dir>/fingerprints.h5      FPSim2 database, Morgan r=2 2048 bits, mol_id = row + 1
    <dir>/synonyms.json.gz     optional {lower-case synonym: compound id}

No pickle anywhere: JSON lines, JSON and HDF5 only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import orjson

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPOUNDS = "compounds.jsonl.gz"
FINGERPRINTS = "fingerprints.h5"
SYNONYMS = "synonyms.json.gz"

FP_TYPE = "Morgan"
FP_PARAMS: dict[str, int] = {"radius": 2, "fpSize": 2048}


class CompoundRow(TypedDict, total=False):
    """One line of ``compounds.jsonl.gz``. Only ``id`` and ``smiles`` are required."""

    id: str
    name: str | None
    smiles: str  # canonical SMILES of the standardized full molecule (salts kept)
    parent_smiles: str  # canonical SMILES of the parent (salts stripped): searched
    inchikey: str | None
    parent_inchikey: str | None
    inchi: str | None
    first_approval: int | None
    molecule_type: str | None
    properties: dict[str, Any]  # the ChEMBL panel (chem.properties), absent if not computed


@dataclass(frozen=True)
class Manifest:
    """What an index directory holds, and what made it (so derived data carries versions)."""

    name: str
    version: str
    count: int
    rdkit_version: str
    panel_version: int
    has_properties: bool
    source: str = ""
    attribution: str = ""
    license: str = ""
    created: str = ""
    skipped: int = 0
    format: int = FORMAT_VERSION
    fingerprint: dict[str, Any] = field(
        default_factory=lambda: {"type": FP_TYPE, "params": dict(FP_PARAMS)}
    )

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        data = orjson.loads((directory / MANIFEST).read_bytes())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
