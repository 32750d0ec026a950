"""Entity extraction: identifiers, structures, properties and groups, then names.

One pass per concern over a *masked* copy of the query: each extractor blanks what it
consumed (with NUL characters, so offsets stay those of the original text) and the next
one only sees what is left. Names come last: they are the words left in a compound slot
once the grammar, the identifiers and the quantities are gone (see ``names``).

SMILES are recognised by shape, never validated here: the ``parse``/``resolve`` steps
do that when the plan runs, so a broken SMILES is still a SMILES entity and gets a clear
error then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chemagent.query.model import Condition, Entity, EntityKind
from chemagent.query.vocabulary import (
    ADJECTIVE_RE,
    ADJECTIVES,
    GROUP_RE,
    GROUPS,
    PROPERTY_RE,
    PROPERTY_SYNONYMS,
    row_index,
)

MASK = "\x00"

_CHEMBL_RE = re.compile(r"(?<![\w-])chembl[\s_-]?(\d+)(?![\w-])", re.IGNORECASE)
_INCHIKEY_RE = re.compile(r"(?<![\w-])[A-Z]{14}-[A-Z]{10}-[A-Z](?![\w-])")
_TOKEN_RE = re.compile(r"[^\s\x00]+")
_EDGE_PUNCT = "?!,;:'\"`“”‘’"
# The characters a SMILES or SMARTS token may hold.
_SMILES_CHARS_RE = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$/\\%.:*~;&!,]+")
# SMILES written with the organic subset, bracket atoms, bonds, branches and ring digits.
_SMILES_GRAMMAR_RE = re.compile(
    r"(?:Cl|Br|[BCNOPSFI]|[bcnops]|\[[^\]\s]+\]|[-=#$:/\\.()@+*]|%\d\d|\d)+"
)
_LETTERS_ONLY_RE = re.compile(r"(?:Cl|Br|[BCNOPSFI])+")
_RING_PAIR_RE = re.compile(r"(\d).*\1")
_STRUCTURE_MARKS = frozenset("()[]=#@/\\$")
_SMARTS_MARKS_RE = re.compile(r"[~;&!]|\[#\d|\$\(|\[[^\]]*,[^\]]*\]")
# Upper-case words of organic-subset letters that are English or abbreviations, not SMILES.
_NOT_SMILES = frozenset({"CNS", "ICON", "COBB", "SCOP", "BBB", "CSF", "CIS"})


@dataclass
class Extraction:
    """What one pass over a query found.

    Attributes:
        text: the query as written.
        masked: the query with every consumed span replaced by NUL characters.
        structures: ChEMBL IDs, InChIKeys, SMILES and SMARTS in the order written.
        properties: PROPERTY entities (value: a panel field name).
        groups: GROUP entities (value: a SMARTS).
        implied_direction: a direction carried by an adjective ("heavier" -> max).
        conditions: property filters.
        numbers: NUMBER entities (thresholds, counts), in the order written.
        names: NAME entities.
        errors: sentences about invalid values.
        condition_properties: start offsets of the property mentions used by conditions.
    """

    text: str
    masked: str
    structures: list[Entity] = field(default_factory=list)
    properties: list[Entity] = field(default_factory=list)
    groups: list[Entity] = field(default_factory=list)
    implied_direction: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    numbers: list[Entity] = field(default_factory=list)
    names: list[Entity] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    condition_properties: set[int] = field(default_factory=set)

    def consume(self, start: int, end: int) -> None:
        """Blank ``[start, end)`` so later extractors skip it."""
        self.masked = self.masked[:start] + MASK * (end - start) + self.masked[end:]


def structure_kind(token: str) -> EntityKind | None:
    """Decide whether a whitespace-free token is a SMILES or SMARTS, by shape alone.

    Args:
        token: one token without surrounding punctuation.

    Returns:
        ``SMILES``, ``SMARTS`` or ``None`` for a word. Letters-only tokens count only when
        they are at least three organic-subset atoms with a carbon ("CCO", not "NO", "I"
        or "COX"); lower-case words ("con", "no") never count, as aromatic atoms need
        ring digits.
    """
    if not _SMILES_CHARS_RE.fullmatch(token) or not any(c.isalpha() for c in token):
        return None
    if _SMARTS_MARKS_RE.search(token):
        return EntityKind.SMARTS
    if _SMILES_GRAMMAR_RE.fullmatch(token):
        if not any(c.isupper() or c == "[" for c in token) and not _RING_PAIR_RE.search(token):
            return None  # "sp3", "no2": aromatic atoms alone need a closed ring
        if any(c in _STRUCTURE_MARKS or c.isdigit() for c in token):
            return EntityKind.SMILES
        if (
            _LETTERS_ONLY_RE.fullmatch(token)
            and "C" in token
            and len(token) >= 3
            and token not in _NOT_SMILES
        ):
            return EntityKind.SMILES
        return None
    # A broken SMILES still looks like one: bonds or bracket atoms next to atoms.
    if any(c in "=#[" for c in token) and any(c.isupper() for c in token):
        return EntityKind.SMILES
    return None


def _strip_token(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past sentence punctuation (and a final full stop)."""
    while start < end and text[start] in _EDGE_PUNCT:
        start += 1
    while end > start and (text[end - 1] in _EDGE_PUNCT or text[end - 1] == "."):
        end -= 1
    # "(CCO)" in prose: drop parentheses that wrap the whole token.
    if end - start > 2 and text[start] == "(" and text[end - 1] == ")":
        inner = text[start + 1 : end - 1]
        if inner.count("(") == inner.count(")"):
            start, end = start + 1, end - 1
    return start, end


def extract_structures(ex: Extraction) -> None:
    """Find ChEMBL IDs, InChIKeys, SMILES and SMARTS; consume them.

    Args:
        ex: the extraction to fill; ``ex.structures`` ends sorted by position.
    """
    found: list[Entity] = []
    for m in _CHEMBL_RE.finditer(ex.masked):
        value = f"CHEMBL{m.group(1)}"
        found.append(Entity(EntityKind.CHEMBL_ID, m.group(0), value, m.start(), m.end()))
        ex.consume(m.start(), m.end())
    for m in _INCHIKEY_RE.finditer(ex.masked):
        found.append(Entity(EntityKind.INCHIKEY, m.group(0), m.group(0), m.start(), m.end()))
        ex.consume(m.start(), m.end())
    for m in _TOKEN_RE.finditer(ex.masked):
        start, end = _strip_token(ex.masked, m.start(), m.end())
        token = ex.masked[start:end]
        kind = structure_kind(token) if token else None
        if kind is not None:
            found.append(Entity(kind, token, token, start, end))
            ex.consume(start, end)
    ex.structures = sorted(found, key=lambda e: e.start)


def extract_groups_and_properties(ex: Extraction) -> None:
    """Find named groups, then property synonyms and property adjectives; consume them.

    Groups go first so that "benzene ring" is a group and not a ring count.

    Args:
        ex: the extraction to fill.
    """
    for m in GROUP_RE.finditer(ex.masked):
        smarts = GROUPS[row_index(m)][1]
        ex.groups.append(Entity(EntityKind.GROUP, m.group(0), smarts, m.start(), m.end()))
        ex.consume(m.start(), m.end())
    for m in ADJECTIVE_RE.finditer(ex.masked):
        _, prop, direction = ADJECTIVES[row_index(m)]
        ex.properties.append(Entity(EntityKind.PROPERTY, m.group(0), prop, m.start(), m.end()))
        if direction is not None:
            ex.implied_direction = direction
        else:
            ex.implied_direction = "min" if m.group(0).lower()[:4] in {"less", "leas"} else "max"
        ex.consume(m.start(), m.end())
    for m in PROPERTY_RE.finditer(ex.masked):
        prop = PROPERTY_SYNONYMS[row_index(m)][1]
        ex.properties.append(Entity(EntityKind.PROPERTY, m.group(0), prop, m.start(), m.end()))
    ex.properties.sort(key=lambda e: e.start)


def consume_properties(ex: Extraction) -> None:
    """Blank every property span (after the quantity rules have read around them)."""
    for entity in ex.properties:
        ex.consume(entity.start, entity.end)
