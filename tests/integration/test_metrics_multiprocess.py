"""``/metrics`` under gunicorn: every scrape reports the sum over all workers.

``chemagent serve --workers 2`` runs gunicorn with two uvicorn workers; the kernel hands
each new connection to either. Whichever worker answers a scrape, the counts must be the
pod's, a killed worker's counters must survive it while its live gauges go, and a restart
must start from zero.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.integration.cache_support import metric, wait_for
from tests.integration.conftest import ServeFn, ServerProcess

pytestmark = pytest.mark.integration

ROUTE = "/v1/compounds/{chembl_id}"
ENV = {"CHEMAGENT_MAX_WORKERS": "2", "CHEMAGENT_LOG_FORMAT": "json"}


def scrape(server: ServerProcess) -> str:
    # A new connection per scrape, so scrapes land on both workers.
    with server.client(timeout=10) as http:
        response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def worker_pids(text: str) -> set[str]:
    return {
        line.split('pid="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("process_start_time_seconds{") and 'role="worker"' in line
    }


def start_two_workers(serve: ServeFn, env: dict[str, str] | None = None) -> ServerProcess:
    server = serve(args=["--workers", "2"], env={**ENV, **(env or {})})
    # /readyz answered once one worker was up; the other may still be loading its library.
    wait_for(lambda: len(worker_pids(scrape(server))) == 2, 30, "both workers up")
    return server


def served_by(server: ServerProcess, path: str) -> set[int]:
    """Pids of the workers whose access log shows a request for ``path``."""
    pids = set()
    for line in server.stderr().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "chemagent.access" and entry.get("path") == path:
                pids.add(entry["pid"])
    return pids


def test_every_scrape_counts_the_requests_of_all_workers(serve: ServeFn) -> None:
    server = start_two_workers(serve)
    sent = 60
    for _ in range(sent):
        with server.client(timeout=10) as http:
            assert http.get("/v1/compounds/CHEMBL25").status_code == 200
    assert len(served_by(server, "/v1/compounds/CHEMBL25")) == 2, "one worker served all"

    counts = []
    for _ in range(12):
        text = scrape(server)
        counts.append(metric(text, "http_requests_total", route=ROUTE, status="200"))
        assert metric(text, "http_request_duration_seconds_count", route=ROUTE) == sent
        assert metric(text, "chemagent_step_duration_seconds_count", step="compound") == sent
    assert counts == [sent] * len(counts)
    assert len(served_by(server, "/metrics")) == 2, "every scrape was answered by one worker"

    text = scrape(server)
    # Only this scrape is in flight, whichever worker answers it (livesum over workers).
    assert metric(text, "http_requests_in_flight") == 1
    build = [line for line in text.splitlines() if line.startswith("chemagent_build_info{")]
    assert len(build) == 1, build  # max over workers, not one series per worker
    assert build[0].endswith(" 1.0")
    roles = {
        line.split('role="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("process_resident_memory_bytes{")
    }
    assert roles == {"master", "worker"}
    assert metric(text, "process_resident_memory_bytes", role="worker") > 50e6


def test_a_dead_workers_counts_stay_and_its_gauges_go(serve: ServeFn, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    server = start_two_workers(serve, {"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    for _ in range(20):
        with server.client(timeout=10) as http:
            assert http.get("/v1/compounds/CHEMBL25").status_code == 200
    before = worker_pids(scrape(server))
    victim = int(sorted(before)[0])
    assert (directory / f"gauge_livesum_{victim}.db").exists()  # in-flight, L1 size
    os.kill(victim, signal.SIGKILL)

    # gunicorn replaces the worker; its counters stay, its live gauges are dropped.
    def replaced() -> bool:
        pids = worker_pids(scrape(server))
        return len(pids) == 2 and str(victim) not in pids

    wait_for(replaced, 30, "the killed worker replaced")
    # gunicorn's child_exit hook marked it dead: its live gauges no longer count.
    assert not list(directory.glob(f"gauge_live*_{victim}.db"))
    assert list(directory.glob(f"counter_{victim}.db"))
    for _ in range(6):
        text = scrape(server)
        assert metric(text, "http_requests_total", route=ROUTE, status="200") == 20
        assert metric(text, "http_requests_in_flight") == 1


def test_a_restart_starts_the_counts_from_zero(serve: ServeFn, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    first = start_two_workers(serve, env)
    with first.client(timeout=10) as http:
        for _ in range(5):
            assert http.get("/v1/compounds/CHEMBL25").status_code == 200
    assert metric(scrape(first), "http_requests_total", route=ROUTE) == 5
    assert first.stop() == 0, first.stderr()
    assert list(directory.glob("counter_*.db")), "the workers wrote their files there"

    second = start_two_workers(serve, env)
    assert metric(scrape(second), "http_requests_total", route=ROUTE) == 0
    with httpx.Client(base_url=second.url, trust_env=False) as http:
        assert http.get("/v1/compounds/CHEMBL25").status_code == 200
    assert metric(scrape(second), "http_requests_total", route=ROUTE) == 1
