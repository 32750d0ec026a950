"""Shared fixtures of the unit tier: pure Python, no server, no network.

The bundled library (2,628 compounds, ~1 s to load) is loaded once per session and shared
read-only; tests that need a library to modify build their own in ``tmp_path``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chemagent.chem.molecule import MoleculeLimits
from chemagent.library.library import Library
from chemagent.library.load import load
from chemagent.steps.context import StepContext
from tests.unit.paths import CHEMBL_FIXTURES


@pytest.fixture
def chembl_fixture() -> Callable[[str], Any]:
    """Load a recorded ChEMBL response by file name; a missing file fails the test."""

    def read(name: str) -> Any:
        path = CHEMBL_FIXTURES / name
        if not path.is_file():
            pytest.fail(f"ChEMBL fixture {path} is missing: the panel cannot be checked")
        return json.loads(path.read_text(encoding="utf-8"))

    return read


@pytest.fixture
def cpu_pool() -> Iterator[ThreadPoolExecutor]:
    """A small CPU pool for a StepRunner, shut down after the test."""
    pool = ThreadPoolExecutor(4, thread_name_prefix="unit-cpu")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def library() -> Library:
    return load()


@pytest.fixture(scope="session")
def ctx(library: Library) -> StepContext:
    """A step context as ``app.build_state`` makes it (offline, default limits)."""
    context = StepContext(library=library, limits=MoleculeLimits(), max_results=1000)
    context.warm()
    return context
