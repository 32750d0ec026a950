"""The names of ChEMBL's property panel fields: plain data, importable by every layer.

``chem/properties.py`` computes the panel and ``query/`` reads questions about it; the
names live here so ``query/`` need not import RDKit to know them.
"""

from __future__ import annotations

NUMERIC_FIELDS: tuple[str, ...] = (
    "full_mwt",
    "mw_freebase",
    "mw_monoisotopic",
    "alogp",
    "psa",
    "hba",
    "hbd",
    "hba_lipinski",
    "hbd_lipinski",
    "rtb",
    "aromatic_rings",
    "aliphatic_rings",
    "num_rings",
    "heavy_atoms",
    "qed_weighted",
    "num_ro5_violations",
    "num_lipinski_ro5_violations",
    "fraction_csp3",
)
"""Panel fields that are numbers; the library keeps these as columns for range filters."""

FLOAT_FIELDS = frozenset(
    {"full_mwt", "mw_freebase", "mw_monoisotopic", "alogp", "psa", "qed_weighted", "fraction_csp3"}
)
"""The numeric fields that are measurements (JSON floats); the others are counts (ints)."""

PANEL_FIELDS: tuple[str, ...] = (*NUMERIC_FIELDS, "full_molformula", "ro3_pass")
"""Every panel field: the numbers, the formula and the rule-of-three flag."""
