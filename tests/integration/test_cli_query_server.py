"""``chemagent query --url``: the CLI process streaming from a real ``chemagent serve``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.conftest import HOST, CliFn, ServeFn, free_port

pytestmark = pytest.mark.integration

# The CLI honours proxy variables, as curl does; the servers here are local.
LOCAL = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
# Fields that differ between two runs of the same query.
PER_RUN = ("session_id", "trace_id", "steps", "metrics")


def same_answer(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in PER_RUN}


def test_query_over_url_answers_like_post(serve: ServeFn, cli: CliFn) -> None:
    server = serve()
    lookup = cli("query", "What is CHEMBL25?", "--url", server.url, env=LOCAL)
    assert lookup.returncode == 0, lookup.stderr
    assert lookup.stdout.startswith("Aspirin (CHEMBL25) is a small molecule")
    assert lookup.stdout.count("\n") == 1
    assert lookup.stderr == ""  # not a terminal: no progress

    query = "Which has higher LogP: aspirin or ibuprofen?"
    streamed = cli("query", query, "--url", server.url, "--json", env=LOCAL)
    assert streamed.returncode == 0, streamed.stderr
    body = json.loads(streamed.stdout)
    with server.client() as http:
        posted = http.post("/v1/query", json={"query": query})
    assert posted.status_code == 200, posted.text
    expected = posted.json()
    assert body["intent"] == expected["intent"]
    assert body["result"] == expected["result"]
    assert body["result"]["best"]["chembl_id"] == "CHEMBL521"
    assert same_answer(body) == same_answer(expected)
    assert body["trace_id"]
    assert body["session_id"] != expected["session_id"]

    progress = cli("query", query, "--url", server.url, "--progress", "--verbose", env=LOCAL)
    assert progress.returncode == 0, progress.stderr
    for label in ("find aspirin", "find ibuprofen", "compare alogp"):
        assert f"✓ {label} " in progress.stderr  # step_complete events, as they arrived
    assert "parallelization ratio" in progress.stdout


def test_errors_over_url_exit_2_like_post(serve: ServeFn, cli: CliFn) -> None:
    server = serve()
    query = "What is the LogP of asprin?"
    result = cli("query", query, "--url", server.url, env=LOCAL)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("compound_not_found: 'asprin' is not a known compound")
    assert "ASPIRIN (CHEMBL25)" in result.stderr

    as_json = cli("query", query, "--url", server.url, "--json", env=LOCAL)
    assert as_json.returncode == 2
    with server.client() as http:
        posted = http.post("/v1/query", json={"query": query})
    assert posted.status_code == 404
    assert same_answer(json.loads(as_json.stdout)) == same_answer(posted.json())

    # Refused before the stream starts (a 422 response, not an event).
    ceiling = cli("query", query, "--url", server.url, "--max-workers", "256", env=LOCAL)
    assert ceiling.returncode == 2
    assert "max_workers must be between 1 and" in ceiling.stderr


def test_follow_up_with_session_id_across_invocations(serve: ServeFn, cli: CliFn) -> None:
    server = serve()
    first = cli("query", "Tell me about warfarin", "--url", server.url, "--verbose", env=LOCAL)
    assert first.returncode == 0, first.stderr
    assert "Warfarin (CHEMBL1464)" in first.stdout
    session_id = first.stderr.split("session ", 1)[1].split()[0]

    follow = cli(
        "query",
        "what's its logP?",
        "--url",
        server.url,
        "--session-id",
        session_id,
        "--json",
        env=LOCAL,
    )
    assert follow.returncode == 0, follow.stderr
    body = json.loads(follow.stdout)
    assert body["session_id"] == session_id
    assert body["intent"]["kind"] == "properties"
    assert [c["value"].lower() for c in body["intent"]["compounds"]] == ["warfarin"]
    assert "ALogP" in body["answer"]
    assert "CHEMBL1464" in body["answer"]

    # Without the session the same words refer to nothing.
    alone = cli("query", "what's its logP?", "--url", server.url, env=LOCAL)
    assert alone.returncode == 2
    assert "which compound" in alone.stderr


def test_an_unreachable_url_exits_3_naming_it(cli: CliFn) -> None:
    url = f"http://{HOST}:{free_port()}"  # nothing listens there
    result = cli("query", "What is CHEMBL25?", "--url", url, env=LOCAL, timeout=30)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1  # one line
    assert url in result.stderr
    assert "connection refused" in result.stderr.lower()

    as_json = cli("query", "What is CHEMBL25?", "--url", url, "--json", env=LOCAL, timeout=30)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["error"] == "server_unreachable"


# --- a server that fails: 5xx -> exit 3 ----------------------------------------------

FAILING_STREAM = (
    b"event: parsing\r\n"
    b'data: {"type": "parsing", "progress": 0.0, "ts": 1.0}\r\n\r\n'
    b": ping\r\n\r\n"
    b"event: error\r\n"
    b'data: {"type": "error", "progress": 0.5, "ts": 1.0, "error": "upstream_unavailable", '
    b'"detail": "ChEMBL is down.", "status": 503}\r\n\r\n'
)


class _FailingServer(BaseHTTPRequestHandler):
    """``/down``: a 503 response; ``/web``: a web page; anything else: a stream ending
    with a 503 error event."""

    def do_GET(self) -> None:
        if self.path.startswith("/down/"):
            body = b'{"error": "overloaded", "detail": "Too busy; retry in a moment."}'
            self.send_response(503)
            self.send_header("content-type", "application/json")
        elif self.path.startswith("/web/"):
            body = b"<html>data: not an event</html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
        else:
            body = FAILING_STREAM
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_url() -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), _FailingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_failing_server_exits_3(cli: CliFn, failing_url: str) -> None:
    event = cli("query", "What is CHEMBL25?", "--url", failing_url, env=LOCAL, timeout=30)
    assert event.returncode == 3
    assert event.stderr.strip() == "upstream_unavailable: ChEMBL is down."

    response = cli(
        "query",
        "What is CHEMBL25?",
        "--url",
        f"{failing_url}/down",
        "--json",
        env=LOCAL,
        timeout=30,
    )
    assert response.returncode == 3
    assert json.loads(response.stdout)["error"] == "overloaded"
    assert "Too busy" in response.stderr

    web = cli("query", "What is CHEMBL25?", "--url", f"{failing_url}/web", env=LOCAL, timeout=30)
    assert web.returncode == 3
    assert f"{failing_url}/web is not a ChemAgent server" in web.stderr
