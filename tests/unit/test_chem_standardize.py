"""ChEMBL standardization: parents, checker penalties and the exclusion flag."""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem

from chemagent.chem.molecule import canonical_smiles, require_molecule
from chemagent.chem.standardize import Penalty, check, check_molblock, standardize


def test_salt_is_stripped_in_parent() -> None:
    std = standardize(require_molecule("CC(N)Cc1ccccc1.O=S(=O)(O)O"))
    assert canonical_smiles(std.parent) == "CC(N)Cc1ccccc1"
    assert "." in canonical_smiles(std.full)  # the full molecule keeps the counter-ion
    assert std.excluded is False


def test_charged_salt_parent_is_neutralized() -> None:
    std = standardize(require_molecule("CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"))
    assert canonical_smiles(std.parent) == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


def test_input_is_not_modified() -> None:
    mol = require_molecule("CC(=O)[O-].[Na+]")
    before = canonical_smiles(mol)
    standardize(mol)
    assert canonical_smiles(mol) == before


def test_all_salt_keeps_full_molecule_as_parent() -> None:
    std = standardize(require_molecule("[Na+].[Cl-]"))
    assert std.parent.GetNumAtoms() > 0


def test_clean_molecule_has_no_penalties() -> None:
    assert check(require_molecule("CC(=O)Oc1ccccc1C(=O)O")) == []


def test_checker_flags_radical() -> None:
    penalties = check(require_molecule("CC(C)[CH2]"))
    assert Penalty(6, "molecule has a radical that is not found in the known list") in penalties


def test_checker_flags_3d_molblock_and_sorts_worst_first() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0
    penalties = check_molblock(Chem.MolToMolBlock(mol))
    assert any("3D coordinates" in p.message for p in penalties)
    scores = [p.score for p in penalties]
    assert scores == sorted(scores, reverse=True)


def test_checker_on_metal_complex() -> None:
    penalties = check(require_molecule("Cl[Pt](Cl)([NH3])[NH3]"))  # cisplatin
    assert penalties
    assert penalties[0].score >= 6
    assert [p.score for p in penalties] == sorted((p.score for p in penalties), reverse=True)


def test_metal_is_excluded() -> None:
    assert standardize(require_molecule("Cl[Pt](Cl)([NH3])[NH3]")).excluded is True
    assert standardize(require_molecule("[Fe+2]")).excluded is True
    assert standardize(require_molecule("CCO")).excluded is False
