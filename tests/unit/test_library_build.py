"""Building and loading index directories from user files."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import orjson
import pytest
from rdkit import Chem

from chemagent.chem import RDKIT_VERSION
from chemagent.chem.properties import PANEL_VERSION
from chemagent.errors import InvalidInput
from chemagent.library.build import InputRow, build_index, default_name, read_rows
from chemagent.library.index import COMPOUNDS, FINGERPRINTS, MANIFEST, SYNONYMS, Manifest
from chemagent.library.library import FILTER_OPERATORS, Library
from chemagent.library.load import load, load_index
from tests.unit.builders import memory_library

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
AMPHETAMINE_SULFATE = "CC(N)Cc1ccccc1.O=S(=O)(O)O"

SMI_TEXT = f"""smiles id name
{ASPIRIN} CHEMBL25 ASPIRIN
{IBUPROFEN} CHEMBL521 IBUPROFEN
{AMPHETAMINE_SULFATE} CHEMBL501 AMPHETAMINE SULFATE
C1CC BROKEN1 unclosed ring
CC(C)(C)(C)C BROKEN2 pentavalent carbon
CCO CHEMBL25 duplicate id
# a comment line
c1ccccc1
"""


def read_compounds(directory: Path) -> list[dict[str, object]]:
    with gzip.open(directory / COMPOUNDS, "rb") as handle:
        return [orjson.loads(line) for line in handle]


@pytest.fixture(scope="module")
def smi_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "drugs.smi"
    path.write_text(SMI_TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(smi_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, Path]:
    out = tmp_path_factory.mktemp("index")
    manifest = build_index(
        read_rows(smi_file),
        out,
        name="drugs",
        version="v1",
        synonyms={"Acetylsalicylic Acid": "CHEMBL25", "ghost": "CHEMBL999"},
    )
    return manifest, out


def test_read_smi(smi_file: Path) -> None:
    rows = list(read_rows(smi_file))
    assert rows[0] == InputRow(id="CHEMBL25", smiles=ASPIRIN, name="ASPIRIN")
    assert rows[2].name == "AMPHETAMINE SULFATE"  # the rest of the line is the name
    assert [r.id for r in rows][-1] == "MOL9"  # no ID: MOL<line number>
    assert len(rows) == 7  # header and comment skipped


def test_build_counts_and_skips(built: tuple[Manifest, Path]) -> None:
    manifest, out = built
    assert manifest.count == 4  # aspirin, ibuprofen, amphetamine sulfate, benzene
    assert manifest.skipped == 3  # two invalid structures, one duplicate ID
    ids = [r["id"] for r in read_compounds(out)]
    assert ids == ["CHEMBL25", "CHEMBL521", "CHEMBL501", "MOL9"]
    # The first of two rows with one ID wins.
    assert read_compounds(out)[0]["smiles"] == ASPIRIN


def test_duplicate_ids_differing_in_case_are_skipped(tmp_path: Path) -> None:
    # row_of() is case-insensitive: a second 'CHEMBL25' would be unreachable by ID.
    rows = [InputRow("chembl25", ASPIRIN), InputRow("CHEMBL25", IBUPROFEN)]
    manifest = build_index(rows, tmp_path, name="case", full=False)
    assert (manifest.count, manifest.skipped) == (1, 1)
    lib = load_index(tmp_path)
    assert lib.ids == ["chembl25"]
    assert lib.row_of("CHEMBL25") == 0


def test_manifest_records_versions(built: tuple[Manifest, Path]) -> None:
    manifest, out = built
    on_disk = orjson.loads((out / MANIFEST).read_bytes())
    assert on_disk["rdkit_version"] == RDKIT_VERSION
    assert on_disk["panel_version"] == PANEL_VERSION
    assert on_disk["count"] == 4
    assert on_disk["skipped"] == 3
    assert on_disk["has_properties"] is True
    assert on_disk["name"] == "drugs"
    assert on_disk["version"] == "v1"
    assert on_disk["fingerprint"] == {"type": "Morgan", "params": {"radius": 2, "fpSize": 2048}}
    assert Manifest.read(out) == manifest
    assert (out / FINGERPRINTS).is_file()


def test_load_round_trip(built: tuple[Manifest, Path]) -> None:
    _, out = built
    lib = load_index(out)
    records = read_compounds(out)
    assert lib.ids == [r["id"] for r in records]
    assert lib.names == ["ASPIRIN", "IBUPROFEN", "AMPHETAMINE SULFATE", None]
    assert lib.smiles == [r["smiles"] for r in records]
    assert lib.parent_smiles[2] == "CC(N)Cc1ccccc1"
    assert lib.inchikeys[0] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    for row, record in enumerate(records):
        assert lib.properties(row) == record["properties"]
    assert lib.row_of("chembl521") == 1
    assert lib.by_parent_inchikey[lib.parent_inchikeys[2] or ""] == [2]


def test_synonyms_kept_only_for_indexed_ids(built: tuple[Manifest, Path]) -> None:
    _, out = built
    stored = orjson.loads(gzip.decompress((out / SYNONYMS).read_bytes()))
    assert stored == {"acetylsalicylic acid": "CHEMBL25"}
    assert load_index(out).synonyms == {"acetylsalicylic acid": 0}


def test_fast_index_has_no_properties(smi_file: Path, tmp_path: Path) -> None:
    manifest = build_index(read_rows(smi_file), tmp_path, name="fast", full=False)
    assert manifest.has_properties is False
    assert manifest.count == 4
    record = read_compounds(tmp_path)[0]
    assert "properties" not in record
    assert "inchikey" not in record
    lib = load_index(tmp_path)
    assert lib.has_properties is False
    assert lib.properties(0) is None
    assert lib.record(0)["molecule_properties"] is None
    assert all(np.isnan(column).all() for column in lib.numeric.values())
    # Fast mode only canonicalizes: the salt is not stripped.
    assert lib.parent_smiles[2] == lib.smiles[2]


def test_processes_give_identical_records(smi_file: Path, tmp_path: Path) -> None:
    one = build_index(read_rows(smi_file), tmp_path / "one", name="x", version="v")
    two = build_index(read_rows(smi_file), tmp_path / "two", name="x", version="v", processes=2)
    assert (one.count, one.skipped) == (two.count, two.skipped)
    assert read_compounds(tmp_path / "one") == read_compounds(tmp_path / "two")


def test_progress_is_reported(smi_file: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    build_index(read_rows(smi_file), tmp_path, name="x", full=False, progress=seen.append)
    assert sum(seen) == 7


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "compounds.csv"
    path.write_text(
        f'Compound_ID,SMILES,Name,Extra\nA1,{ASPIRIN},aspirin,x\nA2,not-smiles,bad,y\n,"{IBUPROFEN}",,z\n',
        encoding="utf-8",
    )
    rows = list(read_rows(path))
    assert [(r.id, r.name) for r in rows] == [("A1", "aspirin"), ("A2", "bad"), ("MOL4", None)]
    manifest = build_index(rows, tmp_path / "idx", name="csv", full=False)
    assert (manifest.count, manifest.skipped) == (2, 1)
    assert load_index(tmp_path / "idx").ids == ["A1", "MOL4"]


def test_tsv_gz(tmp_path: Path) -> None:
    path = tmp_path / "compounds.tsv.gz"
    text = f"chembl_id\tpref_name\tcanonical_smiles\nCHEMBL25\tASPIRIN\t{ASPIRIN}\n"
    path.write_bytes(gzip.compress(text.encode()))
    assert [(r.id, r.name, r.smiles) for r in read_rows(path)] == [("CHEMBL25", "ASPIRIN", ASPIRIN)]


def test_csv_without_smiles_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no SMILES column"):
        list(read_rows(path))


def test_sdf(tmp_path: Path) -> None:
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    aspirin = Chem.MolFromSmiles(ASPIRIN)
    aspirin.SetProp("_Name", "title-ignored")
    aspirin.SetProp("chembl_id", "CHEMBL25")
    aspirin.SetProp("pref_name", "ASPIRIN")
    writer.write(aspirin)
    titled = Chem.MolFromSmiles(IBUPROFEN)
    titled.SetProp("_Name", "CHEMBL521")
    writer.write(titled)
    anonymous = Chem.MolFromSmiles("c1ccccc1")
    writer.write(anonymous)
    writer.close()
    with path.open("a", encoding="utf-8") as handle:  # a record RDKit cannot read
        handle.write("broken\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    rows = list(read_rows(path))
    assert [(r.id, r.name) for r in rows[:3]] == [
        ("CHEMBL25", "ASPIRIN"),
        ("CHEMBL521", None),
        ("MOL3", None),
    ]
    assert rows[3].smiles == ""
    manifest = build_index(rows, tmp_path / "idx", name="sdf", full=False)
    assert (manifest.count, manifest.skipped) == (3, 1)
    lib = load_index(tmp_path / "idx")
    assert lib.ids == ["CHEMBL25", "CHEMBL521", "MOL3"]
    assert lib.smiles[0] == ASPIRIN


@pytest.mark.parametrize("name", ["compounds.xlsx", "compounds.json", "compounds.gz"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"\.smi, \.csv, \.tsv or \.sdf"):
        list(read_rows(path))


def test_nothing_valid_raises(tmp_path: Path) -> None:
    rows = [InputRow("A", "C1CC"), InputRow("B", "")]
    with pytest.raises(InvalidInput, match="No valid structure"):
        build_index(rows, tmp_path, name="empty")
    assert not (tmp_path / COMPOUNDS).exists()


def test_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a library index"):
        load_index(tmp_path)
    with pytest.raises(InvalidInput, match="not a library index"):
        load(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No library at"):
        load(tmp_path / "nope.smi")


def test_load_plain_file_indexes_it(
    smi_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = tmp_path / "indexed"
    target.mkdir()
    monkeypatch.setattr("tempfile.mkdtemp", lambda prefix="": str(target))
    with caplog.at_level(logging.WARNING, logger="chemagent.library.load"):
        lib = load(smi_file)
    assert lib.ids == ["CHEMBL25", "CHEMBL521", "CHEMBL501", "MOL9"]
    assert lib.manifest.name == "drugs"
    assert lib.manifest.source == str(smi_file)
    assert lib.path == target
    assert (target / MANIFEST).is_file()
    assert "chemagent library build" in caplog.text


def test_default_name() -> None:
    assert default_name(Path("drugs.sdf.gz")) == "drugs"
    assert default_name(Path("my drugs (v2).csv")) == "my_drugs_v2_"


# --- Library.filter_rows -------------------------------------------------------------


def tiny_library(mw: list[float], logp: list[float]) -> Library:
    return memory_library(numeric={"mw_freebase": mw, "alogp": logp})


NAN = float("nan")


@pytest.mark.parametrize(
    ("op", "value", "rows"),
    [
        ("<", 300, [0]),
        ("<=", 300, [0, 1]),
        (">", 300, [2]),
        (">=", 300, [1, 2]),
        ("==", 300, [1]),
        ("!=", 300, [0, 2]),  # NaN is not "different from 300": it is unknown
    ],
)
def test_filter_rows_operators(op: str, value: float, rows: list[int]) -> None:
    lib = tiny_library([200.0, 300.0, 400.0, NAN], [1.0, 2.0, 3.0, 4.0])
    assert lib.filter_rows([("mw_freebase", op, value)]).tolist() == rows


def test_filter_operators_all_covered() -> None:
    assert set(FILTER_OPERATORS) == {"<", "<=", ">", ">=", "==", "!="}


def test_filter_rows_combines_conditions_and_nan_never_matches() -> None:
    lib = tiny_library([200.0, 300.0, 400.0, NAN], [1.0, NAN, 3.0, 4.0])
    assert lib.filter_rows([("mw_freebase", ">", 100), ("alogp", ">=", 0)]).tolist() == [0, 2]
    for op in FILTER_OPERATORS:
        hits = lib.filter_rows([("alogp", op, 2.0)]).tolist()
        assert 1 not in hits, op
    assert lib.filter_rows([]).tolist() == [0, 1, 2, 3]


def test_large_library_builds_substructure_index_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("chemagent.library.library.EAGER_SUBSTRUCTURE_MAX", 1)
    lib = memory_library(smiles=["CCO", "c1ccccc1O", "CCN"])
    assert lib._substructure is None
    index = lib.substructure_index()
    assert lib.substructure_index() is index  # built once
    assert index.search(Chem.MolFromSmarts("[OX2H]"), max_results=10) == [0, 1]
