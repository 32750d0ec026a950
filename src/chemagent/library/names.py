"""Name resolution: exact pref_name, then synonyms, then fuzzy "did you mean" suggestions."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from chemagent.library.library import Library

SUGGESTION_CUTOFF = 75.0
"""Normalized edit-distance score (rapidfuzz QRatio, 0-100) below which a name is not
suggested: 'asprin' scores 92 against 'aspirin', 'ibuprofin' 89 against 'ibuprofen';
'weather today' scores under 60 against every name. (WRatio's partial matching made
'weather' match a 4-letter synonym at 90, so it is not used.)"""


@dataclass(frozen=True)
class NameMatch:
    """A library row matched by name: ``how`` is pref_name, synonym or fuzzy."""

    row: int
    how: str
    matched: str
    score: float = 100.0


class NameIndex:
    """Case-insensitive name and synonym lookup with fuzzy suggestions over one library."""

    def __init__(self, library: Library) -> None:
        self._library = library
        choices: dict[str, int] = {}
        for row, name in enumerate(library.names):
            if name:
                choices.setdefault(name.lower(), row)
        for synonym, row in library.synonyms.items():
            choices.setdefault(synonym, row)
        self._choices = list(choices)
        self._rows = list(choices.values())

    def exact(self, name: str) -> list[NameMatch]:
        """Compounds whose pref_name, else a synonym, equals ``name`` (case-insensitive)."""
        key = " ".join(name.lower().split())
        rows = self._library.by_name.get(key)
        if rows:
            return [NameMatch(row, "pref_name", self._library.names[row] or key) for row in rows]
        row = self._library.synonyms.get(key)
        if row is not None:
            return [NameMatch(row, "synonym", key)]
        return []

    def fuzzy(self, name: str, limit: int = 5) -> list[NameMatch]:
        """Up to ``limit`` close names, best first, one per compound, score >= the cutoff."""
        if not self._choices or not name.strip():
            return []
        found = process.extract(
            name.lower(),
            self._choices,
            scorer=fuzz.QRatio,
            processor=utils.default_process,
            limit=limit * 4,
            score_cutoff=SUGGESTION_CUTOFF,
        )
        matches: list[NameMatch] = []
        seen: set[int] = set()
        for choice, score, index in found:
            row = self._rows[index]
            if row in seen:
                continue
            seen.add(row)
            matches.append(NameMatch(row, "fuzzy", choice, round(float(score), 1)))
            if len(matches) == limit:
                break
        return matches
