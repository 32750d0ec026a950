"""SIGTERM while requests are in flight: they finish; new ones are refused, never broken."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.cache_support import fresh_smiles
from tests.integration.conftest import ServeFn, client
from tests.integration.outcomes import Outcome, send

pytestmark = pytest.mark.integration

REQUESTS = 40
IN_FLIGHT = 4  # requests the server is working on when it gets the SIGTERM


def _request(index: int, smiles: str) -> tuple[str, str, dict[str, object] | None]:
    """Cheap lookups and, mostly, work no cache has seen (a new molecule's property panel,
    a similarity search at a threshold of its own), to keep the 2-thread executor busy."""
    kind = index % 4
    if kind == 0:
        return "GET", "/v1/compounds/CHEMBL25", None
    if kind == 1:
        threshold = round(0.2 + index / 1000, 3)
        return "POST", "/v1/similarity", {"query": "CHEMBL521", "threshold": threshold}
    return "POST", "/v1/properties", {"smiles": smiles}


def _in_flight(base_url: str) -> float:
    """Requests the server is serving, not counting this scrape."""
    with client(base_url, timeout=5) as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith("http_requests_in_flight "):
                return float(line.split()[1]) - 1
    return 0.0


def _call(base_url: str, index: int, smiles: str, go: threading.Event) -> Outcome:
    method, path, body = _request(index, smiles)
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
    molecules = fresh_smiles()
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        futures = [pool.submit(_call, server.url, i, next(molecules), go) for i in range(REQUESTS)]
        go.set()
        # Let the burst reach the server and queue up, then stop it mid-burst: while it is
        # working on several requests (its own gauge says so), whatever the machine's load.
        give_up = time.monotonic() + 10
        while _in_flight(server.url) < IN_FLIGHT and time.monotonic() < give_up:
            time.sleep(0.005)
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
