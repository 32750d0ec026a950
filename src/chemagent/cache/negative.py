"""Negative caching: which errors may be cached as "not found", and how to rebuild them.

Errors are never cached, except "not found" (an unknown ID or name): a retry storm for
a compound that does not exist is served from the cache for the policy's negative TTL.
The cached payload is plain JSON; the error is rebuilt from it on every hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chemagent.errors import CompoundNotFound, NotFound


class NegativeErrors(Protocol):
    """Which errors are cacheable "not found"s, and how to rebuild them from a cache entry."""

    def dump(self, exc: BaseException) -> dict[str, Any] | None:
        """A JSON-like payload if ``exc`` may be cached as a negative entry, else None."""
        ...

    def load(self, payload: Mapping[str, Any]) -> BaseException:
        """The error to raise for a negative entry holding ``payload``."""
        ...


def _not_found_classes() -> dict[str, type[NotFound]]:
    found: dict[str, type[NotFound]] = {}
    pending: list[type[NotFound]] = [NotFound]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


class NotFoundErrors:
    """The default :class:`NegativeErrors`: chemagent's :class:`~chemagent.errors.NotFound`.

    The payload is ``{"code", "detail", "status"}`` plus ``suggestions`` for a
    :class:`~chemagent.errors.CompoundNotFound`; it is rebuilt as the class with that code.
    """

    def dump(self, exc: BaseException) -> dict[str, Any] | None:
        if not isinstance(exc, NotFound):
            return None
        payload: dict[str, Any] = {"code": exc.code, "detail": exc.detail, "status": exc.status}
        if isinstance(exc, CompoundNotFound):
            payload["suggestions"] = list(exc.suggestions)
        return payload

    def load(self, payload: Mapping[str, Any]) -> BaseException:
        detail = str(payload.get("detail") or "Not found.")
        cls = _not_found_classes().get(str(payload.get("code")), NotFound)
        if issubclass(cls, CompoundNotFound):
            return cls(detail, [str(s) for s in payload.get("suggestions") or []])
        return cls(detail)
