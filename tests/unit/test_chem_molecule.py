"""Parsing user molecules: limits, and error sentences that say what to fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from chemagent.chem.molecule import (
    MoleculeLimits,
    canonical_smiles,
    require_molblock,
    require_molecule,
    require_query,
)
from chemagent.errors import InvalidInput, InvalidMolecule

SMILES_ALPHABET = list("CNOSPFIBrclnos()[]=#@+-0123456789%.$*:;,!&~/\\H ")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


DEFAULT = MoleculeLimits()


def error_of(text: str, limits: MoleculeLimits = DEFAULT) -> str:
    with pytest.raises(InvalidMolecule) as info:
        require_molecule(text, limits)
    return str(info.value)


def test_valid_smiles_is_sanitized_and_canonical() -> None:
    mol = require_molecule("  OC(=O)c1ccccc1OC(C)=O \n")
    assert canonical_smiles(mol) == "CC(=O)Oc1ccccc1C(=O)O"
    assert mol.GetNumHeavyAtoms() == 13


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty(text: str) -> None:
    message = error_of(text)
    assert "empty" in message
    assert "CCO" in message  # an example of what to send


def test_too_long() -> None:
    message = error_of("C" * 30, MoleculeLimits(max_length=20))
    assert "30 characters" in message
    assert "limit is 20" in message


def test_too_many_heavy_atoms() -> None:
    message = error_of("C" * 12, MoleculeLimits(max_heavy_atoms=10))
    assert "12 heavy atoms" in message
    assert "limit is 10" in message
    require_molecule("C" * 10, MoleculeLimits(max_heavy_atoms=10))  # at the limit: fine


def test_limits_apply_to_custom_name() -> None:
    with pytest.raises(InvalidMolecule, match="The query SMILES is empty"):
        require_molecule("", what="query SMILES")


@pytest.mark.parametrize("text", ["CC(C", "CC(=O)O)C"])
def test_unbalanced_parentheses(text: str) -> None:
    assert "parentheses are unbalanced" in error_of(text)


def test_unbalanced_brackets() -> None:
    assert "square brackets are unbalanced" in error_of("C[NH4+")


@pytest.mark.parametrize("text", ["C1CCC", "c1ccc2ccccc2c"])
def test_unclosed_ring(text: str) -> None:
    assert "ring-closure digit is opened but never closed" in error_of(text)


@pytest.mark.parametrize("text", ["CC(C)(C)(C)C", "C[N](C)(C)(C)C", "O=C=O=C"])
def test_valence_error(text: str) -> None:
    message = error_of(text)
    assert "valence" in message
    assert "not a valid molecule" in message
    assert text in message  # the input is quoted back


def test_aromaticity_error_is_explained() -> None:
    assert "kekulize" in error_of("c1cc1").lower()


@pytest.mark.parametrize("text", ["CCO CC", "CC(=O)O c1ccccc1", "C\tC", "CC\nO"])
def test_inner_whitespace_is_rejected_not_truncated(text: str) -> None:
    # RDKit alone reads "CCO CC" as ethanol named "CC": a silent wrong answer.
    message = error_of(text)
    assert "whitespace" in message
    assert "%2B" in message  # the URL '+' hint


@pytest.mark.parametrize("text", ["*CC", "[*:1]c1ccccc1"])
def test_wildcard_atoms_rejected(text: str) -> None:
    assert "wildcard atoms" in error_of(text)


@pytest.mark.parametrize("text", ["[H][H]", "[H+]"])
def test_no_heavy_atom_rejected(text: str) -> None:
    assert "no heavy atom" in error_of(text)


def test_long_input_is_shortened_in_message() -> None:
    text = "C1" + "C" * 200
    message = error_of(text)
    assert "..." in message
    assert text not in message


def test_invalid_molecule_is_a_user_error() -> None:
    with pytest.raises(InvalidInput) as info:
        require_molecule("not a molecule")
    assert info.value.status == 422
    assert info.value.code == "invalid_molecule"


@pytest.mark.parametrize(
    ("text", "atoms"),
    [
        ("[#6]C(=O)[OX2H1]", 4),  # SMARTS only
        ("S(=O)(=O)N", 4),
        ("c1ccccc1", 6),
        ("CC(=O)Oc1ccccc1C(=O)O", 13),  # plain SMILES is valid SMARTS too
        ("[$(C=O)]N", 2),  # recursive SMARTS
    ],
)
def test_require_query_accepts_smarts_and_smiles(text: str, atoms: int) -> None:
    assert require_query(text).GetNumAtoms() == atoms


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("C(C", "parentheses"),
        ("[$(C=O)", "square brackets"),
        ("c1ccccc1 CCl", "whitespace"),
        ("hello world!", "neither valid SMARTS nor SMILES"),
    ],
)
def test_require_query_rejects_garbage(text: str, fragment: str) -> None:
    with pytest.raises(InvalidMolecule, match=fragment):
        require_query(text)


def test_require_query_smiles_format() -> None:
    # Kekulé SMILES is aromatic benzene; read as SMARTS it means aliphatic carbons.
    as_smiles = require_query("C1=CC=CC=C1", fmt="smiles")
    assert all(atom.GetIsAromatic() for atom in as_smiles.GetAtoms())
    assert canonical_smiles(as_smiles) == "c1ccccc1"
    with pytest.raises(InvalidMolecule, match="substructure SMILES"):
        require_query("[C,N]C", fmt="smiles")  # SMARTS is not accepted as SMILES


def test_require_query_limits() -> None:
    with pytest.raises(InvalidMolecule, match="limit is 5"):
        require_query("CCCCCCCC", MoleculeLimits(max_length=5))
    with pytest.raises(InvalidMolecule, match="3 heavy atoms"):
        require_query("CCC", MoleculeLimits(max_heavy_atoms=2))


def test_require_molblock() -> None:
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    mol = require_molblock(block)
    assert canonical_smiles(mol) == "CC(=O)Oc1ccccc1C(=O)O"


@pytest.mark.parametrize("text", ["", "not a molfile", "CCO"])
def test_require_molblock_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidMolecule, match="M  END"):
        require_molblock(text)


def test_require_molblock_limits() -> None:
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("C" * 20))
    with pytest.raises(InvalidMolecule, match="20 heavy atoms"):
        require_molblock(block, MoleculeLimits(max_heavy_atoms=10))
    with pytest.raises(InvalidMolecule, match="characters long"):
        require_molblock(block, MoleculeLimits(max_length=10))


def test_require_molblock_empty_molecule() -> None:
    with pytest.raises(InvalidMolecule, match="no atoms"):
        require_molblock(Chem.MolToMolBlock(Chem.Mol()))


def _mol_or_invalid(fn: Callable[[str], Chem.Mol], text: str) -> None:
    """``fn(text)`` is a non-empty Mol, or an InvalidMolecule with a sentence; nothing else."""
    outcome: Chem.Mol | InvalidMolecule
    try:
        outcome = fn(text)
    except InvalidMolecule as exc:
        outcome = exc
    if isinstance(outcome, InvalidMolecule):
        assert outcome.detail.startswith("The ")
    else:
        assert isinstance(outcome, Chem.Mol)
        assert outcome.GetNumAtoms() > 0


@FUZZ
@given(st.one_of(st.text(alphabet=SMILES_ALPHABET, max_size=40), st.text(max_size=40)))
def test_require_molecule_fuzz(text: str) -> None:
    _mol_or_invalid(require_molecule, text)


@FUZZ
@given(st.one_of(st.text(alphabet=SMILES_ALPHABET, max_size=40), st.text(max_size=40)))
def test_require_query_fuzz(text: str) -> None:
    _mol_or_invalid(require_query, text)
