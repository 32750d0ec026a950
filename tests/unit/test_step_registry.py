"""The step registry and the Step value (its digest is the variable part of cache keys)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from chemagent.execution.step import Step
from chemagent.steps import registry
from chemagent.steps.context import StepContext
from chemagent.steps.registry import get_kind, list_step_kinds, register


@pytest.fixture
def clean_registry() -> Iterator[None]:
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def _noop(ctx: StepContext, text: str, params: Mapping[str, Any]) -> str:
    return text


def test_register_and_get(clean_registry: None) -> None:
    register("unit_echo", version=3, description="Echo.", timeout_seconds=1.5)(_noop)
    kind = get_kind("unit_echo")
    assert (kind.name, kind.version, kind.fn, kind.description) == ("unit_echo", 3, _noop, "Echo.")
    assert kind.timeout_seconds == 1.5
    assert kind in list_step_kinds()


def test_duplicate_registration_raises(clean_registry: None) -> None:
    original = get_kind("parse")
    with pytest.raises(ValueError, match="'parse' is registered twice"):
        register("parse", version=9, description="impostor")(_noop)
    assert get_kind("parse") is original


def test_list_step_kinds_sorted(clean_registry: None) -> None:
    register("aaa_unit_first", version=1, description="-")(_noop)
    register("zzz_unit_last", version=1, description="-")(_noop)
    names = [k.name for k in list_step_kinds()]
    assert names == sorted(names)
    assert names[0] == "aaa_unit_first"
    assert names[-1] == "zzz_unit_last"


def test_unknown_kind_lists_known_kinds() -> None:
    with pytest.raises(KeyError) as info:
        get_kind("nope")
    message = str(info.value)
    assert "unknown step kind 'nope'" in message
    for name in ("compound", "parse", "similarity"):
        assert name in message


def test_step_of_drops_none_and_sorts() -> None:
    step = Step.of("similarity", "CCO", top_k=None, threshold=0.7, chirality=False)
    assert step.params == (("chirality", False), ("threshold", 0.7))
    assert step.param_map == {"chirality": False, "threshold": 0.7}
    assert Step.of("parse", "CCO").params == ()


def test_step_is_hashable_and_order_free() -> None:
    a = Step.of("similarity", "CCO", threshold=0.7, top_k=10)
    b = Step.of("similarity", "CCO", top_k=10, threshold=0.7)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_digest_stable() -> None:
    a = Step.of("similarity", "CCO", threshold=0.7, top_k=10)
    b = Step.of("similarity", "CCO", top_k=10, threshold=0.7)
    assert a.digest() == b.digest() == a.digest()
    assert len(a.digest()) == 32
    # Pinned: a change here silently invalidates every shared (L2) cache entry.
    assert Step.of("parse", "CCO", what="SMILES").digest() == PINNED_DIGEST


PINNED_DIGEST = "103bb7eeb55f73ef89f492e8ffc1bddc"


@pytest.mark.parametrize(
    "other",
    [
        Step.of("similarity", "CCO", threshold=0.8, top_k=10),
        Step.of("similarity", "CCO", threshold=0.7, top_k=11),
        Step.of("similarity", "CCO", threshold=0.7),
        Step.of("similarity", "CCN", threshold=0.7, top_k=10),
        Step.of("similarity", "CCO", threshold=0.7, top_k=10, chirality=True),
    ],
)
def test_digest_differs_when_input_or_params_differ(other: Step) -> None:
    assert Step.of("similarity", "CCO", threshold=0.7, top_k=10).digest() != other.digest()
