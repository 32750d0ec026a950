"""Cache keys: everything that changes a step's answer is in its key.

::

    chemagent:v{schema}:{build}:{kind}:{kind version}:{step digest}
    └──────── prefix ─────────┘
    └─────────────── kind_prefix(kind) ──────┘

``build`` is a short hash of the RDKit version and the library's name and version, so a
new RDKit or a rebuilt library starts from an empty namespace: old entries are never
served and simply expire. ``schema`` is bumped when the key layout or the codec changes.
The digest is :meth:`chemagent.execution.step.Step.digest` (canonical input + sorted
params); it is not recomputed here. Session keys (``chemagent:session:...``) never start
with this prefix, so invalidating everything leaves sessions alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

ROOT = "chemagent"
SCHEMA = 1
"""The current key and codec schema."""


class Keyable(Protocol):
    """What a key is made of: :class:`~chemagent.execution.step.Step` satisfies it."""

    @property
    def kind(self) -> str: ...

    def digest(self) -> str: ...


@dataclass(frozen=True)
class CacheNamespace:
    """The versioned part of every key.

    Attributes:
        schema: key/codec schema number (:data:`SCHEMA`).
        rdkit_version: ``rdkit.__version__`` of this process.
        library_name: the compound library's name.
        library_version: the library's version or content hash.
    """

    schema: int
    rdkit_version: str
    library_name: str
    library_version: str

    @property
    def build(self) -> str:
        """12 hex characters identifying the RDKit and library versions."""
        text = "\0".join((self.rdkit_version, self.library_name, self.library_version))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def prefix(self) -> str:
        """The prefix of every key of this namespace (``chemagent:v1:0123abcd4567:``)."""
        return f"{ROOT}:v{self.schema}:{self.build}:"

    def kind_prefix(self, kind: str) -> str:
        """The prefix of every key of step ``kind`` (all its versions) in this namespace."""
        if not kind or ":" in kind:
            raise ValueError(f"step kind {kind!r} cannot be part of a cache key")
        return f"{self.prefix}{kind}:"

    def key_for(self, step: Keyable, step_version: int) -> str:
        """The cache key of ``step`` computed by version ``step_version`` of its kind."""
        return f"{self.kind_prefix(step.kind)}{step_version}:{step.digest()}"
