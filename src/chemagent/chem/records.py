"""Turn one input structure into a library record (standardize, structures, property panel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rdkit import Chem

from chemagent.chem.molecule import canonical_smiles, parse_smiles
from chemagent.chem.properties import property_panel, structure_record
from chemagent.chem.quiet import quiet_rdkit
from chemagent.chem.standardize import standardize


def compound_record(smiles: str, *, full: bool = True) -> dict[str, Any] | None:
    """Compute the structure fields (and panel) of a library record.

    Args:
        smiles: input SMILES (ignored when ``mol`` is given).
        full: standardize with the ChEMBL pipeline and compute InChI and the property
            panel (about 5 ms a molecule); ``False`` only canonicalizes (about 0.1 ms),
            for large pre-cleaned sets such as MOSES.

    Returns:
        ``smiles``, ``parent_smiles`` and, when ``full``, ``inchi``, ``inchikey``,
        ``parent_inchikey`` and ``properties``; ``None`` if the structure is invalid.
    """
    mol = parse_smiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    if not full:
        canonical = canonical_smiles(mol)
        return {"smiles": canonical, "parent_smiles": canonical}
    try:
        std = standardize(mol)
    except (ValueError, RuntimeError):  # the pipeline rejects a few exotic structures
        return None
    structures = structure_record(std)
    return {
        "smiles": structures["canonical_smiles"],
        "parent_smiles": structures["parent_smiles"],
        "inchi": structures["standard_inchi"],
        "inchikey": structures["standard_inchi_key"],
        "parent_inchikey": structures["parent_inchi_key"],
        "properties": property_panel(std),
    }


def iter_sdf(path: str) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Yield ``(properties, SMILES or None)`` for each record of an SDF (``.sdf``/``.sdf.gz``).

    The record's title line is in ``properties["_Name"]``; stereochemistry perceived from
    the coordinates is kept in the SMILES.
    """
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle, quiet_rdkit():
        for mol in Chem.ForwardSDMolSupplier(handle):
            if mol is None:
                yield {}, None
                continue
            props = {k: str(v) for k, v in mol.GetPropsAsDict(includePrivate=False).items()}
            props["_Name"] = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
            yield props, Chem.MolToSmiles(mol)
