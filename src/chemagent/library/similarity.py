"""Tanimoto similarity search with FPSim2 (Morgan radius 2, 2048 bits), fingerprints in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from FPSim2 import FPSim2Engine

from chemagent.chem.quiet import quiet_rdkit


@dataclass(frozen=True)
class SimilarityHit:
    row: int
    similarity: float


_TIE_MARGIN = 16


class SimilarityIndex:
    """FPSim2 engine over a library's ``fingerprints.h5`` (mol_id = row + 1)."""

    def __init__(self, h5_path: Path) -> None:
        self._engine = FPSim2Engine(str(h5_path), in_memory_fps=True)

    @property
    def fp_params(self) -> dict[str, object]:
        return dict(self._engine.fp_params)

    def search(
        self, query: object, threshold: float, top_k: int | None = None, limit: int | None = None
    ) -> tuple[int, list[SimilarityHit]]:
        """Library rows with Tanimoto >= ``threshold`` to ``query``, most similar first.

        Args:
            query: a SMILES string or an RDKit molecule (validated and prepared by the
                caller the way the library was).
            threshold: minimum Tanimoto coefficient, 0 to 1.
            top_k: keep only the best ``top_k`` (FPSim2's own top-k search), or all.
            limit: materialize at most this many hits (a threshold of 0 on 1.6M compounds
                matches them all; only the count of those is needed).

        Returns:
            ``(total hits, the first `limit` hits)``.
        """
        with quiet_rdkit():
            if top_k is None:
                found = self._engine.similarity(query, threshold=threshold, n_workers=1)
            else:  # a few extra, so ties at the k-th score are broken by row, not by chance
                found = self._engine.top_k(
                    query, k=top_k + _TIE_MARGIN, threshold=threshold, n_workers=1
                )
        total = len(found) if top_k is None else min(len(found), top_k)
        count = total if limit is None else min(total, limit)
        if count == 0:
            return total, []
        # FPSim2 sorts by score only; equal scores (a drug and its salts share a parent)
        # come in no fixed order. Take every hit tied with the last one kept, order by
        # (score desc, row asc) and cut: the same request always gives the same page.
        coeffs = found["coeff"]
        window = found[: int(np.count_nonzero(coeffs >= coeffs[count - 1]))]
        window = window[np.lexsort((window["mol_id"], -window["coeff"]))][:count]
        hits = [
            SimilarityHit(row=int(mol_id) - 1, similarity=round(float(coeff), 4))
            for mol_id, coeff in window
        ]
        return total, hits
