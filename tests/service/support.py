"""Shared helpers for the service tier: the error contract and fixture locations."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[2]
CHEMBL_FIXTURES = REPO.parent / "shared" / "fixtures" / "chembl"

ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
IBUPROFEN_SMILES = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
IBUPROFEN_SODIUM = "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"
OFFLINE_HINT = "not in the bundled library of 2,628 approved drugs; set CHEMAGENT_CHEMBL_URL"


class ResponseLike(Protocol):
    """What the helpers read from a TestClient response (httpx or httpx2)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    def json(self) -> Any: ...


def assert_error(response: ResponseLike, status: int, code: str | None = None) -> dict[str, Any]:
    """Check the error contract: JSON ``{error, detail, trace_id}`` and an x-request-id.

    Returns:
        The parsed body, for further checks on ``detail``.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert {"error", "detail", "trace_id"} <= set(body), body
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["detail"], str)
    assert body["detail"].strip()
    assert response.headers.get("x-request-id"), response.headers
    trace_id = response.headers.get("x-trace-id")
    assert trace_id, response.headers
    assert body["trace_id"] == trace_id
    assert response.headers["traceparent"].split("-")[1] == trace_id
    if code is not None:
        assert body["error"] == code, body
    return body


def wait_until(check: Callable[[], object], timeout: float) -> bool:
    """Poll ``check`` every 20 ms until it is true or ``timeout`` seconds pass; its last
    answer, as a bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())
