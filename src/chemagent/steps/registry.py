"""The step registry: ``name -> StepKind`` instead of if/elif chains.

A step is ``(kind, canonical input, params) -> JSON-ready result``. The kind's version is
part of the cache key: bump it when the result of a kind changes for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chemagent.steps.context import StepContext

StepFn = Callable[[StepContext, str, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class StepKind:
    """A registered kind of step.

    Attributes:
        name: the kind's stable name (``properties``, ``similarity``, ...).
        version: bumped when results change; part of cache keys.
        fn: ``fn(ctx, input, params) -> result``; runs in the CPU executor.
        description: one line for docs and ``list_step_kinds()``.
        timeout_seconds: a per-kind deadline overriding the default step timeout.
    """

    name: str
    version: int
    fn: StepFn
    description: str
    timeout_seconds: float | None = None


_REGISTRY: dict[str, StepKind] = {}


def register(
    name: str, *, version: int, description: str, timeout_seconds: float | None = None
) -> Callable[[StepFn], StepFn]:
    """Decorator: register ``fn`` as the step kind ``name``."""

    def decorate(fn: StepFn) -> StepFn:
        if name in _REGISTRY:
            raise ValueError(f"step kind {name!r} is registered twice")
        _REGISTRY[name] = StepKind(name, version, fn, description, timeout_seconds)
        return fn

    return decorate


def get_kind(name: str) -> StepKind:
    """The registered kind ``name``; KeyError names the known kinds."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown step kind {name!r}; known: {sorted(_REGISTRY)}") from None


def list_step_kinds() -> list[StepKind]:
    """Every registered kind, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
