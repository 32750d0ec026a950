"""ChEMBL standardization: ``chembl_structure_pipeline`` standardize, then parent.

The parent is the standardized molecule with salts and solvents stripped and charges
neutralized; ChEMBL computes most properties on it and a few on the full molecule.
"""

from __future__ import annotations

from dataclasses import dataclass

from chembl_structure_pipeline import checker, standardizer
from rdkit import Chem

from chemagent.chem.quiet import quiet_rdkit


@dataclass(frozen=True)
class Standardized:
    """A molecule after the ChEMBL pipeline.

    Attributes:
        full: standardized molecule, salts and solvents kept.
        parent: salts/solvents stripped and neutralized (equals ``full`` when there are none).
        excluded: the pipeline's exclusion flag (e.g. inorganic, too many atoms of one kind).
    """

    full: Chem.Mol
    parent: Chem.Mol
    excluded: bool


def standardize(mol: Chem.Mol) -> Standardized:
    """Run ChEMBL standardize and get_parent on ``mol`` (not modified).

    Args:
        mol: a sanitized RDKit molecule.

    Returns:
        The full standardized molecule and its parent.
    """
    with quiet_rdkit():
        full = standardizer.standardize_mol(Chem.Mol(mol))
        parent, excluded = standardizer.get_parent_mol(full)
        # The pipeline returns molecules without ring info or implicit valences: the
        # descriptors need both. A failure here would mean the pipeline broke a valid input.
        Chem.SanitizeMol(full)
        Chem.SanitizeMol(parent)
    if parent.GetNumAtoms() == 0:  # everything was a salt: keep the full molecule
        parent = full
    return Standardized(full=full, parent=parent, excluded=bool(excluded))


@dataclass(frozen=True)
class Penalty:
    """One issue found by the ChEMBL checker; higher scores are worse (2 to 7)."""

    score: int
    message: str


def check(mol: Chem.Mol) -> list[Penalty]:
    """Run the ChEMBL structure checker on ``mol``.

    Returns:
        The checker's penalties, worst first; empty when the structure is clean.
    """
    with quiet_rdkit():
        molblock = Chem.MolToMolBlock(mol)
        issues = checker.check_molblock(molblock)
    penalties = [Penalty(score=int(score), message=str(msg)) for score, msg in issues]
    return sorted(penalties, key=lambda p: -p.score)


def check_molblock(molblock: str) -> list[Penalty]:
    """Run the ChEMBL checker on a molblock as given (keeps the input's coordinates)."""
    with quiet_rdkit():
        issues = checker.check_molblock(molblock)
    return sorted(
        (Penalty(score=int(s), message=str(m)) for s, m in issues), key=lambda p: -p.score
    )
