"""Parse user molecules (SMILES, SMARTS, molblocks) with limits and explanations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rdkit import Chem

from chemagent.chem.quiet import quiet_rdkit
from chemagent.errors import InvalidMolecule

_RING_DIGIT = re.compile(r"%\d\d|\d")
_BRACKET_ATOM = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class MoleculeLimits:
    """Bounds on user input, so one request cannot pin a CPU.

    Args:
        max_length: longest accepted SMILES/SMARTS string (characters).
        max_heavy_atoms: most heavy atoms in a parsed molecule.
    """

    max_length: int = 2000
    max_heavy_atoms: int = 500


Mol = Chem.Mol
"""The molecule type, for annotations outside chem/ (which never import RDKit)."""

DEFAULT_LIMITS = MoleculeLimits()
TRUSTED_LIMITS = MoleculeLimits(max_length=1_000_000, max_heavy_atoms=100_000)
"""For structures that come from a library index, which were checked when it was built."""


def parse_smiles(smiles: str) -> Chem.Mol | None:
    """Parse and sanitize a SMILES string; ``None`` when it is not a valid molecule."""
    if any(ch.isspace() for ch in smiles):  # RDKit reads "CCO CC" as ethanol named "CC"
        return None
    with quiet_rdkit():
        return Chem.MolFromSmiles(smiles)


def _syntax_hint(text: str) -> str:
    """A guess at what is wrong with SMILES that RDKit could not even tokenize."""
    if text.count("(") != text.count(")"):
        return "its parentheses are unbalanced"
    if text.count("[") != text.count("]"):
        return "its square brackets are unbalanced"
    digits = _RING_DIGIT.findall(_BRACKET_ATOM.sub("", text))
    if any(digits.count(d) % 2 for d in set(digits)):
        return "a ring-closure digit is opened but never closed"
    if any(ch.isspace() for ch in text):
        return (
            "it contains whitespace; send one structure without spaces (in a URL, "
            "encode '+' as %2B or it arrives as a space)"
        )
    return "it is not valid SMILES syntax"


def _chemistry_problem(text: str) -> str | None:
    """Explain why syntactically valid SMILES fails sanitization (valence, aromaticity)."""
    with quiet_rdkit():
        raw = Chem.MolFromSmiles(text, sanitize=False)
        if raw is None:
            return None
        problems = Chem.DetectChemistryProblems(raw)
    if not problems:
        return None
    message: str = problems[0].Message()
    return message.replace("Explicit valence", "explicit valence")


def require_molecule(
    text: str,
    limits: MoleculeLimits = DEFAULT_LIMITS,
    *,
    what: str = "SMILES",
    complete: bool = True,
) -> Chem.Mol:
    """Parse ``text`` as SMILES within ``limits`` or raise a helpful InvalidMolecule.

    Args:
        text: the SMILES string as the user sent it.
        limits: length and size bounds.
        what: how to name the input in error messages (e.g. ``"query SMILES"``).
        complete: refuse wildcard atoms and molecules without heavy atoms (needed for
            properties and searches; a drawing or a substructure pattern may have them).

    Returns:
        A sanitized RDKit molecule.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidMolecule(f"The {what} is empty; send a structure such as CCO.")
    _check_length(stripped, limits, what)
    mol = parse_smiles(stripped)
    if mol is None:
        problem = _chemistry_problem(stripped)
        shown = stripped if len(stripped) <= 80 else stripped[:77] + "..."
        if problem:
            raise InvalidMolecule(
                f"The {what} '{shown}' is not a valid molecule: {problem}. "
                "Check the atoms' charges and bond orders."
            )
        raise InvalidMolecule(
            f"The {what} '{shown}' could not be parsed: {_syntax_hint(stripped)}."
        )
    check_size(mol, limits, what=what)
    if complete:
        check_complete(mol, what=what)
    return mol


def _check_length(text: str, limits: MoleculeLimits, what: str) -> None:
    if len(text) > limits.max_length:
        raise InvalidMolecule(
            f"The {what} is {len(text)} characters long; the limit is "
            f"{limits.max_length}. Send a smaller molecule."
        )


def check_input(text: str, mol: Chem.Mol, limits: MoleculeLimits, *, what: str = "SMILES") -> None:
    """The checks of :func:`require_molecule` for a molecule parsed elsewhere."""
    _check_length(text.strip(), limits, what)
    check_size(mol, limits, what=what)
    check_complete(mol, what=what)


def check_complete(mol: Chem.Mol, *, what: str = "molecule") -> None:
    """Raise InvalidMolecule for structures no property is meaningful for: wildcard atoms
    (``*``, R-groups) or no heavy atom at all (``[H+]``, ``[H][H]``)."""
    if any(atom.GetAtomicNum() == 0 for atom in mol.GetAtoms()):
        raise InvalidMolecule(
            f"The {what} contains wildcard atoms (*); send a complete structure, or use "
            "the pattern as a substructure query."
        )
    if mol.GetNumHeavyAtoms() == 0:
        raise InvalidMolecule(
            f"The {what} has no heavy atom; send a structure with at least one non-hydrogen "
            "atom, such as CCO."
        )


def check_size(mol: Chem.Mol, limits: MoleculeLimits, *, what: str = "molecule") -> None:
    """Raise InvalidMolecule when ``mol`` is empty or bigger than ``limits`` allow."""
    heavy = mol.GetNumHeavyAtoms()
    if mol.GetNumAtoms() == 0:
        raise InvalidMolecule(f"The {what} contains no atoms; send a structure such as CCO.")
    if heavy > limits.max_heavy_atoms:
        raise InvalidMolecule(
            f"The {what} has {heavy} heavy atoms; the limit is {limits.max_heavy_atoms}. "
            "Send a smaller molecule."
        )


def require_molblock(molblock: str, limits: MoleculeLimits = DEFAULT_LIMITS) -> Chem.Mol:
    """Parse a V2000/V3000 molblock or raise InvalidMolecule."""
    if len(molblock) > limits.max_length * 50:
        raise InvalidMolecule(
            f"The molblock is {len(molblock)} characters long; the limit is "
            f"{limits.max_length * 50}."
        )
    with quiet_rdkit():
        mol = Chem.MolFromMolBlock(molblock)
    if mol is None:
        raise InvalidMolecule(
            "The molblock could not be parsed; send a V2000 or V3000 MDL molfile "
            "with a counts line and an 'M  END' line."
        )
    check_size(mol, limits, what="molblock")
    check_complete(mol, what="molblock")
    return mol


def require_query(
    text: str, limits: MoleculeLimits = DEFAULT_LIMITS, *, fmt: str = "smarts"
) -> Chem.Mol:
    """Parse a substructure query or raise InvalidMolecule.

    Args:
        fmt: ``smarts`` (SMARTS first, then SMILES when it is not valid SMARTS) or
            ``smiles`` (SMILES only: ``C1=CC=CC=C1`` is then aromatic benzene, where as
            SMARTS it would mean aliphatic carbons with double bonds and match nothing).
    """
    stripped = text.strip()
    if fmt == "smiles":
        mol = require_molecule(stripped, limits, what="substructure SMILES", complete=False)
        # A '*' in SMILES is a dummy atom that only matches another dummy: make it match
        # any atom, as a user drawing an R-group means, and change nothing else.
        params: Any = Chem.AdjustQueryParameters.NoAdjustments()  # stubs mistype fields
        params.makeDummiesQueries = True
        adjusted: Chem.Mol = Chem.AdjustQueryProperties(mol, params)
        return adjusted
    if not stripped:
        raise InvalidMolecule("The substructure query is empty; send SMARTS such as c1ccccc1.")
    if len(stripped) > limits.max_length:
        raise InvalidMolecule(
            f"The substructure query is {len(stripped)} characters long; the limit is "
            f"{limits.max_length}."
        )
    with quiet_rdkit():  # whitespace: RDKit would drop the rest of the text as a name
        query = None if any(ch.isspace() for ch in stripped) else Chem.MolFromSmarts(stripped)
    if query is None:
        query = parse_smiles(stripped)
    if query is None:
        raise InvalidMolecule(
            f"The substructure query '{stripped[:80]}' is neither valid SMARTS nor SMILES: "
            f"{_syntax_hint(stripped)}."
        )
    check_size(query, limits, what="substructure query")
    return query


def canonical_smiles(mol: Chem.Mol) -> str:
    """RDKit canonical isomeric SMILES."""
    smiles: str = Chem.MolToSmiles(mol)
    return smiles


def molblock(mol: Chem.Mol) -> str:
    """An MDL V2000 molblock (2D coordinates are computed when missing)."""
    text: str = Chem.MolToMolBlock(mol)
    return text
