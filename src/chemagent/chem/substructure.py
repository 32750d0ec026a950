"""Substructure search over many molecules: RDKit SubstructLibrary.

The library pairs a pattern-fingerprint screen (``PatternHolder``) with a full RDKit
substructure match of every candidate that passes the screen, so a hit is always a
verified match, never just a fingerprint coincidence.
"""

from __future__ import annotations

from collections.abc import Iterable

from rdkit import Chem
from rdkit.Chem import rdSubstructLibrary

from chemagent.chem.quiet import quiet_rdkit


class SubstructureIndex:
    """Screen-and-verify substructure search over SMILES, addressed by row number."""

    def __init__(self, smiles: Iterable[str]) -> None:
        """Index trusted canonical SMILES (from a library build); row ``i`` is the i-th."""
        holder = rdSubstructLibrary.CachedTrustedSmilesMolHolder()
        patterns = rdSubstructLibrary.PatternHolder()
        with quiet_rdkit():
            for smi in smiles:
                holder.AddSmiles(smi)
                mol = Chem.MolFromSmiles(smi)
                patterns.AddFingerprint(patterns.MakeFingerprint(mol if mol else Chem.Mol()))
        self._library = rdSubstructLibrary.SubstructLibrary(holder, patterns)

    def __len__(self) -> int:
        return len(self._library)

    def search(
        self, query: Chem.Mol, max_results: int, *, use_chirality: bool = False
    ) -> list[int]:
        """Rows whose molecule contains ``query``, in row order, at most ``max_results``.

        Args:
            query: a molecule from SMARTS or SMILES.
            max_results: stop after this many verified hits.
            use_chirality: match stereochemistry too.
        """
        with quiet_rdkit():
            hits = self._library.GetMatches(
                query,
                recursionPossible=True,
                useChirality=use_chirality,
                useQueryQueryMatches=False,
                numThreads=1,
                maxResults=max_results,
            )
        return sorted(int(i) for i in hits)

    def count(self, query: Chem.Mol, *, use_chirality: bool = False) -> int:
        """How many rows contain ``query``."""
        with quiet_rdkit():
            return int(
                self._library.CountMatches(
                    query,
                    recursionPossible=True,
                    useChirality=use_chirality,
                    useQueryQueryMatches=False,
                    numThreads=1,
                )
            )


def count_matches(smiles: str, query: Chem.Mol, *, use_chirality: bool = False) -> int | None:
    """How often ``query`` occurs in the molecule ``smiles`` (distinct atom sets).

    Matched as :meth:`SubstructureIndex.search` matches (recursive SMARTS, no query-query
    matching), so "does X contain Y?" agrees with the library search for Y.

    Args:
        smiles: a trusted canonical SMILES (a library parent, or one RDKit wrote).
        query: a molecule from SMARTS or SMILES.
        use_chirality: match stereochemistry too.

    Returns:
        The number of matches (0 when there are none), or None when ``smiles`` does not
        parse.
    """
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return None
        matches = mol.GetSubstructMatches(
            query, uniquify=True, useChirality=use_chirality, useQueryQueryMatches=False
        )
    return len(matches)
