"""``chemagent cache stats|clear|warm`` through typer's CliRunner.

Against a server: the app served by uvicorn on a loopback port in a thread of this
process, with an admin token. ``--local``: a library loaded here, writing to a real
redis-server, checked by an app that reads the same Redis.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chemagent.api.state import AppState
from chemagent.app import create_app
from chemagent.cli import app
from chemagent.cli_support import cache as support
from chemagent.settings import Settings
from tests.redis_server import RedisServer
from tests.service.conftest import offline_settings

TOKEN = "cli-t0ken-for-tests"
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, AppState]]:
    """The app with an admin token, on a real socket: (base URL, its state)."""
    port = free_port()
    served = uvicorn.Server(
        uvicorn.Config(
            create_app(offline_settings(admin_token=TOKEN, access_log=False)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert served.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", served.lifespan.state["chemagent"]
    finally:
        served.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def url(server: tuple[str, AppState]) -> str:
    return server[0]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CHEMAGENT_* from the shell; loopback calls bypass any proxy."""
    for name in list(os.environ):
        if name.startswith("CHEMAGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # The server's lifespan sent this process's INFO logs to stderr; the command run alone
    # has no log handler, so httpx's request lines would not be on its stderr.
    monkeypatch.setattr(logging.getLogger("httpx"), "level", logging.WARNING)


def cache(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["cache", *args], env=env)


def words(text: str) -> str:
    """Rich wraps at the terminal width; compare sentences with whitespace collapsed."""
    return " ".join(text.split())


def server_stats(url: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, trust_env=False) as http:
        body: dict[str, Any] = http.get("/v1/cache/stats").json()
        return body


# --- stats -----------------------------------------------------------------------------


def test_stats_prints_the_tiers(url: str) -> None:
    result = cache("stats", "--url", url)
    assert result.exit_code == 0, result.output
    out = words(result.stdout)
    assert out.startswith("namespace chemagent:v1:")
    assert "; Redis disabled" in out
    for shown in ("L1: this worker", "hit ratio", "│ L1 │", "│ L2 │", "computes", "in flight"):
        assert shown in out


def test_stats_json_is_the_response_body(url: str) -> None:
    result = cache("stats", "--url", url, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["namespace"]["prefix"] == server_stats(url)["namespace"]["prefix"]
    assert {"l1", "l2", "counters", "policy", "warm"} <= set(body)


def test_unreachable_server_exits_3() -> None:
    result = cache("stats", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert words(result.stderr).startswith("server_unreachable: cannot connect to http://127.0.0")


# --- clear -------------------------------------------------------------------------------


def test_clear_all_with_the_token_from_the_environment(url: str) -> None:
    cache("warm", "CHEMBL25", "--url", url, "--token", TOKEN)
    assert server_stats(url)["l1"]["entries"] > 0
    result = cache("clear", "--all", "--url", url, env={"CHEMAGENT_ADMIN_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert words(result.stdout).startswith("removed ")
    assert "(all); Redis disabled." in words(result.stdout)
    assert server_stats(url)["l1"]["entries"] == 0


def test_clear_kind_json(url: str) -> None:
    result = cache("clear", "--kind", "properties", "--url", url, "--token", TOKEN, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["scope"], body["target"]) == ("kind", "properties")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--all"], "no_token: this needs the server's admin token: pass --token or set"),
        (["--all", "--token", "wrong"], "unauthorized: The bearer token is not this server's"),
        (["--kind", "nope", "--token", TOKEN], "invalid_input: 'nope' is not a step kind"),
    ],
    ids=["no-token", "wrong-token", "unknown-kind"],
)
def test_clear_caller_errors_exit_2(url: str, args: list[str], said: str) -> None:
    result = cache("clear", *args, "--url", url)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert words(result.stderr).startswith(said)
    assert "wrong" not in result.stderr  # the token sent is never echoed


def test_clear_needs_exactly_one_scope(url: str) -> None:
    for args in ([], ["--all", "--kind", "properties"]):
        result = cache("clear", *args, "--url", url, "--token", TOKEN)
        assert result.exit_code == 2
        assert "exactly one of --all, --kind KIND or --key KEY" in words(result.output)


def test_admin_token_is_not_shown_in_help() -> None:
    result = cache("clear", "--help", env={"CHEMAGENT_ADMIN_TOKEN": TOKEN})
    assert result.exit_code == 0
    assert "CHEMAGENT_ADMIN_TOKEN" in result.stdout
    assert TOKEN not in result.stdout


# --- warm --------------------------------------------------------------------------------


def test_warm_files_and_items_then_everything_is_cached(url: str, tmp_path: Path) -> None:
    listed = tmp_path / "items.txt"
    listed.write_text("# ids\nCHEMBL112\nCHEMBL521\n", encoding="utf-8")
    as_json = tmp_path / "more.json"
    as_json.write_text('["CCCCCCCCCCCCCCO", "CHEMBL112"]', encoding="utf-8")
    args = [str(listed), str(as_json), "LogP of naproxen", "--url", url, "--token", TOKEN]

    first = cache("warm", *args)
    assert first.exit_code == 0, first.output
    assert words(first.stdout).startswith("4/4 items warmed, 0 failed;")
    assert first.stderr == ""

    again = cache("warm", *args, "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert (report["items"], report["ok"], report["steps_computed"]) == (4, 4, 0)
    assert report["steps_cached"] >= 4


def test_warm_sends_chunks_and_sums_their_reports(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(support, "CHUNK", 2)
    items = ["CHEMBL25", "CHEMBL521", "CHEMBL112", "C1CC", "CHEMBL1000"]
    result = cache("warm", *items, "--url", url, "--token", TOKEN, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["items"], report["ok"], report["failed"]) == (5, 4, 1)
    assert [e["item"] for e in report["errors"]] == ["C1CC"]
    assert server_stats(url)["warm"]["items"] == 1  # the server's last call: one item


def test_failed_items_are_listed_and_strict_exits_2(url: str) -> None:
    args = ["CHEMBL25", "C1CC", "--url", url, "--token", TOKEN]
    lenient = cache("warm", *args)
    assert lenient.exit_code == 0, lenient.output
    assert words(lenient.stdout).startswith("1/2 items warmed, 1 failed;")
    assert "C1CC: invalid_molecule The SMILES 'C1CC' could not be parsed" in words(lenient.stderr)
    strict = cache("warm", *args, "--strict")
    assert strict.exit_code == 2
    assert "1 failed" in strict.stdout


def test_warm_caller_errors_exit_2(url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = cache("warm", str(bad), "--url", url, "--token", TOKEN)
    assert result.exit_code == 2
    assert f"invalid_input: The warm file {bad} must hold a JSON list of strings" in words(
        result.stderr
    )

    no_token = cache("warm", "CHEMBL25", "--url", url)
    assert no_token.exit_code == 2
    assert "no_token" in no_token.stderr

    both = cache("warm", "CHEMBL25", "--url", url, "--local")
    assert both.exit_code == 2
    assert "--local computes in this process: leave out --url" in words(both.output)


def test_warm_against_an_unreachable_server_exits_3() -> None:
    result = cache("warm", "CHEMBL25", "--url", f"http://127.0.0.1:{free_port()}", "--token", "x")
    assert result.exit_code == 3
    assert "server_unreachable" in result.stderr


# --- warm --local ------------------------------------------------------------------------


def test_local_warm_needs_redis() -> None:
    result = cache("warm", "CHEMBL25", "--local")
    assert result.exit_code == 2
    assert words(result.stderr).startswith("no_redis: --local fills the shared Redis cache")


def test_local_warm_fills_redis_for_every_pod(redis_server: RedisServer) -> None:
    query = "Find compounds similar to naproxen"
    result = cache(
        "warm", "CHEMBL25", "CCCCCCCCCCCCCCCO", query, "--local", "--json",
        env={"CHEMAGENT_REDIS_URL": redis_server.url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["source"], report["ok"], report["failed"]) == ("cli", 3, 0)
    assert report["steps_computed"] >= 4

    settings = Settings(library=None, chembl_url=None, redis_url=redis_server.url)
    with TestClient(create_app(settings)) as pod:
        response = pod.post("/v1/query", json={"query": query, "verbose": True})
        assert response.status_code == 200, response.text
        assert {s["kind"]: s["cache"] for s in response.json()["steps"]} == {
            "resolve": "l2",
            "similar": "l2",
        }
        before = pod.get("/v1/cache/stats").json()
        assert pod.post("/v1/properties", json={"smiles": "CCCCCCCCCCCCCCCO"}).status_code == 200
        after = pod.get("/v1/cache/stats").json()
        assert after["l2"]["hits"] == before["l2"]["hits"] + 2  # parse and properties


def test_local_warm_with_redis_down_exits_3(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    result = cache("warm", "CCCCCCCCCCCCCCCCO", "--local", env={"CHEMAGENT_REDIS_URL": down})
    assert result.exit_code == 3
    # The cache's own warning about Redis comes first (a log line), then the error.
    assert "redis_unavailable: Redis was degraded during the warm" in words(result.stderr)
