"""What a step may use: the library, its indexes and the limits. No web or Redis objects."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from chemagent.chem.molecule import MoleculeLimits
from chemagent.library.index import FINGERPRINTS
from chemagent.library.library import Library
from chemagent.library.names import NameIndex
from chemagent.library.similarity import SimilarityIndex


@dataclass
class StepContext:
    """Shared, read-only resources for step functions (built once in the app lifespan).

    Attributes:
        library: the loaded compound library.
        limits: bounds on input molecules.
        max_results: the most hits a search step returns (and the deepest page).
        online: whether a ChEMBL upstream is configured (offline hints differ).
    """

    library: Library
    limits: MoleculeLimits
    max_results: int = 1000
    online: bool = False

    @cached_property
    def names(self) -> NameIndex:
        return NameIndex(self.library)

    @cached_property
    def similarity(self) -> SimilarityIndex:
        return SimilarityIndex(self.library.path / FINGERPRINTS)

    def warm(self) -> None:
        """Build the lazy indexes now (called at start so the first request is not slow)."""
        _ = self.names, self.similarity

    def not_found_hint(self) -> str:
        """The sentence appended to 'not found' errors: where else the compound could be."""
        size = f"{len(self.library):,}"
        if self.online:
            return "It is not in the local library nor in ChEMBL."
        if self.library.manifest.name == "chembl_approved_drugs":
            return (
                f"It is not in the bundled library of {size} approved drugs; "
                "set CHEMAGENT_CHEMBL_URL for all of ChEMBL."
            )
        return (
            f"It is not in the library '{self.library.manifest.name}' ({size} compounds); "
            "set CHEMAGENT_CHEMBL_URL for all of ChEMBL."
        )
