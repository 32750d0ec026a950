"""scripts/smoke_test.sh passes against a live service and fails, saying why, against
broken ones; scripts/load_test.sh drives a live service for 2 s and reports.

The live service is a real ``chemagent serve --workers 2`` (gunicorn, metrics summed over
workers: the production shape), started once for the module with the integration tier's
helpers. The broken ones are a small HTTP server in this process that answers like the
service except for one fault per test; its healthy form passes, so each failure is that
fault's.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    HOST,
    ServerProcess,
    clean_env,
    free_port,
    start_server,
)

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke_test.sh"
LOAD = REPO / "scripts" / "load_test.sh"
CHECKS = ("healthz", "readyz", "version", "lookup", "query", "metrics")


def run(script: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run a script to completion; returns the CompletedProcess (text)."""
    return subprocess.run(
        ["bash", str(script), *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def verdicts(stdout: str) -> dict[str, str]:
    """{check: "PASS ..." or "FAIL ..."} from the smoke test's output."""
    found = {}
    for line in stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in ("PASS", "FAIL"):
            found[rest.split(":", 1)[0]] = line
    return found


# --- against the real service ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``chemagent serve --workers 2`` on a free port, for every test of the module."""
    logs = tmp_path_factory.mktemp("smoke-server")
    server = start_server(logs, {"CHEMAGENT_LOG_LEVEL": "WARNING"}, ["--workers", "2"])
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
@pytest.mark.parametrize("json_tool", ["auto", "python3"])
def test_passes_against_the_live_service(live: ServerProcess, json_tool: str) -> None:
    result = run(SMOKE, live.url, env={"SMOKE_JSON_TOOL": json_tool})
    assert result.returncode == 0, result.stdout + result.stderr
    found = verdicts(result.stdout)
    assert set(found) == set(CHECKS)
    assert all(line.startswith("PASS") for line in found.values()), result.stdout
    assert "CHEMBL25 is ASPIRIN" in found["lookup"]
    assert "smoke_test: 6 passed, 0 failed" in result.stdout


@pytest.mark.integration
def test_load_test_runs_two_seconds_and_reports(live: ServerProcess) -> None:
    started = time.monotonic()
    result = run(LOAD, live.url, "2", "4", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("load_test_json: "))
    summary = json.loads(line.removeprefix("load_test_json: "))
    assert summary["requests"] > 0
    assert summary["errors"] == 0
    assert summary["statuses"] == {"200": summary["requests"]}
    assert summary["lookups"] > 0
    assert summary["queries"] > 0
    assert 1.5 < summary["seconds"] < 5
    assert elapsed < 30  # it stopped by itself
    assert "load_test: " in result.stdout
    assert "req/s" in result.stdout


def test_load_test_refuses_bad_arguments_and_a_dead_url() -> None:
    usage = run(LOAD)
    assert usage.returncode == 2
    assert "load_test.sh URL [DURATION] [CONNECTIONS]" in usage.stderr
    assert run(LOAD, "http://127.0.0.1:8000", "soon").returncode == 2
    dead = run(LOAD, f"http://{HOST}:{free_port()}", "1")
    assert dead.returncode == 1
    assert "does not answer" in dead.stderr


# --- against broken services --------------------------------------------------------------

METRICS = """\
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/healthz",status="200"} 3.0
http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",status="200"} 3.0
http_requests_in_flight 1.0
chemagent_step_duration_seconds_count{cache="miss",outcome="ok",step="resolve"} 2.0
chemagent_queries_total{intent="compare",status="ok"} 1.0
chemagent_query_duration_seconds_sum{intent="compare"} 0.01
chemagent_build_info{commit="abc1234",rdkit="2026.09.1",version="0.1.0"} 1.0
"""

# path -> (status, content type, body): what a healthy service answers.
HEALTHY: dict[str, tuple[Any, ...]] = {
    "/healthz": (200, "application/json", '{"status": "ok"}'),
    "/readyz": (
        200,
        "application/json",
        '{"status": "ready", "library": {"name": "fake", "size": 3}, "redis": "ok",'
        ' "chembl": "disabled"}',
    ),
    "/version": (200, "application/json", '{"version": "0.1.0", "commit": "abc1234"}'),
    "/v1/compounds/CHEMBL25": (
        200,
        "application/json",
        '{"chembl_id": "CHEMBL25", "pref_name": "ASPIRIN",'
        ' "molecule_structures": {"canonical_smiles": "CC(=O)Oc1ccccc1C(=O)O"}}',
    ),
    "/v1/query": (
        200,
        "application/json",
        '{"status": "ok", "intent": {"kind": "compare"},'
        ' "answer": "Ibuprofen (CHEMBL521) has the higher ALogP: 3.07 vs 1.31."}',
    ),
    "/metrics": (200, "text/plain; version=0.0.4", METRICS),
}


Route = tuple[Any, ...]  # (status, content type, body[, delay in seconds])


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow answer never holds the test up at teardown

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__((HOST, 0), FakeService)
        self.routes = routes

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: expected here


class FakeService(BaseHTTPRequestHandler):
    """Answers from ``self.server.routes``."""

    server: FakeServer

    def _answer(self) -> None:
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, content_type, body, *delay = self.server.routes.get(
            self.path, (404, "application/json", '{"error": "not_found"}')
        )
        if delay:
            time.sleep(delay[0])
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


FakeFn = Callable[..., str]


@pytest.fixture
def fake() -> Iterator[FakeFn]:
    """``fake({path: route})`` starts a healthy fake with these routes changed; its URL."""
    servers: list[FakeServer] = []

    def start(changes: dict[str, Route] | None = None) -> str:
        server = FakeServer({**HEALTHY, **(changes or {})})
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://{HOST}:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("json_tool", ["auto", "python3"])
def test_healthy_fake_passes(fake: FakeFn, json_tool: str) -> None:
    result = run(SMOKE, fake(), env={"SMOKE_JSON_TOOL": json_tool})
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(verdicts(result.stdout)) == list(CHECKS)


def fails(result: subprocess.CompletedProcess[str], check: str, *words: str) -> None:
    """The run failed, and the line of ``check`` is a FAIL containing every word."""
    assert result.returncode == 1, result.stdout + result.stderr
    line = verdicts(result.stdout)[check]
    assert line.startswith("FAIL"), result.stdout
    for word in words:
        assert word in line, line


def test_every_check_fails_on_http_500(fake: FakeFn) -> None:
    error = (500, "text/plain", "Internal Server Error")
    url = fake(dict.fromkeys(HEALTHY, error))
    result = run(SMOKE, url, env={"SMOKE_METRICS_ATTEMPTS": "1"})
    for check in CHECKS:
        fails(result, check, "HTTP 500, want 200")
    assert "smoke_test: 0 passed, 6 failed" in result.stdout


def test_draining_pod_fails_readiness(fake: FakeFn) -> None:
    body = '{"status": "draining", "library": {"name": "fake", "size": 3}}'
    result = run(SMOKE, fake({"/readyz": (503, "application/json", body)}))
    fails(result, "readyz", "HTTP 503", "draining")
    assert verdicts(result.stdout)["healthz"].startswith("PASS")


def test_missing_metric_families_fail(fake: FakeFn) -> None:
    text = "".join(
        line + "\n"
        for line in METRICS.splitlines()
        if not line.startswith(("chemagent_step_duration", "chemagent_queries_total"))
    )
    url = fake({"/metrics": (200, "text/plain", text)})
    started = time.monotonic()
    result = run(SMOKE, url, env={"SMOKE_METRICS_ATTEMPTS": "2"})
    fails(result, "metrics", "chemagent_step_duration_seconds chemagent_queries_total")
    assert time.monotonic() - started > 1  # retried once, a second later


def test_build_info_of_another_version_fails(fake: FakeFn) -> None:
    url = fake({"/metrics": (200, "text/plain", METRICS.replace('"0.1.0"', '"9.9.9"'))})
    fails(run(SMOKE, url), "metrics", "does not say version 0.1.0")


def test_wrong_lookup_and_failed_query_fail(fake: FakeFn) -> None:
    html = (200, "text/html", "<html>login</html>")  # e.g. an auth proxy's page
    failed = (200, "application/json", '{"status": "failed", "answer": "Could not ..."}')
    result = run(SMOKE, fake({"/v1/compounds/CHEMBL25": html, "/v1/query": failed}))
    fails(result, "lookup", "chembl_id ''")
    fails(result, "query", "status 'failed'")


def test_slow_answer_times_out(fake: FakeFn) -> None:
    slow = (*HEALTHY["/readyz"], 3.0)
    started = time.monotonic()
    result = run(SMOKE, fake({"/readyz": slow}), env={"SMOKE_TIMEOUT": "1"})
    fails(result, "readyz", "no HTTP answer", "timed out")
    assert time.monotonic() - started < 10


def test_unreachable_url_fails_every_check_at_once() -> None:
    started = time.monotonic()
    result = run(SMOKE, f"http://{HOST}:{free_port()}")
    fails(result, "healthz", "no HTTP answer", "onnect")  # curl: Failed to connect
    for check in CHECKS[1:]:
        fails(result, check, "unreachable")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("args", [(), ("-h",), ("http://a", "http://b")])
def test_usage_without_one_url(args: tuple[str, ...]) -> None:
    result = run(SMOKE, *args)
    assert result.returncode == 2
    assert "smoke_test.sh URL" in result.stderr
    assert "PASS" not in result.stdout
    assert "FAIL" not in result.stdout
