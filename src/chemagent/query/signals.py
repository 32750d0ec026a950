"""Signals: the keyword cues that say what a query asks for, read from the masked text.

Each cue is one precompiled pattern in :data:`CUES`; :func:`read_signals` runs them once
over the query with identifiers, structures and quantities masked, so a drug called
"Compare-X" or a SMILES full of "=" never triggers a cue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chemagent.query.vocabulary import DIRECTION_RE, DIRECTIONS, row_index

CUES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "similar": r"\b(?:similar|similarity|analog(?:ue)?s?|resembl\w*|near(?:est)?\s+"
        r"neighbou?rs?|neighbou?rs?|look[-\s]?alikes?|tanimoto|(?:structurally\s+)?close\s+to"
        r"|(?:compounds?|molecules?|drugs?|structures?|ones|things)\s+like"
        r"|looks?\s+(?:a\s+lot\s+)?like(?=\s*[\w\[(]))\b",
        "substructure": r"\b(?:contain(?:s|ing|ed)?|substructures?|bearing|featuring|"
        r"includ(?:e|es|ing)|smarts|pattern|moiety|motif|fragment)\b",
        "carrier": r"\b(?:with|having|has|have|bearing)\s+(?:an?\s+|the\s+|one\s+or\s+more\s+)?$",
        "targets": r"\b(?:targets?|bind(?:s|ing)?|mechanisms?(?:\s+of\s+action)?|moa|acts?\s+on|"
        r"inhibit(?:s|ed)?|receptors?|bioactivit(?:y|ies)|activit(?:y|ies)|ic50)\b",
        "compare": r"\b(?:compare[ds]?|comparing|comparison|versus|vs\.?|than|differ(?:s|ence)?)"
        r"(?![\w-])",
        "which": r"\b(?:which|who)\b",
        "rank": r"\b(?:rank|sort|order)(?:ed|ing)?\b(?:\s+(?:them|it|the|results|hits|those|"
        r"these|all|compounds|drugs))*\s+(?:by|on|according\s+to)\b|\bby\s+(?:descending|"
        r"ascending|increasing|decreasing)\b",
        "panel": r"\b(?:properties|property\s+panel|panel|descriptors|physchem|"
        r"physicochemical|profile|calculate|compute)\b",
        "lookup": r"^\s*(?:(?:can|could)\s+you\s+)?(?:please\s+)?(?:what\s+(?:is|are|was|does|do)|"
        r"what's|whats|who\s+is|tell\s+me|look\s*up|lookup|show|find|get|fetch|search|"
        r"describe|explain|give\s+me|info(?:rmation)?|details|structure|draw|depict|display|"
        r"identify|resolve|i\s+(?:want|need)|do\s+you\s+know)\b",
        "refers_back": r"\b(?:it|its|it's|them|they|their|theirs|both|each|former|latter)\b|"
        r"\b(?:this|that|these|those|the\s+same)\s+(?:compounds?|drugs?|molecules?|ones?|two|"
        r"three)\b",
        "ellipsis": r"^\s*(?:and\s+)?(?:what|how)\s+about\b|^\s*and\s+(?:for\s+|with\s+)?|"
        r"^\s*(?:same|now|also|again)\s+(?:for|with)\b|^\s*(?:and\s+)?(?:with|using)\s+",
        "chemistry": r"\b(?:compounds?|drugs?|molecules?|chemicals?|smiles|chembl|"
        r"medicines?|substances?)\b",
        "out_of_scope": r"\b(?:weather|forecast|today|tomorrow|joke|poem|song|movie|film|"
        r"football|soccer|basketball|recipe|bake|cook|capital|president|election|stock|"
        r"bitcoin|flight|hotel|translate|news|email|password|restaurant|sports?|music|"
        r"game|birthday|horoscope|time|clock|timezone)\b",
    }.items()
}


@dataclass(frozen=True)
class Signals:
    """Which cues fired, and where (character offsets in the query).

    Attributes:
        cues: cue name -> offset of its first match.
        direction: "max", "min" or None, from the first direction word.
    """

    cues: dict[str, tuple[int, int]]
    direction: str | None

    def has(self, name: str) -> bool:
        """Whether cue ``name`` fired."""
        return name in self.cues

    def end(self, name: str) -> int:
        """Where cue ``name`` ends (-1 when it did not fire)."""
        return self.cues[name][1] if name in self.cues else -1


def read_signals(masked: str) -> Signals:
    """Run every cue once over the masked query.

    Args:
        masked: the query with identifiers, structures, properties and numbers masked.

    Returns:
        The cues that fired and the direction word, if any.
    """
    cues: dict[str, tuple[int, int]] = {}
    for name, pattern in CUES.items():
        if name == "carrier":
            continue
        if m := pattern.search(masked):
            cues[name] = (m.start(), m.end())
    direction = None
    if m := DIRECTION_RE.search(masked):
        direction = DIRECTIONS[row_index(m)][1]
    return Signals(cues, direction)


# Cue words are grammar: they never belong to a compound name ("look-alikes of X").
_GRAMMAR_CUES = ("similar", "substructure", "targets", "compare", "rank", "panel", "lookup")


def cue_spans(masked: str) -> list[tuple[int, int]]:
    """Every span of a grammar cue in the masked query (to mask before reading names).

    Args:
        masked: the masked query.

    Returns:
        ``(start, end)`` pairs.
    """
    return [m.span() for name in _GRAMMAR_CUES for m in CUES[name].finditer(masked)]


def carried_by(masked: str, start: int) -> bool:
    """Whether the text just before ``start`` introduces a group ("drugs with a ...").

    Args:
        masked: the masked query.
        start: where the group or pattern begins.

    Returns:
        True after "with a", "having", "bearing", "that have an", ...
    """
    return bool(CUES["carrier"].search(masked[max(0, start - 32) : start]))
