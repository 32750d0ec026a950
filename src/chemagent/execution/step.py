"""A step: ``(kind, canonical input, params)``, the unit of work, caching and observation."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class Step:
    """One unit of work. Build with :meth:`of` so params are sorted and hashable.

    Attributes:
        kind: a registered step kind name.
        input: the canonical input (an ID, a canonical SMILES, a query string).
        params: sorted ``(name, value)`` pairs; JSON-serializable values only.
    """

    kind: str
    input: str
    params: tuple[tuple[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, kind: str, input: str, **params: Any) -> Step:
        """A step with ``None`` params dropped and the rest sorted by name."""
        return cls(kind, input, tuple(sorted((k, v) for k, v in params.items() if v is not None)))

    @property
    def param_map(self) -> Mapping[str, Any]:
        return dict(self.params)

    def digest(self) -> str:
        """A stable hash of input and params: the variable part of a cache key."""
        payload = orjson.dumps([self.input, self.params])
        return hashlib.blake2b(payload, digest_size=16).hexdigest()
