"""What a parsed query is: the contract between the parser, the planner and the formatter."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class IntentKind(StrEnum):
    """What the user asked for."""

    LOOKUP = "lookup"  # "What is CHEMBL25?", "Tell me about Tylenol"
    PROPERTIES = "properties"  # "LogP of aspirin", "Is metformin Lipinski compliant?"
    COMPARE = "compare"  # "Which has higher LogP: aspirin or ibuprofen?"
    SIMILARITY = "similarity"  # "compounds similar to ibuprofen above 0.8"
    SUBSTRUCTURE = "substructure"  # "drugs containing a sulfonamide"
    FILTER = "filter"  # "MW < 500 and LogP < 5"
    BATCH = "batch"  # "properties for CHEMBL25, CHEMBL521 and CHEMBL113"
    WORKFLOW = "workflow"  # "similar to ibuprofen, keep MW < 300, rank by QED"
    TARGETS = "targets"  # "What targets does aspirin bind to?" (needs the ChEMBL upstream)
    OUT_OF_SCOPE = "out_of_scope"  # "What is the weather today?"
    UNKNOWN = "unknown"  # gibberish, or nothing ChemAgent can act on


class EntityKind(StrEnum):
    CHEMBL_ID = "chembl_id"
    INCHIKEY = "inchikey"
    SMILES = "smiles"
    NAME = "name"  # a compound name or synonym (the resolve step decides if it exists)
    PROPERTY = "property"  # normalised to a ChEMBL panel field name
    NUMBER = "number"
    GROUP = "group"  # a named functional group, value = its SMARTS
    SMARTS = "smarts"


@dataclass(frozen=True)
class Entity:
    """A piece of the query with its normalised value and where it was found.

    Attributes:
        kind: what it is.
        text: the words as the user wrote them.
        value: the normalised value (an upper-case ID, a panel field name, a float, a SMARTS).
        start, end: character offsets in the query.
    """

    kind: EntityKind
    text: str
    value: Any
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Condition:
    """``field op value`` over the property panel, e.g. ``("mw_freebase", "<", 500.0)``."""

    field: str
    op: str  # one of <, <=, >, >=, ==, !=
    value: float


@dataclass
class Intent:
    """A parsed query.

    Attributes:
        kind: the intent.
        query: the original text.
        compounds: compound references in the order written (ID, InChIKey, SMILES or name
            entities).
        properties: panel field names asked for (empty: the whole panel).
        conditions: property filters ("keep MW < 300").
        threshold: similarity threshold in [0, 1] when given ("at least 85%" -> 0.85).
        top_k: "top 10", "the 5 most similar".
        direction: for comparisons and ranking: "max" ("higher", "most") or "min".
        rank_by: the panel field to rank by ("rank by QED").
        substructure: the SMARTS to search for.
        steps: for workflows, the ordered sub-intents ("similar", then "properties", ...).
        entities: every entity found, for the response.
        errors: what is wrong with the query in the user's terms ("threshold 1.5 is above
            1"): a query with errors is answered with them and not executed.
        confidence: 0..1, how sure the parser is (rules: 1.0 when a pattern matched fully).
        threshold_max: upper similarity bound when one is given ("between 0.7 and 0.9"
            -> threshold 0.7, threshold_max 0.9); None means no upper bound.
        source: who produced the intent: ``rules`` (the parser) or ``llm`` (the optional
            model fallback for queries the rules cannot read).
    """

    kind: IntentKind
    query: str
    compounds: list[Entity] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    threshold: float | None = None
    top_k: int | None = None
    direction: str | None = None
    rank_by: str | None = None
    substructure: str | None = None
    steps: list[Intent] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    confidence: float = 1.0
    threshold_max: float | None = None
    source: str = "rules"
