"""``chemagent library build`` on user files, then ``CHEMAGENT_LIBRARY`` served for real."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from rdkit import Chem

from tests.integration.conftest import CliFn, ServeFn, ServerProcess

pytestmark = pytest.mark.integration

# (id, name, SMILES): 30 distinct structures, one salt among them.
MOLECULES = [
    ("TST001", "aspirin", "CC(=O)Oc1ccccc1C(=O)O"),
    ("TST002", "ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"),
    ("TST003", "paracetamol", "CC(=O)Nc1ccc(O)cc1"),
    ("TST004", "caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),
    ("TST005", "naproxen", "COc1ccc2cc(ccc2c1)[C@H](C)C(=O)O"),
    ("TST006", "nicotine", "CN1CCC[C@H]1c1cccnc1"),
    ("TST007", "theophylline", "Cn1c2nc[nH]c2c(=O)n(C)c1=O"),
    ("TST008", "salicylic acid", "OC(=O)c1ccccc1O"),
    ("TST009", "phenol", "Oc1ccccc1"),
    ("TST010", "toluene", "Cc1ccccc1"),
    ("TST011", "ethanol", "CCO"),
    ("TST012", "metformin", "CN(C)C(=N)NC(=N)N"),
    ("TST013", "diazepam", "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21"),
    ("TST014", "lidocaine", "CCN(CC)CC(=O)Nc1c(C)cccc1C"),
    ("TST015", "propranolol", "CC(C)NCC(O)COc1cccc2ccccc12"),
    ("TST016", "atenolol", "CC(C)NCC(O)COc1ccc(CC(N)=O)cc1"),
    ("TST017", "fluoxetine", "CNCCC(Oc1ccc(cc1)C(F)(F)F)c1ccccc1"),
    ("TST018", "warfarin", "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O"),
    ("TST019", "ketoprofen", "CC(C(=O)O)c1cccc(c1)C(=O)c1ccccc1"),
    ("TST020", "indomethacin", "COc1ccc2c(c1)c(CC(=O)O)c(C)n2C(=O)c1ccc(Cl)cc1"),
    ("TST021", "omeprazole", "COc1ccc2[nH]c(nc2c1)S(=O)Cc1ncc(C)c(OC)c1C"),
    ("TST022", "captopril", "C[C@H](CS)C(=O)N1CCC[C@H]1C(=O)O"),
    ("TST023", "chloroquine", "CCN(CC)CCCC(C)Nc1ccnc2cc(Cl)ccc12"),
    ("TST024", "sodium valproate", "CCCC(CCC)C(=O)[O-].[Na+]"),
    ("TST025", "urea", "NC(N)=O"),
    ("TST026", "cyclohexane", "C1CCCCC1"),
    ("TST027", "pyridine", "c1ccncc1"),
    ("TST028", "glycine", "NCC(=O)O"),
    ("TST029", "sertraline", "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21"),
    ("TST030", "morphine", "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5"),
]
INVALID = ("TST900", "broken", "C1CC((N")
DUPLICATE = ("TST001", "hexane", "CCCCCC")  # an ID seen before: the first row wins
VALID = len(MOLECULES)
ASPIRIN_PANEL = {"full_mwt": 180.16, "alogp": 1.31, "psa": 63.6, "hbd": 1, "heavy_atoms": 13}
# Written another way than in the file, so that the search goes through canonicalization.
IBUPROFEN_QUERY = "OC(=O)C(C)c1ccc(CC(C)C)cc1"


def _rows() -> list[tuple[str, str, str]]:
    """The file contents in order: the invalid row in the middle, the duplicate ID last."""
    return [*MOLECULES[:15], INVALID, *MOLECULES[15:], DUPLICATE]


def write_smi(path: Path) -> Path:
    lines = ["smiles id name", *(f"{smiles} {ident} {name}" for ident, name, smiles in _rows())]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "smiles"])
        writer.writerows((ident, name, smiles) for ident, name, smiles in _rows())
    return path


def write_sdf(path: Path) -> Path:
    writer = Chem.SDWriter(str(path))
    for ident, name, smiles in _rows():
        if (ident, name, smiles) == INVALID:
            # Still a record: fluorine with two bonds fails sanitization when read back.
            mol = Chem.MolFromSmiles("F(F)F", sanitize=False)
        else:
            mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", ident)
        mol.SetProp("name", name)
        writer.write(mol)
    writer.close()
    return path


WRITERS = {"smi": write_smi, "csv": write_csv, "sdf": write_sdf}


def build(cli: CliFn, source: Path, out: Path, *extra: str) -> None:
    result = cli("library", "build", source, "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    assert f"{VALID} compounds indexed, 2 skipped" in result.stdout


def check_served_library(server: ServerProcess, *, has_properties: bool) -> None:
    """Size, a lookup with its property panel, and a similarity search by SMILES."""
    library = server.ready_body["library"]
    assert library["size"] == VALID
    assert library["has_properties"] is has_properties
    with server.client() as http:
        aspirin = http.get("/v1/compounds/TST001")
        assert aspirin.status_code == 200, aspirin.text
        body = aspirin.json()
        assert body["chembl_id"] == "TST001"
        assert body["pref_name"] == "aspirin"  # not the later duplicate "hexane"
        assert body["molecule_structures"]["canonical_smiles"] == "CC(=O)Oc1ccccc1C(=O)O"
        panel = body["molecule_properties"]
        assert {k: panel[k] for k in ASPIRIN_PANEL} == ASPIRIN_PANEL

        salt = http.get("/v1/compounds/TST024").json()
        assert salt["molecule_properties"]["mw_freebase"] == 144.21  # valproic acid
        if has_properties:  # --fast only canonicalizes: the stored parent keeps the salt
            assert salt["molecule_structures"]["parent_smiles"] == "CCCC(CCC)C(=O)O"

        assert http.get("/v1/compounds/TST900").status_code == 404

        hits = http.post("/v1/similarity", json={"query": IBUPROFEN_QUERY, "threshold": 0.1})
        assert hits.status_code == 200, hits.text
        results = hits.json()["results"]
        assert results[0]["chembl_id"] == "TST002"
        assert results[0]["similarity"] == pytest.approx(1.0)
        assert all(r["similarity"] < 1.0 for r in results[1:])


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_built_index_is_served(fmt: str, tmp_path: Path, cli: CliFn, serve: ServeFn) -> None:
    source = WRITERS[fmt](tmp_path / f"compounds.{fmt}")
    build(cli, source, tmp_path / "index")

    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert (manifest["count"], manifest["skipped"]) == (VALID, 2)
    assert manifest["has_properties"] is True

    server = serve(env={"CHEMAGENT_LIBRARY": str(tmp_path / "index")})
    assert server.ready_body["library"]["name"] == "compounds"
    check_served_library(server, has_properties=True)


def test_fast_index_computes_panels_on_request(tmp_path: Path, cli: CliFn, serve: ServeFn) -> None:
    source = write_smi(tmp_path / "fast.smi")
    build(cli, source, tmp_path / "index", "--fast", "--processes", "1")

    with gzip.open(tmp_path / "index" / "compounds.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == VALID
    assert not [row for row in rows if "properties" in row]

    server = serve(env={"CHEMAGENT_LIBRARY": str(tmp_path / "index")})
    check_served_library(server, has_properties=False)


def test_plain_smiles_file_is_indexed_at_start(tmp_path: Path, serve: ServeFn) -> None:
    source = write_smi(tmp_path / "direct.smi")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = serve(env={"CHEMAGENT_LIBRARY": str(source), "TMPDIR": str(scratch)})
    assert server.ready_body["library"]["name"] == "direct"
    check_served_library(server, has_properties=True)
    assert server.stop() == 0, server.stderr()
    # The index built at start lives in a temporary directory that the stop removes.
    assert not list(scratch.glob("chemagent-library-*"))
