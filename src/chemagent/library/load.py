"""Load a library: an index directory, a plain compound file, or the bundled one."""

from __future__ import annotations

import atexit
import gzip
import logging
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from chemagent.chem import RDKIT_VERSION
from chemagent.chem.properties import NUMERIC_FIELDS
from chemagent.errors import InvalidInput
from chemagent.library.build import build_index, default_name, read_rows
from chemagent.library.index import COMPOUNDS, MANIFEST, SYNONYMS, Manifest
from chemagent.library.library import Library

log = logging.getLogger(__name__)

BUNDLED_NAME = "chembl_approved_drugs"
_TEXT_FIELDS = ("full_molformula", "ro3_pass")
_EXTRA_FIELDS = ("first_approval", "molecule_type")


def bundled_path() -> Path:
    """The index directory shipped inside the package."""
    return Path(str(resources.files("chemagent") / "data" / BUNDLED_NAME))


def load(path: Path | None = None) -> Library:
    """Load the library at ``path`` (an index directory or a compound file); bundled if None.

    A compound file (``.smi``, ``.csv``, ``.sdf``) is indexed into a temporary directory
    first, which takes about 5 ms a compound: build large files once with
    ``chemagent library build`` instead.
    """
    if path is None:
        path = bundled_path()
    if path.is_dir():
        return load_index(path)
    if not path.exists():
        raise InvalidInput(f"No library at {path}; point CHEMAGENT_LIBRARY at an index or file.")
    target = Path(tempfile.mkdtemp(prefix="chemagent-library-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)  # one copy per start otherwise
    log.warning("indexing %s into %s; build it once with `chemagent library build`", path, target)
    build_index(read_rows(path), target, name=default_name(path), source=str(path))
    return load_index(target)


def load_index(directory: Path) -> Library:
    """Read an index directory written by :func:`chemagent.library.build.build_index`."""
    if not (directory / MANIFEST).exists():
        raise InvalidInput(
            f"{directory} is not a library index (no {MANIFEST}); build one with "
            "`chemagent library build INPUT -o DIR`."
        )
    manifest = Manifest.read(directory)
    if manifest.rdkit_version != RDKIT_VERSION:
        log.warning(
            "library %s was built with RDKit %s, running %s: rebuild it for identical values",
            manifest.name,
            manifest.rdkit_version,
            RDKIT_VERSION,
        )
    ids: list[str] = []
    names: list[str | None] = []
    smiles: list[str] = []
    parent_smiles: list[str] = []
    inchis: list[str | None] = []
    inchikeys: list[str | None] = []
    parent_inchikeys: list[str | None] = []
    extras: list[dict[str, Any]] = []
    numeric: dict[str, list[float]] = {name: [] for name in NUMERIC_FIELDS}
    text: dict[str, list[str | None]] = {name: [] for name in _TEXT_FIELDS}
    nan = float("nan")
    with gzip.open(directory / COMPOUNDS, "rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            ids.append(row["id"])
            names.append(row.get("name"))
            smiles.append(row["smiles"])
            parent_smiles.append(row.get("parent_smiles") or row["smiles"])
            inchis.append(row.get("inchi"))
            inchikeys.append(row.get("inchikey"))
            parent_inchikeys.append(row.get("parent_inchikey"))
            extras.append({k: row[k] for k in _EXTRA_FIELDS if k in row})
            props = row.get("properties") or {}
            for name, column in numeric.items():
                value = props.get(name)
                column.append(nan if value is None else float(value))
            for name, values in text.items():
                values.append(props.get(name))
    synonyms: dict[str, int] = {}
    if (directory / SYNONYMS).exists():
        by_id = {ident: row for row, ident in enumerate(ids)}
        raw = orjson.loads(gzip.decompress((directory / SYNONYMS).read_bytes()))
        synonyms = {name: by_id[ident] for name, ident in raw.items() if ident in by_id}
    return Library(
        manifest=manifest,
        path=directory,
        ids=ids,
        names=names,
        smiles=smiles,
        parent_smiles=parent_smiles,
        inchis=inchis,
        inchikeys=inchikeys,
        parent_inchikeys=parent_inchikeys,
        extras=extras,
        numeric={name: np.asarray(values, dtype=np.float64) for name, values in numeric.items()},
        text_props=text,
        synonyms=synonyms,
    )
