"""Small in-memory libraries for tests that need exact control over rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chemagent.chem import RDKIT_VERSION
from chemagent.chem.properties import PANEL_VERSION
from chemagent.library.index import Manifest
from chemagent.library.library import Library


def memory_library(
    *,
    names: list[str | None] | None = None,
    numeric: dict[str, list[float]] | None = None,
    synonyms: dict[str, int] | None = None,
    smiles: list[str] | None = None,
) -> Library:
    """A Library without files: ``numeric`` columns may hold NaN (not computed)."""
    size = len(names or smiles or next(iter((numeric or {}).values()), []))
    smiles = smiles or ["C"] * size
    manifest = Manifest("memory", "1", size, RDKIT_VERSION, PANEL_VERSION, has_properties=True)
    return Library(
        manifest=manifest,
        path=Path("/nonexistent"),
        ids=[f"T{i}" for i in range(size)],
        names=names or [None] * size,
        smiles=smiles,
        parent_smiles=smiles,
        inchis=[None] * size,
        inchikeys=[None] * size,
        parent_inchikeys=[None] * size,
        extras=[{} for _ in range(size)],
        numeric={k: np.asarray(v, dtype=np.float64) for k, v in (numeric or {}).items()},
        text_props={},
        synonyms=synonyms or {},
    )
