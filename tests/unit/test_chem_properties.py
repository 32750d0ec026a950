"""The ChEMBL property panel, checked against ChEMBL's own recorded values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from chemagent.chem.molecule import require_molecule
from chemagent.chem.properties import (
    NUMERIC_FIELDS,
    chembl_round,
    property_panel,
    structure_record,
)
from chemagent.chem.standardize import standardize
from chemagent.library.library import Library

FLOAT_FIELDS = ("alogp", "psa", "full_mwt", "mw_freebase", "mw_monoisotopic", "qed_weighted")
INT_FIELDS = (
    "hba",
    "hbd",
    "hba_lipinski",
    "hbd_lipinski",
    "rtb",
    "heavy_atoms",
    "aromatic_rings",
    "num_ro5_violations",
    "num_lipinski_ro5_violations",
)
TEXT_FIELDS = ("ro3_pass", "full_molformula")
STRUCTURE_FIELDS = ("canonical_smiles", "standard_inchi", "standard_inchi_key")

Fixture = Callable[[str], Any]


def panel_of(smiles: str) -> dict[str, Any]:
    return property_panel(standardize(require_molecule(smiles)))


def assert_matches_chembl(ours: dict[str, Any], recorded: dict[str, Any]) -> None:
    """Every recorded field we also compute is equal, as a number or a string."""
    compared = 0
    for name, value in recorded.items():
        if name not in ours or name == "np_likeness_score":
            continue
        compared += 1
        if value is None:
            assert ours[name] is None, name
        elif name in TEXT_FIELDS:
            assert ours[name] == value, name
        elif name in INT_FIELDS:
            assert ours[name] == int(value), f"{name}: ours {ours[name]}, ChEMBL {value}"
        else:
            assert ours[name] == pytest.approx(float(value), abs=1e-9), (
                f"{name}: ours {ours[name]}, ChEMBL {value}"
            )
    assert compared >= 12, f"only {compared} fields in common with the recording"


def test_chembl25_panel_equals_chembl(chembl_fixture: Fixture) -> None:
    recorded = chembl_fixture("molecule_CHEMBL25_chembl26plus.json")
    std = standardize(require_molecule(recorded["molecule_structures"]["canonical_smiles"]))
    panel = property_panel(std)
    expected = recorded["molecule_properties"]
    for name in FLOAT_FIELDS:
        assert panel[name] == float(expected[name]), name
    for name in INT_FIELDS:
        assert panel[name] == int(expected[name]), name
    for name in TEXT_FIELDS:
        assert panel[name] == expected[name], name
    structures = structure_record(std)
    for name in STRUCTURE_FIELDS:
        assert structures[name] == recorded["molecule_structures"][name], name


def test_bundled_chembl25_stores_chembl_values(chembl_fixture: Fixture, library: Library) -> None:
    recorded = chembl_fixture("molecule_CHEMBL25_chembl26plus.json")
    row = library.row_of("CHEMBL25")
    assert row is not None
    stored = library.record(row)
    assert_matches_chembl(stored["molecule_properties"], recorded["molecule_properties"])
    for name in STRUCTURE_FIELDS:
        assert stored["molecule_structures"][name] == recorded["molecule_structures"][name]


@pytest.mark.parametrize("chembl_id", ["CHEMBL204021", "CHEMBL7301"])
def test_molecule_list_panels_equal_chembl(chembl_fixture: Fixture, chembl_id: str) -> None:
    listing = chembl_fixture("molecule_list_max_phase3_limit2.json")
    (recorded,) = [m for m in listing["molecules"] if m["molecule_chembl_id"] == chembl_id]
    std = standardize(require_molecule(recorded["molecule_structures"]["canonical_smiles"]))
    assert_matches_chembl(property_panel(std), recorded["molecule_properties"])
    structures = structure_record(std)
    for name in STRUCTURE_FIELDS:
        assert structures[name] == recorded["molecule_structures"][name], name


def test_darapladib_known_pitfalls(chembl_fixture: Fixture) -> None:
    listing = chembl_fixture("molecule_list_max_phase3_limit2.json")
    (recorded,) = [m for m in listing["molecules"] if m["molecule_chembl_id"] == "CHEMBL204021"]
    panel = panel_of(recorded["molecule_structures"]["canonical_smiles"])
    # No donors is a value, not a missing field (a falsy-0 bug drops it).
    assert "hbd" in panel
    assert panel["hbd"] == 0
    assert type(panel["hbd"]) is int
    assert panel["hba"] == 6
    # 666.785 rounds half up to 666.79; Python's round() gives 666.78.
    assert panel["full_mwt"] == 666.79
    assert panel["mw_freebase"] == 666.79


def test_chembl_round_is_half_up() -> None:
    assert round(666.785, 2) == 666.78  # the binary-rounding trap chembl_round avoids
    assert chembl_round(666.785) == 666.79
    assert chembl_round(2.675) == 2.68
    assert chembl_round(0.125) == 0.13
    assert chembl_round(-0.125) == -0.13  # half away from zero, like the database
    assert chembl_round(180.04225, 4) == 180.0423
    assert chembl_round(1.234) == 1.23
    assert chembl_round(5) == 5.0
    assert math.copysign(1.0, chembl_round(-0.001)) == 1.0  # no "-0.0" in JSON
    assert isinstance(chembl_round(5), float)


def test_panel_json_types() -> None:
    panel = panel_of("CC(=O)Oc1ccccc1C(=O)O")
    assert set(NUMERIC_FIELDS) <= set(panel)
    for name in ("full_mwt", "mw_freebase", "mw_monoisotopic", "alogp", "psa", "qed_weighted"):
        assert type(panel[name]) is float, name
    for name in INT_FIELDS:
        assert type(panel[name]) is int, name
    assert panel["ro3_pass"] in ("Y", "N")
    assert isinstance(panel["full_molformula"], str)
    assert json.loads(json.dumps(panel)) == panel


def test_library_panel_json_types(library: Library) -> None:
    row = library.row_of("CHEMBL521")
    assert row is not None
    panel = library.properties(row)
    assert panel is not None
    for name in ("full_mwt", "mw_freebase", "alogp", "psa", "qed_weighted"):
        assert type(panel[name]) is float, name
    for name in INT_FIELDS:
        assert type(panel[name]) is int, name


def test_salt_full_and_parent_differ() -> None:
    panel = panel_of("CC(N)Cc1ccccc1.O=S(=O)(O)O")  # amphetamine sulfate
    assert panel["full_mwt"] != panel["mw_freebase"]
    assert panel["full_mwt"] == 233.29
    assert panel["mw_freebase"] == 135.21  # amphetamine alone
    assert "S" in panel["full_molformula"]
    assert panel["full_molformula"] == "C9H15NO4S"
    assert panel["heavy_atoms"] == 10  # parent only


@pytest.mark.parametrize(
    ("smiles", "expected"),
    [
        ("CC(N)Cc1ccccc1", "Y"),  # amphetamine: small, few donors/acceptors
        ("c1ccccc1", "Y"),
        ("CC(=O)Oc1ccccc1C(=O)O", "N"),  # aspirin: PSA 63.6 > 60
        ("CCCCCCCCCCCCCCCCCC(=O)O", "N"),  # stearic acid: logP > 3, 16 rotatable bonds
        ("OCC(O)C(O)C(O)C(O)CO", "N"),  # sorbitol: 6 donors
    ],
)
def test_ro3_pass(smiles: str, expected: str) -> None:
    assert panel_of(smiles)["ro3_pass"] == expected


def test_ro5_violations_counted() -> None:
    # Stearic acid: ALogP 6.3 is one violation; MW 284 and donors/acceptors are fine.
    panel = panel_of("CCCCCCCCCCCCCCCCCC(=O)O")
    assert panel["alogp"] > 5
    assert panel["num_ro5_violations"] == 1


def test_float_fields_are_exactly_the_float_values_of_a_panel() -> None:
    """The library rebuilds panels from numeric columns using FLOAT_FIELDS: it must name
    exactly the fields the panel computes as floats, or stored counts would come back as
    floats (or measurements truncated to ints)."""
    from chemagent.chem.properties import FLOAT_FIELDS, NUMERIC_FIELDS

    panel = property_panel(standardize(require_molecule("CC(=O)Oc1ccccc1C(=O)O")))
    floats = {name for name in NUMERIC_FIELDS if isinstance(panel[name], float)}
    assert floats == set(FLOAT_FIELDS)
