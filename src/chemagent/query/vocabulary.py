"""The words the parser knows: property synonyms, named groups, comparison and direction words.

Every table is a registry (``pattern -> value``) compiled once at import into one
alternation, so adding a synonym is one row and never a new branch in the parser. Patterns
are regular-expression fragments matched case-insensitively on word boundaries; inside a
table the first row that matches at a position wins, so specific rows come before general
ones ("monoisotopic mass" before "mass").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Panel field names (chemagent.chem.properties; not imported: query/ stays RDKit-free).
PROPERTY_SYNONYMS: tuple[tuple[str, str], ...] = (
    (r"how\s+(?:heavy|big|large)", "mw_freebase"),
    (r"how\s+lipophilic", "alogp"),
    (r"how\s+polar", "psa"),
    (r"how\s+flexible", "rtb"),
    (r"how\s+drug[-\s]?like", "qed_weighted"),
    (r"monoisotopic\s+(?:mass|weight|mw)|exact\s+mass", "mw_monoisotopic"),
    (r"full\s+(?:molecular\s+)?(?:weight|mwt|mw)|salt\s+(?:form\s+)?weight", "full_mwt"),
    (r"(?:molecular\s+)?formula(?:e|s)?|molformula", "full_molformula"),
    (
        r"number\s+of\s+lipinski\s+violations|lipinski(?:'s)?(?:\s+rule(?:\s+of\s+(?:5|five))?)?"
        r"(?:\s+violations?)?|ro5(?:\s+violations?)?|rule[-\s]+of[-\s]+(?:5|five)"
        r"(?:\s+violations?)?",
        "num_ro5_violations",
    ),
    (r"rule[-\s]+of[-\s]+(?:3|three)|ro3", "ro3_pass"),
    (r"topological\s+polar\s+surface\s+area|polar\s+surface\s+area|t?psa|surface\s+area", "psa"),
    (r"(?:a|c|x)?log\s?p|partition\s+coefficient|lipophilicity", "alogp"),
    (
        r"molecular\s+(?:weights?|mass(?:es)?)|mol(?:ecular)?\.?\s*wt|m\.?w\.?|weights?|mass(?:es)?",
        "mw_freebase",
    ),
    (r"(?:hydrogen|h)[-\s]?bond\s+donors?|hbd|h[-\s]donors?|donors?", "hbd"),
    (r"(?:hydrogen|h)[-\s]?bond\s+acceptors?|hba|h[-\s]acceptors?|acceptors?", "hba"),
    (r"rotatable\s+bonds?|rot(?:\.|atable)?\s*bonds?|n?rotb|rtb|flexibility", "rtb"),
    (r"aromatic\s+rings?", "aromatic_rings"),
    (r"aliphatic\s+rings?", "aliphatic_rings"),
    (r"heavy[-\s]+atoms?(?:\s+count)?|hac", "heavy_atoms"),
    (r"fraction\s+(?:of\s+)?c?sp3(?:\s+carbons)?|c?sp3\s+fraction|f\.?sp3", "fraction_csp3"),
    (r"qed(?:\s+score)?|drug[-\s]?likeness|drug[-\s]?like(?:ness)?\s+score", "qed_weighted"),
    (r"(?:number\s+of\s+|total\s+)?rings?(?:\s+count)?", "num_rings"),
)
"""Property synonyms -> ChEMBL panel field names."""

ADJECTIVES: tuple[tuple[str, str, str | None], ...] = (
    (r"(?:more|less|most|least)\s+lipophilic", "alogp", None),
    (r"(?:more|less|most|least)\s+polar", "psa", None),
    (r"(?:more|less|most|least)\s+flexible", "rtb", None),
    (r"(?:more|less|most|least)\s+drug[-\s]?like", "qed_weighted", None),
    (r"heavier|heaviest", "mw_freebase", "max"),
    (r"lighter|lightest", "mw_freebase", "min"),
)
"""Comparative adjectives that name a property (and sometimes the direction)."""

GROUPS: tuple[tuple[str, str], ...] = (
    (r"sulfonamides?|sulphonamides?", "S(=O)(=O)N"),
    (r"carboxylic\s+acids?|carboxyl(?:ic)?(?:\s+groups?)?|carboxylates?", "C(=O)[OH]"),
    (r"benzene(?:\s+rings?)?|phenyl(?:\s+rings?|\s+groups?)?", "c1ccccc1"),
    (r"phenols?|phenolic\s+(?:oh|hydroxyl)", "c[OX2H]"),
    (r"primary\s+amines?", "[NX3;H2][CX4]"),
    (r"amines?|amino\s+groups?", "[NX3;!$(N-C=[O,S,N]);!$(N-[a])]"),
    (r"amides?", "C(=O)N"),
    (r"esters?", "[#6]C(=O)O[#6]"),
    (r"ketones?", "[#6][CX3](=O)[#6]"),
    (r"aldehydes?", "[CX3H1](=O)[#6]"),
    (r"nitro(?:\s+groups?)?", "[N+](=O)[O-]"),
    (r"nitriles?|cyano(?:\s+groups?)?", "C#N"),
    (r"halogens?|halides?", "[F,Cl,Br,I]"),
    (r"fluorine(?:\s+atoms?)?", "F"),
    (r"chlorine(?:\s+atoms?)?", "Cl"),
    (r"alcohols?|hydroxyl(?:\s+groups?)?", "[CX4][OX2H]"),
    (r"thiols?", "[SX2H]"),
    (r"ethers?", "[OD2]([#6])[#6]"),
    (r"ureas?", "[NX3]C(=O)[NX3]"),
    (r"sulfones?", "[#6]S(=O)(=O)[#6]"),
    (r"pyridines?", "c1ccncc1"),
    (r"pyrimidines?", "c1cncnc1"),
    (r"indoles?", "c1ccc2[nH]ccc2c1"),
    (r"imidazoles?", "c1cnc[nH]1"),
    (r"thiophenes?", "c1ccsc1"),
    (r"furans?", "c1ccoc1"),
    (r"piperazines?", "C1CNCCN1"),
    (r"piperidines?", "C1CCNCC1"),
    (r"morpholines?", "C1COCCN1"),
    (r"tetrazoles?", "c1nnn[nH]1"),
    (r"beta[-\s]lactams?|β-lactams?", "O=C1CCN1"),
    (r"phosphates?", "P(=O)(O)O"),
)
"""Named functional groups -> SMARTS (the substructure step validates them)."""

COMPARATORS: tuple[tuple[str, str], ...] = (
    (
        r"<=|=<|≤|less\s+than\s+or\s+equal\s+to|at\s+most|no\s+more\s+than|not\s+more\s+than"
        r"|up\s+to|no\s+greater\s+than|no\s+higher\s+than|not\s+exceeding|max(?:imum)?(?:\s+of)?",
        "<=",
    ),
    (
        r">=|=>|≥|greater\s+than\s+or\s+equal\s+to|at\s+least|no\s+less\s+than|not\s+less\s+than"
        r"|no\s+fewer\s+than|min(?:imum)?(?:\s+of)?",
        ">=",
    ),
    (r"!=|≠|not\s+equal\s+to|other\s+than", "!="),
    (
        r"<|less\s+than|lower\s+than|smaller\s+than|fewer\s+than|under|below|beneath"
        r"|lighter\s+than",
        "<",
    ),
    (
        r">|more\s+than|greater\s+than|higher\s+than|larger\s+than|bigger\s+than|above|over"
        r"|exceeding|exceeds?|heavier\s+than",
        ">",
    ),
    (r"==|=|equal\s+to|equals|exactly|of\s+exactly", "=="),
)
"""Comparison phrases -> filter operators (those of ``library.FILTER_OPERATORS``)."""

TRAILING_COMPARATORS: tuple[tuple[str, str], ...] = (
    (r"or\s+(?:less|fewer|lower|below|under|smaller)", "<="),
    (r"or\s+(?:more|greater|higher|above|over|larger)", ">="),
)
"""Comparisons written after the number ("300 or less")."""

DIRECTIONS: tuple[tuple[str, str], ...] = (
    (
        r"highest|higher|greatest|greater|largest|larger|biggest|bigger|most|more|maximum"
        r"|max|heaviest|heavier|descending|decreasing|best",
        "max",
    ),
    (
        r"lowest|lower|smallest|smaller|least|less|fewest|fewer|minimum|min|lightest|lighter"
        r"|ascending|increasing|worst",
        "min",
    ),
)
"""Direction words -> ``max`` / ``min`` for comparisons and ranking."""

NUMBER_WORDS: dict[str, int] = {
    word: n
    for n, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
} | {"fifteen": 15, "twenty": 20, "fifty": 50, "hundred": 100}
"""Spelled-out counts for "the five most similar"."""

UNITS: tuple[tuple[str, float], ...] = (
    (r"kda|kg/mol", 1000.0),
    (r"da|dalton?s?|g/mol|g\s+mol-1|amu", 1.0),
    (r"å²|å\^?2|a\^?2|angstroms?\s*(?:squared|\^?2)?|sq\.?\s*å", 1.0),
)
"""Units accepted after a number, with the factor to the panel's unit."""


def compile_table(
    rows: Sequence[tuple[Any, ...]],
) -> re.Pattern[str]:
    """Compile a registry table into one alternation with one named group per row.

    Args:
        rows: ``(pattern, ...)`` rows; the group of row ``i`` is named ``r{i}``.

    Returns:
        A case-insensitive pattern bounded so that a row never matches inside a word.
    """
    body = "|".join(f"(?P<r{i}>{row[0]})" for i, row in enumerate(rows))
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


def row_index(match: re.Match[str]) -> int:
    """The table row that matched, from a pattern made by :func:`compile_table`."""
    assert match.lastgroup is not None
    return int(match.lastgroup[1:])


PROPERTY_RE = compile_table(PROPERTY_SYNONYMS)
ADJECTIVE_RE = compile_table(ADJECTIVES)
# "a morpholine ring", "a nitro group": the noun after a group's name belongs to it.
GROUP_RE = compile_table(
    [
        (rf"(?:{p})(?:\s+(?:rings?|groups?|moiet(?:y|ies)|substituents?|motifs?))?", s)
        for p, s in GROUPS
    ]
)
DIRECTION_RE = compile_table(DIRECTIONS)
# Symbols are not words, so the comparator table is bounded by hand: a symbol may touch
# its neighbours ("MW<500"), a word may not.
COMPARATOR_RE = re.compile(
    "(?:" + "|".join(f"(?P<r{i}>{row[0]})" for i, row in enumerate(COMPARATORS)) + ")(?![a-z])",
    re.IGNORECASE,
)


def list_properties() -> list[str]:
    """The panel fields the parser can name, in table order (for help texts).

    Returns:
        Field names without duplicates.
    """
    return list(dict.fromkeys(field for _, field in PROPERTY_SYNONYMS))


def list_groups() -> list[str]:
    """The first name of each named functional group (for help texts).

    Returns:
        Group names such as ``sulfonamide``.
    """
    return [re.split(r"[?|(\\]", pattern)[0].rstrip("s") or pattern for pattern, _ in GROUPS]
