"""Step kinds: one module each, registered by name in :mod:`chemagent.steps.registry`.

Importing this package registers every built-in kind.
"""

from chemagent.steps import (  # noqa: F401 - imported for registration
    compare,
    compound,
    contains,
    depict,
    filter,
    keep,
    panels,
    parse,
    properties,
    rank,
    resolve,
    similarity,
    standardize,
    substructure,
    targets,
)
from chemagent.steps.registry import StepKind, get_kind, list_step_kinds

__all__ = ["StepKind", "get_kind", "list_step_kinds"]
