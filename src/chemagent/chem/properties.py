"""The ChEMBL property panel, computed with RDKit the way ChEMBL (release 26 on) does.

Definitions (checked against ChEMBL's recorded responses for CHEMBL25, CHEMBL204021 and
CHEMBL7301 in ``shared/fixtures/chembl``; see docs/CHEMISTRY.md):

==========================  ==============================================  ==========
field                       definition                                      molecule
==========================  ==============================================  ==========
full_mwt                    average molecular weight (Descriptors.MolWt)    full
full_molformula             molecular formula                               full
mw_freebase                 average molecular weight                        parent
mw_monoisotopic             monoisotopic mass (ExactMolWt)                  parent
alogp                       Wildman-Crippen logP                            parent
psa                         topological polar surface area (N, O only)      parent
hba / hbd                   matches of RDKit Lipinski.HAcceptorSmarts /     parent
                            HDonorSmarts (the patterns, not CalcNumHBA)
hba_lipinski / hbd_lipinski N+O count / NH+OH count (Lipinski 1997)         parent
rtb                         rotatable bonds (RDKit default, strict)         parent
aromatic_rings              aromatic rings                                  parent
heavy_atoms                 heavy atoms                                     parent
qed_weighted                QED, weighted mean (Bickerton 2012)             parent
num_ro5_violations          MW > 500, ALogP > 5, HBA > 10, HBD > 5          parent
num_lipinski_ro5_violations as above with the Lipinski HBA/HBD counts       parent
ro3_pass                    "Y" when MW < 300, ALogP <= 3, HBD <= 3,        parent
                            HBA <= 3, RTB <= 3 and PSA <= 60, else "N"
==========================  ==============================================  ==========

Values are rounded as ChEMBL stores them (half up; 2 decimals, 4 for the monoisotopic
mass) and returned as JSON numbers. Counts are integers, and 0 is a value: a molecule
with no donors has ``hbd == 0``, never a missing field.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rdkit import Chem
from rdkit.Chem import QED, Descriptors, Lipinski, rdMolDescriptors

from chemagent.chem.quiet import quiet_rdkit
from chemagent.chem.standardize import Standardized

# The field names are plain data in chemagent.panel, so query/ can read them without RDKit.
from chemagent.panel import FLOAT_FIELDS as FLOAT_FIELDS
from chemagent.panel import NUMERIC_FIELDS as NUMERIC_FIELDS

# RDKit's bundled type stubs lack the generated Descriptors functions and leave QED and
# InChI untyped; these aliases keep mypy strict without silencing the whole module.
_DESCRIPTORS: Any = Descriptors
_QED: Any = QED
_CHEM: Any = Chem

PANEL_VERSION = 1
"""Bump when a definition changes: it is part of every cache key and library manifest."""


def _mol_wt(mol: Chem.Mol) -> float:
    """Average molecular weight, as Descriptors.MolWt (implicit hydrogens included)."""
    return float(_DESCRIPTORS.MolWt(mol))


def _logp(mol: Chem.Mol) -> float:
    return float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0])


def _qed(mol: Chem.Mol) -> float:
    return float(_QED.qed(mol))


def _to_inchi(mol: Chem.Mol) -> str:
    return str(_CHEM.MolToInchi(mol) or "")


def _inchi_key(inchi: str) -> str:
    return str(_CHEM.InchiToInchiKey(inchi) or "")


def chembl_round(value: float, ndigits: int = 2) -> float:
    """Round half up on the shortest decimal form of ``value``, as ChEMBL's database does.

    Python's ``round`` works on the binary value: ``round(666.785, 2) == 666.78``, while
    ChEMBL reports 666.79 for darapladib.
    """
    quantum = Decimal(1).scaleb(-ndigits)
    # "+ 0.0" turns -0.0 (ethanol's alogp rounds to it) into 0.0.
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)) + 0.0


def _count(mol: Chem.Mol, pattern: Chem.Mol) -> int:
    return len(mol.GetSubstructMatches(pattern, uniquify=True))


def property_panel(std: Standardized) -> dict[str, Any]:
    """Compute the ChEMBL property panel for a standardized molecule.

    Args:
        std: the output of :func:`chemagent.chem.standardize.standardize`.

    Returns:
        A dict of JSON-ready values keyed by ChEMBL field names (see module docstring).
    """
    full, parent = std.full, std.parent
    with quiet_rdkit():
        mw = _mol_wt(parent)
        alogp = _logp(parent)
        psa = rdMolDescriptors.CalcTPSA(parent)
        hba = _count(parent, Lipinski.HAcceptorSmarts)
        hbd = _count(parent, Lipinski.HDonorSmarts)
        hba_lip = rdMolDescriptors.CalcNumLipinskiHBA(parent)
        hbd_lip = rdMolDescriptors.CalcNumLipinskiHBD(parent)
        rtb = rdMolDescriptors.CalcNumRotatableBonds(parent)
        qed = _qed(parent)
        panel: dict[str, Any] = {
            "full_mwt": chembl_round(_mol_wt(full)),
            "full_molformula": rdMolDescriptors.CalcMolFormula(full),
            "mw_freebase": chembl_round(mw),
            "mw_monoisotopic": chembl_round(rdMolDescriptors.CalcExactMolWt(parent), 4),
            "alogp": chembl_round(alogp),
            "psa": chembl_round(psa),
            "hba": hba,
            "hbd": hbd,
            "hba_lipinski": hba_lip,
            "hbd_lipinski": hbd_lip,
            "rtb": rtb,
            "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings(parent),
            "aliphatic_rings": rdMolDescriptors.CalcNumAliphaticRings(parent),
            "num_rings": rdMolDescriptors.CalcNumRings(parent),
            "heavy_atoms": parent.GetNumHeavyAtoms(),
            "qed_weighted": chembl_round(qed),
            "fraction_csp3": chembl_round(rdMolDescriptors.CalcFractionCSP3(parent)),
        }
    panel["num_ro5_violations"] = _ro5_violations(mw, alogp, hba, hbd)
    panel["num_lipinski_ro5_violations"] = _ro5_violations(mw, alogp, hba_lip, hbd_lip)
    ro3 = mw < 300 and alogp <= 3 and hbd <= 3 and hba <= 3 and rtb <= 3 and psa <= 60
    panel["ro3_pass"] = "Y" if ro3 else "N"
    return panel


def _ro5_violations(mw: float, logp: float, hba: int, hbd: int) -> int:
    return int(mw > 500) + int(logp > 5) + int(hba > 10) + int(hbd > 5)


def structure_record(std: Standardized) -> dict[str, Any]:
    """ChEMBL-style ``molecule_structures`` for the full molecule, plus the parent's.

    Returns:
        canonical_smiles, standard_inchi, standard_inchi_key (full molecule) and
        parent_smiles, parent_inchi_key.
    """
    with quiet_rdkit():
        inchi = _to_inchi(std.full) or None
        inchikey = _inchi_key(inchi) if inchi else None
        parent_inchi = _to_inchi(std.parent) or None
        parent_key = _inchi_key(parent_inchi) if parent_inchi else None
    return {
        "canonical_smiles": Chem.MolToSmiles(std.full),
        "standard_inchi": inchi,
        "standard_inchi_key": inchikey,
        "parent_smiles": Chem.MolToSmiles(std.parent),
        "parent_inchi_key": parent_key,
    }
