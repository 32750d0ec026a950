"""SIGTERM while requests are in flight: they finish; new ones are refused, never broken."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import ServeFn, client
from tests.integration.outcomes import Outcome, send

pytestmark = pytest.mark.integration

REQUESTS = 40
# A mix of cheap lookups and searches that keep the 2-thread executor busy for a while.
CALLS: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/v1/compounds/CHEMBL25", None),
    ("POST", "/v1/similarity", {"query": "CHEMBL521", "threshold": 0.2, "limit": 100}),
    ("POST", "/v1/substructure", {"smarts": "c1ccccc1", "limit": 1000}),
    ("POST", "/v1/properties", {"smiles": "CC(C)Cc1ccc(cc1)C(C)C(=O)O"}),
]


def _call(base_url: str, index: int, go: threading.Event) -> Outcome:
    method, path, body = CALLS[index % len(CALLS)]
    go.wait()
    # One connection per request: an idle keep-alive connection closed by the server at
    # shutdown is not what this test is about.
    with client(base_url, timeout=30) as http:
        return send(http, method, path, body)


def _refused(outcome: Outcome) -> bool:
    """No response at all: connection refused, or the un-accepted connection was reset."""
    return outcome.status is None and outcome.error.startswith(
        ("ConnectError", "ReadError", "RemoteProtocolError: Server disconnected without")
    )


def test_sigterm_drains_in_flight_requests(serve: ServeFn) -> None:
    server = serve(env={"CHEMAGENT_MAX_WORKERS": "2"})
    go = threading.Event()
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        futures = [pool.submit(_call, server.url, i, go) for i in range(REQUESTS)]
        go.set()
        # Let the burst reach the server and queue up, then stop it mid-burst.
        first_done = time.monotonic() + 10
        while not any(f.done() for f in futures) and time.monotonic() < first_done:
            time.sleep(0.01)
        sigterm_at = time.monotonic()
        server.terminate()
        outcomes = [f.result(timeout=60) for f in futures]
    code = server.wait(timeout=15)

    answered = [o for o in outcomes if not _refused(o)]
    assert all(o.status is not None and 200 <= o.status < 300 for o in answered), answered
    assert all(o.complete for o in answered), answered
    # Requests already accepted were served to the end after the SIGTERM: a real drain.
    assert any(o.status and o.finished_at > sigterm_at for o in outcomes), outcomes
    assert code == 0, server.stderr()
