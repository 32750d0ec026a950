"""The service tier: the ASGI app in-process through ``TestClient`` (lifespan included).

Loading the bundled library takes ~1.5 s, so one default app serves the whole session;
tests that need other limits share one small-limits app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chemagent.api.state import AppState
from chemagent.app import create_app
from chemagent.settings import Settings
from tests.service.fake_llm import FakeLLM, running_fake

# Small enough that every limit can be hit with a short request.
SMALL_LIMITS: dict[str, Any] = {
    "max_batch_size": 3,
    "max_body_bytes": 2048,
    "max_smiles_length": 50,
    "max_heavy_atoms": 10,
    "max_top_k": 5,
    "max_workers": 1,
    "request_timeout_seconds": 2.5,  # the 504 test waits this long
}


def offline_settings(**overrides: Any) -> Settings:
    """Settings for the bundled library, offline, whatever CHEMAGENT_* the shell has set."""
    return Settings(library=None, chembl_url=None, redis_url=None, **overrides)


def app_state(client: TestClient) -> AppState:
    """The AppState the lifespan yielded (what ``request.state.chemagent`` reads)."""
    state: AppState = client.app_state["chemagent"]
    return state


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """The app with default settings, shared by the whole session."""
    with TestClient(create_app(offline_settings())) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def small_client() -> Iterator[TestClient]:
    """An app with tiny limits (SMALL_LIMITS), for the 4xx paths of configured limits."""
    with TestClient(create_app(offline_settings(**SMALL_LIMITS))) as test_client:
        yield test_client


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """A fake OpenAI-compatible LLM on a free port, stopped (handlers released) at teardown."""
    with running_fake() as state:
        yield state
