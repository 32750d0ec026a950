"""The in-memory library: columns of compound data plus lookup indexes.

Columnar on purpose: a 1.6M-compound library keeps one list per field and one numpy
array per numeric property instead of 1.6M dicts (about 4x less memory), and property
range filters run as vectorized comparisons.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chemagent.chem.properties import FLOAT_FIELDS, NUMERIC_FIELDS
from chemagent.chem.substructure import SubstructureIndex
from chemagent.library.index import Manifest

# Libraries up to this size get their substructure index at load (2,628 drugs: 0.9 s);
# larger ones build it on the first substructure query (MOSES 1.6M: minutes, ~1 GB).
EAGER_SUBSTRUCTURE_MAX = 200_000


@dataclass
class Library:
    """Compounds in row order with indexes by ID, InChIKey and name.

    Attributes:
        manifest: what the library is (name, version, count, provenance).
        path: the index directory it was loaded from.
        ids, names, smiles, parent_smiles, inchikeys, parent_inchikeys: one entry a row.
        extras: per-row metadata such as ``first_approval`` and ``molecule_type``.
        numeric: property columns (NaN where not computed) for range filters.
        text_props: non-numeric panel fields (``full_molformula``, ``ro3_pass``).
        synonyms: lower-case synonym -> row.
    """

    manifest: Manifest
    path: Path
    ids: list[str]
    names: list[str | None]
    smiles: list[str]
    parent_smiles: list[str]
    inchis: list[str | None]
    inchikeys: list[str | None]
    parent_inchikeys: list[str | None]
    extras: list[dict[str, Any]]
    numeric: dict[str, np.ndarray]
    text_props: dict[str, list[str | None]]
    synonyms: dict[str, int]
    by_id: dict[str, int] = field(init=False)
    by_name: dict[str, list[int]] = field(init=False)
    by_inchikey: dict[str, list[int]] = field(init=False)
    by_parent_inchikey: dict[str, list[int]] = field(init=False)
    _substructure: SubstructureIndex | None = field(init=False, default=None)
    _substructure_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.by_id = {ident.upper(): row for row, ident in enumerate(self.ids)}
        self.by_name = defaultdict(list)
        for row, name in enumerate(self.names):
            if name:
                self.by_name[name.lower()].append(row)
        self.by_inchikey = _multi_index(self.inchikeys)
        self.by_parent_inchikey = _multi_index(self.parent_inchikeys)
        if len(self) <= EAGER_SUBSTRUCTURE_MAX:
            self._substructure = SubstructureIndex(self.parent_smiles)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_properties(self) -> bool:
        return self.manifest.has_properties

    def row_of(self, chembl_id: str) -> int | None:
        """Row of a compound ID (case-insensitive), or None."""
        return self.by_id.get(chembl_id.strip().upper())

    def properties(self, row: int) -> dict[str, Any] | None:
        """The stored property panel of ``row`` (None when the index has no properties)."""
        if not self.has_properties:
            return None
        panel: dict[str, Any] = {}
        for name, column in self.numeric.items():
            value = column[row]
            if np.isnan(value):
                continue
            panel[name] = float(value) if name in FLOAT_FIELDS else int(value)
        for name, values in self.text_props.items():
            if values[row] is not None:
                panel[name] = values[row]
        return panel

    def summary(self, row: int) -> dict[str, Any]:
        """A short description of ``row``: ID, name, SMILES (full and parent) and metadata.

        The parent is what searches match: a salt's full SMILES may lack a charged group
        that its parent has, so both are shown.
        """
        return {
            "chembl_id": self.ids[row],
            "pref_name": self.names[row],
            "canonical_smiles": self.smiles[row],
            "parent_smiles": self.parent_smiles[row],
            **self.extras[row],
        }

    def record(self, row: int) -> dict[str, Any]:
        """The full record of ``row``: summary, structures and the property panel."""
        return {
            "chembl_id": self.ids[row],
            "pref_name": self.names[row],
            **self.extras[row],
            "molecule_structures": {
                "canonical_smiles": self.smiles[row],
                "standard_inchi": self.inchis[row],
                "standard_inchi_key": self.inchikeys[row],
                "parent_smiles": self.parent_smiles[row],
                "parent_inchi_key": self.parent_inchikeys[row],
            },
            "molecule_properties": self.properties(row),
        }

    def substructure_index(self) -> SubstructureIndex:
        """The screen-and-verify substructure index, built on first use for large libraries."""
        if self._substructure is None:
            with self._substructure_lock:
                if self._substructure is None:
                    self._substructure = SubstructureIndex(self.parent_smiles)
        return self._substructure

    def filter_rows(self, conditions: Sequence[tuple[str, str, float]]) -> np.ndarray:
        """Rows whose properties satisfy every ``(field, op, value)`` condition.

        Args:
            conditions: e.g. ``[("mw_freebase", "<", 500), ("alogp", "<=", 5)]``; ops are
                ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``.

        Returns:
            Row numbers in ascending order. Rows without the property never match.
        """
        mask = np.ones(len(self), dtype=bool)
        for name, op, value in conditions:
            mask &= _OPS[op](self.numeric[name], value)
        return np.flatnonzero(mask)

    def order_rows(
        self, rows: np.ndarray, field: str, *, descending: bool, limit: int | None = None
    ) -> np.ndarray:
        """``rows`` ordered by the property ``field``, for "top 10 by lowest MW".

        Args:
            rows: row numbers in ascending order (as :meth:`filter_rows` returns them).
            field: a numeric property column.
            descending: highest first (else lowest first).
            limit: return only the first ``limit`` rows of the order.

        Returns:
            The rows reordered: rows without the property (NaN) last, equal values in row
            order (a stable sort).
        """
        values = self.numeric[field][rows]
        keys = -values if descending else values  # NaN stays NaN, so it sorts last
        if limit is not None and limit < len(keys):
            # Sort only the rows up to the limit-th value (ties included, so equal values
            # stay in row order): 1.6M rows, top 1,000: 32 ms instead of 160 ms.
            bounded = np.where(np.isnan(keys), np.inf, keys)
            kth = np.partition(bounded, limit - 1)[limit - 1]
            candidates = np.flatnonzero(bounded <= kth)
            ordered: np.ndarray = rows[candidates[np.argsort(keys[candidates], kind="stable")]]
            return ordered[:limit]
        everything: np.ndarray = rows[np.argsort(keys, kind="stable")]
        return everything


NUMERIC_PROPERTY_FIELDS: tuple[str, ...] = NUMERIC_FIELDS
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": lambda a, b: np.not_equal(a, b) & ~np.isnan(a),
}
FILTER_OPERATORS = tuple(_OPS)


def _multi_index(values: list[str | None]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for row, value in enumerate(values):
        if value:
            index[value].append(row)
    return dict(index)
