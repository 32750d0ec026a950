"""The ``chemagent`` command, in-process through typer's CliRunner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chemagent.cli import app
from tests.service.support import OFFLINE_HINT

runner = CliRunner()
TINY_SMI = """\
smiles id name
CC(=O)Oc1ccccc1C(=O)O MOL1 aspirin
CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+] MOL2 ibuprofen sodium
CCO MOL3 ethanol
C1CC MOL4 broken
c1ccncc1 MOL5 pyridine
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled library, offline, whatever CHEMAGENT_* the shell has set."""
    for name in list(os.environ):
        if name.startswith("CHEMAGENT_"):
            monkeypatch.delenv(name)


def _words(text: str) -> str:
    """Rich wraps at the terminal width; compare sentences with whitespace collapsed."""
    return " ".join(text.split())


def test_compound_json() -> None:
    result = runner.invoke(app, ["compound", "CHEMBL25", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["chembl_id"] == "CHEMBL25"
    assert record["pref_name"] == "ASPIRIN"
    assert record["molecule_properties"]["alogp"] == 1.31
    assert record["molecule_structures"]["standard_inchi_key"] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"


def test_compound_human_output() -> None:
    result = runner.invoke(app, ["compound", "chembl25"])
    assert result.exit_code == 0, result.output
    assert "ASPIRIN" in result.stdout
    assert "CHEMBL25" in result.stdout
    assert "alogp" in result.stdout
    assert "1.31" in result.stdout


def test_unknown_compound_exits_1_with_the_hint_on_stderr() -> None:
    result = runner.invoke(app, ["compound", "CHEMBL999999999"])
    assert result.exit_code == 1
    assert result.stdout == ""
    stderr = _words(result.stderr)
    assert "compound_not_found" in stderr
    assert "CHEMBL999999999" in stderr
    assert OFFLINE_HINT in stderr


def test_properties_invalid_smiles_exits_1() -> None:
    result = runner.invoke(app, ["properties", "C1CC"])
    assert result.exit_code == 1
    stderr = _words(result.stderr)
    assert "invalid_molecule" in stderr
    assert "'C1CC'" in stderr
    assert "ring-closure" in stderr


def test_properties_json_and_human() -> None:
    as_json = runner.invoke(app, ["properties", "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]", "--json"])
    assert as_json.exit_code == 0, as_json.output
    panel = json.loads(as_json.stdout)["molecule_properties"]
    assert panel["full_molformula"] == "C13H17NaO2"
    human = runner.invoke(app, ["properties", "CC(=O)Oc1ccccc1C(=O)O"])
    assert human.exit_code == 0, human.output
    assert "alogp" in human.stdout
    assert "1.31" in human.stdout


def test_similar_json() -> None:
    result = runner.invoke(app, ["similar", "ibuprofen", "--top-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["top_k"] == 3
    hits = body["results"]
    assert 1 <= len(hits) <= 3
    assert hits[0]["chembl_id"] == "CHEMBL521"
    similarities = [hit["similarity"] for hit in hits]
    assert similarities == sorted(similarities, reverse=True)
    assert all(s >= 0.7 for s in similarities)


def test_similar_human_output_and_errors() -> None:
    result = runner.invoke(app, ["similar", "CHEMBL521", "--threshold", "0.5", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert "IBUPROFEN" in result.stdout
    assert "above the threshold" in result.stdout
    unknown = runner.invoke(app, ["similar", "asprin"])
    assert unknown.exit_code == 1
    assert "ASPIRIN (CHEMBL25)" in _words(unknown.stderr)
    out_of_range = runner.invoke(app, ["similar", "ibuprofen", "--threshold", "1.5"])
    assert out_of_range.exit_code == 2  # click's usage error


def test_library_build_and_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "tiny.smi"
    source.write_text(TINY_SMI)
    out = tmp_path / "tiny-index"
    built = runner.invoke(
        app, ["library", "build", str(source), "--out", str(out), "--processes", "1"]
    )
    assert built.exit_code == 0, built.output
    assert "4 compounds indexed, 1 skipped" in _words(built.stdout)

    info = runner.invoke(app, ["library", "info", str(out), "--json"])
    assert info.exit_code == 0, info.output
    manifest = json.loads(info.stdout)
    assert manifest["count"] == 4
    assert manifest["skipped"] == 1
    assert manifest["name"]

    # The index serves: CHEMAGENT_LIBRARY points the CLI at it.
    monkeypatch.setenv("CHEMAGENT_LIBRARY", str(out))
    found = runner.invoke(app, ["compound", "MOL2", "--json"])
    assert found.exit_code == 0, found.output
    record = json.loads(found.stdout)
    assert record["molecule_structures"]["parent_smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    missing = runner.invoke(app, ["compound", "CHEMBL25"])
    assert missing.exit_code == 1
    assert "tiny" in _words(missing.stderr)


def test_library_build_rejects_an_unknown_format(tmp_path: Path) -> None:
    source = tmp_path / "compounds.xyz"
    source.write_text("CCO MOL1\n")
    result = runner.invoke(app, ["library", "build", str(source), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert ".smi" in _words(result.stderr)


def test_library_info_of_the_bundled_library() -> None:
    result = runner.invoke(app, ["library", "info", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["name"] == "chembl_approved_drugs"
    assert manifest["count"] == 2628
    human = runner.invoke(app, ["library", "info"])
    assert human.exit_code == 0
    assert "chembl_approved_drugs" in human.stdout


def test_invalid_configuration_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHEMAGENT_MAX_WORKERS", "0")
    result = runner.invoke(app, ["compound", "CHEMBL25"])
    assert result.exit_code == 2
    assert "CHEMAGENT_MAX_WORKERS" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["compound"],
        ["properties"],
        ["similar"],
        ["library"],
        ["library", "build"],
        ["library", "info"],
    ],
    ids=lambda c: " ".join(c) or "chemagent",
)
def test_help_of_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert "--help" in result.stdout
