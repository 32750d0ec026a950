"""Answers: a parsed query, its plan and the nodes' outcomes -> readable text + JSON result.

One function per intent kind (``compose._FORMATTERS``), each returning the text and the
structured result; ``format_answer`` adds the status and the problems. Numbers carry
their units (MW in Da, TPSA in Å², logP and QED unitless, counts as counts), compounds
their names and ChEMBL IDs. Lists in the text stop at ``LIST_CAP`` items ("and N more");
the result holds them all.

Modules: ``words`` (the panel's fields and units, numbers, conditions, lists),
``records`` (a compound in words), ``outcomes`` (the answer type and reading a run),
one module per family of intent kinds (``compounds``, ``compare``, ``search``,
``workflow``), and ``compose`` (``format_answer``, ``format_rejection``).
"""

from chemagent.query.answers.compose import CAPABILITIES, format_answer, format_rejection
from chemagent.query.answers.outcomes import Answer, Formatted, OutcomeLike
from chemagent.query.answers.records import (
    compact,
    hit_text,
    key_of,
    panel_of,
    smiles_of,
    who,
)
from chemagent.query.answers.words import (
    FIELDS,
    LIST_CAP,
    SUMMARY_FIELDS,
    capped,
    condition_text,
    conditions_text,
    field_name,
    joined,
    number,
    phrase,
    value_text,
)

__all__ = [
    "CAPABILITIES",
    "FIELDS",
    "LIST_CAP",
    "SUMMARY_FIELDS",
    "Answer",
    "Formatted",
    "OutcomeLike",
    "capped",
    "compact",
    "condition_text",
    "conditions_text",
    "field_name",
    "format_answer",
    "format_rejection",
    "hit_text",
    "joined",
    "key_of",
    "number",
    "panel_of",
    "phrase",
    "smiles_of",
    "value_text",
    "who",
]
