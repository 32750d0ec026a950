"""Tanimoto similarity search with FPSim2 (Morgan radius 2, 2048 bits), fingerprints in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from FPSim2 import FPSim2Engine

from chemagent.chem.quiet import quiet_rdkit


@dataclass(frozen=True)
class SimilarityHit:
    row: int
    similarity: float


class SimilarityIndex:
    """FPSim2 engine over a library's ``fingerprints.h5`` (mol_id = row + 1)."""

    def __init__(self, h5_path: Path) -> None:
        self._engine = FPSim2Engine(str(h5_path), in_memory_fps=True)

    @property
    def fp_params(self) -> dict[str, object]:
        return dict(self._engine.fp_params)

    def search(
        self, smiles: str, threshold: float, top_k: int | None = None
    ) -> list[SimilarityHit]:
        """Library rows with Tanimoto >= ``threshold`` to ``smiles``, most similar first.

        Args:
            smiles: query SMILES (already validated and standardized by the caller).
            threshold: minimum Tanimoto coefficient, 0 to 1.
            top_k: keep only the best ``top_k`` (FPSim2's own top-k search), or all.
        """
        with quiet_rdkit():
            if top_k is None:
                found = self._engine.similarity(smiles, threshold=threshold, n_workers=1)
            else:
                found = self._engine.top_k(smiles, k=top_k, threshold=threshold, n_workers=1)
        return [
            SimilarityHit(row=int(mol_id) - 1, similarity=round(float(coeff), 4))
            for mol_id, coeff in found
        ]
