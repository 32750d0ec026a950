"""Build an index directory from compound rows or a user file (SMILES, CSV or SDF).

Used by ``chemagent library build``, ``scripts/build_library.py`` and the loader (a plain
file given as CHEMAGENT_LIBRARY is indexed into a temporary directory at start).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from chemagent.chem import RDKIT_VERSION
from chemagent.chem.properties import PANEL_VERSION
from chemagent.chem.records import compound_record, iter_sdf
from chemagent.errors import InvalidInput
from chemagent.library.index import (
    COMPOUNDS,
    FINGERPRINTS,
    FP_PARAMS,
    FP_TYPE,
    MANIFEST,
    SYNONYMS,
    Manifest,
)

ProgressFn = Callable[[int], None]
_CHUNK = 2000

_ID_COLUMNS = ("id", "chembl_id", "molecule_chembl_id", "compound_id", "name_id", "mol_id")
_NAME_COLUMNS = ("name", "pref_name", "compound_name", "title")
_SMILES_COLUMNS = ("smiles", "canonical_smiles", "structure", "SMILES")


@dataclass
class InputRow:
    """One compound to index: an ID, a structure and optional metadata."""

    id: str
    smiles: str
    name: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _pick(columns: Iterable[str], wanted: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in wanted:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def read_rows(path: Path) -> Iterator[InputRow]:
    """Read compounds from ``.smi``, ``.csv``/``.tsv`` or ``.sdf`` (each optionally ``.gz``).

    SMILES files: ``SMILES [id [name...]]`` per line, a header line is skipped. CSV/TSV: a
    header with a SMILES column (``smiles``) and optional ``id``/``name`` columns. SDF: the
    ``id``/``chembl_id`` property or the title line is the ID. Rows without an ID get
    ``MOL<line number>``.
    """
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".sdf"):
        yield from _read_sdf(path)
    elif name.endswith((".csv", ".tsv")):
        yield from _read_csv(path, delimiter="\t" if name.endswith(".tsv") else ",")
    elif name.endswith((".smi", ".smiles", ".txt")):
        yield from _read_smi(path)
    else:
        raise InvalidInput(
            f"Cannot read {path.name}: use a .smi, .csv, .tsv or .sdf file (optionally .gz)."
        )


def _read_smi(path: Path) -> Iterator[InputRow]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.strip().split(None, 2)
            if not parts or parts[0].startswith("#"):
                continue
            if number == 1 and parts[0].lower() in {"smiles", "canonical_smiles"}:
                continue
            ident = parts[1] if len(parts) > 1 else f"MOL{number}"
            yield InputRow(id=ident, smiles=parts[0], name=parts[2] if len(parts) > 2 else None)


def _read_csv(path: Path, delimiter: str) -> Iterator[InputRow]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = reader.fieldnames or []
        smiles_col = _pick(columns, _SMILES_COLUMNS)
        if smiles_col is None:
            raise InvalidInput(
                f"{path.name} has no SMILES column; name one of: {', '.join(_SMILES_COLUMNS)}."
            )
        id_col = _pick(columns, _ID_COLUMNS)
        name_col = _pick(columns, _NAME_COLUMNS)
        for number, record in enumerate(reader, start=2):
            smiles = (record.get(smiles_col) or "").strip()
            ident = (record.get(id_col) or "").strip() if id_col else ""
            name = (record.get(name_col) or "").strip() if name_col else ""
            yield InputRow(id=ident or f"MOL{number}", smiles=smiles, name=name or None)


def _read_sdf(path: Path) -> Iterator[InputRow]:
    for number, (props, smiles) in enumerate(iter_sdf(str(path)), start=1):
        ident = str(props.get("id") or props.get("chembl_id") or props.get("_Name") or "")
        name = props.get("name") or props.get("pref_name")
        yield InputRow(id=ident.strip() or f"MOL{number}", smiles=smiles or "", name=name)


def _process(rows: list[tuple[str, str, str | None, dict[str, Any]]], full: bool) -> list[bytes]:
    """Worker: compute records for a chunk; returns JSON lines (empty bytes = skipped)."""
    out: list[bytes] = []
    for ident, smiles, name, extras in rows:
        record = compound_record(smiles, full=full)
        if record is None:
            out.append(b"")
            continue
        out.append(orjson.dumps({"id": ident, "name": name, **extras, **record}))
    return out


def _chunks(rows: Iterator[InputRow], size: int) -> Iterator[list[InputRow]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _records(
    rows: Iterable[InputRow], full: bool, processes: int, progress: ProgressFn | None
) -> Iterator[bytes]:
    """Yield one JSON line per input row, in order (``b""`` for an unusable row)."""
    chunks = (
        [(r.id, r.smiles, r.name, r.extras) for r in chunk] for chunk in _chunks(iter(rows), _CHUNK)
    )
    if processes <= 1:
        for args in chunks:
            yield from _process(args, full)
            if progress:
                progress(len(args))
        return
    # Workers get tuples of str and send back JSON bytes: no object of ours is pickled.
    with ProcessPoolExecutor(max_workers=processes) as pool:
        pending: list[tuple[int, Future[list[bytes]]]] = []
        for args in chunks:
            pending.append((len(args), pool.submit(_process, args, full)))
            if len(pending) >= processes * 4:
                size, future = pending.pop(0)
                yield from future.result()
                if progress:
                    progress(size)
        for size, future in pending:
            yield from future.result()
            if progress:
                progress(size)


def build_index(
    rows: Iterable[InputRow],
    out_dir: Path,
    *,
    name: str,
    version: str = "",
    source: str = "",
    attribution: str = "",
    license: str = "",
    synonyms: dict[str, str] | None = None,
    full: bool = True,
    processes: int = 1,
    progress: ProgressFn | None = None,
) -> Manifest:
    """Standardize, compute and write an index directory.

    Args:
        rows: compounds to index; duplicate IDs and unparsable structures are skipped.
        out_dir: directory to write (created; existing index files are replaced).
        name, version, source, attribution, license: recorded in the manifest.
        synonyms: optional ``{synonym: id}`` for name resolution.
        full: run the ChEMBL pipeline and the property panel (see ``compound_record``).
        processes: worker processes for the chemistry (1 = in this process).
        progress: called with the number of rows finished after each chunk.

    Returns:
        The manifest written to ``out_dir``.
    """
    from FPSim2.io import create_db_file

    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    fingerprint_rows: list[tuple[str, int]] = []
    skipped = 0
    compounds_tmp = out_dir / (COMPOUNDS + ".tmp")
    with gzip.GzipFile(compounds_tmp, "wb", compresslevel=6, mtime=0) as out:
        for line in _records(rows, full, processes, progress):
            if not line:
                skipped += 1
                continue
            record = orjson.loads(line)
            if record["id"].upper() in seen:  # row_of() looks IDs up case-insensitively
                skipped += 1
                continue
            seen.add(record["id"].upper())
            out.write(line + b"\n")
            fingerprint_rows.append((record["parent_smiles"], len(fingerprint_rows) + 1))
    if not fingerprint_rows:
        compounds_tmp.unlink()
        raise InvalidInput("No valid structure in the input; nothing to index.")
    compounds_tmp.replace(out_dir / COMPOUNDS)
    fp_tmp = out_dir / (FINGERPRINTS + ".tmp")
    create_db_file(
        [[smiles, mol_id] for smiles, mol_id in fingerprint_rows],
        str(fp_tmp),
        mol_format="smiles",
        fp_type=FP_TYPE,
        fp_params=dict(FP_PARAMS),
    )
    fp_tmp.replace(out_dir / FINGERPRINTS)
    if synonyms:
        kept = {k.lower(): v for k, v in sorted(synonyms.items()) if v.upper() in seen}
        (out_dir / SYNONYMS).write_bytes(
            gzip.compress(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS), mtime=0)
        )
    elif (out_dir / SYNONYMS).exists():
        (out_dir / SYNONYMS).unlink()
    manifest = Manifest(
        name=name,
        version=version or dt.date.today().isoformat(),
        count=len(fingerprint_rows),
        rdkit_version=RDKIT_VERSION,
        panel_version=PANEL_VERSION,
        has_properties=full,
        source=source,
        attribution=attribution,
        license=license,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        skipped=skipped,
    )
    (out_dir / MANIFEST).write_bytes(manifest.to_json())
    return manifest


def default_name(path: Path) -> str:
    """A library name from a file name: ``drugs.sdf.gz`` -> ``drugs``."""
    stem = path.name
    for suffix in (".gz", ".smi", ".smiles", ".txt", ".csv", ".tsv", ".sdf"):
        stem = stem.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "library"


def default_processes() -> int:
    return max(1, min(8, os.cpu_count() or 1))
