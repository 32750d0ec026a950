"""``chemagent query`` in-process, through typer's CliRunner.

Loading the library takes ~1.5 s, so most tests share one loaded state: ``shared`` puts
it behind ``chemagent.cli.local_state`` (the command's only way to a state). One test
runs the real loader to see the state built from the settings and torn down.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from chemagent import cli
from chemagent.api.state import AppState
from chemagent.app import build_state
from chemagent.cache.sessions import MemorySessions
from chemagent.cli import app, sse_events
from chemagent.settings import Settings
from tests.service.conftest import offline_settings

runner = CliRunner()
OUT_OF_SCOPE = "ChemAgent answers questions about small molecules"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled library, offline, whatever CHEMAGENT_* the shell has set."""
    for name in list(os.environ):
        if name.startswith("CHEMAGENT_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def loaded() -> Iterator[AppState]:
    state = build_state(offline_settings())
    yield state
    state.executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def shared(loaded: AppState, monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Serve every invocation from ``loaded``; returns the settings each one asked for."""
    asked: list[Settings] = []

    @contextmanager
    def local_state(settings: Settings) -> Iterator[AppState]:
        asked.append(settings)
        yield loaded

    monkeypatch.setattr(cli, "local_state", local_state)
    return asked


def words(text: str) -> str:
    """Rich wraps at the terminal width; compare sentences with whitespace collapsed."""
    return " ".join(text.split())


def ask(*args: str) -> Any:
    return runner.invoke(app, ["query", *args])


def as_json(*args: str) -> dict[str, Any]:
    result = ask(*args, "--json")
    body: dict[str, Any] = json.loads(result.stdout)  # the whole of stdout is the JSON
    return body


@pytest.mark.usefixtures("shared")
def test_a_lookup_prints_the_answer_alone_on_stdout() -> None:
    result = ask("What is CHEMBL25?")
    assert result.exit_code == 0, result.output
    assert "Aspirin (CHEMBL25)" in result.stdout
    assert "ALogP 1.31" in result.stdout
    assert result.stdout.count("\n") == 1  # the answer, one line: nothing else on stdout
    assert result.stderr == ""  # stderr is not a terminal: no progress


@pytest.mark.usefixtures("shared")
def test_json_is_the_full_response_body() -> None:
    result = ask("Which has higher LogP: aspirin or ibuprofen?", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "ok"
    assert body["intent"]["kind"] == "compare"
    assert len(body["plan"]["nodes"]) == len(body["steps"]) == 5
    assert body["result"]["best"]["chembl_id"] == "CHEMBL521"
    assert "ibuprofen" in body["answer"].lower()
    assert body["session_id"]
    assert body["trace_id"]
    assert "metrics" not in body  # only with --verbose, as in POST /v1/query


@pytest.mark.usefixtures("shared")
def test_verbose_shows_the_plan_the_metrics_and_the_session() -> None:
    result = ask("Which has higher LogP: aspirin or ibuprofen?", "--verbose")
    assert result.exit_code == 0, result.output
    first, rest = result.stdout.split("\n", 1)
    assert "Ibuprofen (CHEMBL521)" in first
    for shown in ("find aspirin", "properties of ibuprofen", "compare alogp", " ms "):
        assert shown in rest
    for metric in ("wall", "serial", "speedup", "parallelization ratio", "max workers"):
        assert metric in rest
    assert "session " in result.stderr
    assert "--session-id" in result.stderr


@pytest.mark.usefixtures("shared")
def test_no_parallel_and_max_workers_reach_the_metrics() -> None:
    query = "Compare caffeine and aspirin"
    parallel = as_json(query, "--verbose")["metrics"]
    assert parallel["parallel"] is True
    serial = as_json(query, "--verbose", "--no-parallel")["metrics"]
    assert serial["parallel"] is False
    assert serial["max_workers"] == 1
    assert as_json(query, "--verbose", "--max-workers", "2")["metrics"]["max_workers"] == 2


@pytest.mark.usefixtures("shared")
def test_an_unknown_compound_exits_2_with_did_you_mean_on_stderr() -> None:
    result = ask("What is the LogP of asprin?")
    assert result.exit_code == 2
    assert result.stdout == ""
    stderr = words(result.stderr)
    assert stderr.startswith("compound_not_found:")
    assert "'asprin' is not a known compound" in stderr
    assert "ASPIRIN (CHEMBL25)" in stderr
    failed = ask("What is the LogP of asprin?", "--json")
    assert failed.exit_code == 2
    body = json.loads(failed.stdout)
    assert body["error"] == "compound_not_found"
    assert "ASPIRIN (CHEMBL25)" in body["suggestions"]
    assert body["status"] == "failed"


@pytest.mark.usefixtures("shared")
def test_a_query_that_cannot_run_as_written_exits_2() -> None:
    threshold = ask("compounds similar to aspirin with similarity above 1.5")
    assert threshold.exit_code == 2
    assert "invalid_query" in threshold.stderr
    assert "1.5" in threshold.stderr
    empty = ask("   ")
    assert empty.exit_code == 2
    assert "empty" in empty.stderr
    session = ask("what's its logP?", "--session-id", "has spaces")
    assert session.exit_code == 2
    assert "session_id" in session.stderr
    # In-process, a session lasts one command: the follow-up has nothing to refer to.
    alone = ask("what's its logP?", "--session-id", "abc123")
    assert alone.exit_code == 2
    assert "which compound" in alone.stderr


@pytest.mark.usefixtures("shared")
@pytest.mark.parametrize("query", ["What is the weather today?", "xq zvbn plorf"])
def test_out_of_scope_exits_0_with_what_chemagent_can_do(query: str) -> None:
    result = ask(query)
    assert result.exit_code == 0, result.output
    assert OUT_OF_SCOPE in result.stdout
    assert "What is CHEMBL25?" in result.stdout
    assert result.stderr == ""


@pytest.mark.usefixtures("shared")
def test_forced_progress_lists_the_steps_on_stderr_only() -> None:
    result = ask("Compare caffeine and aspirin", "--progress")
    assert result.exit_code == 0, result.output
    for label in ("find caffeine", "find aspirin", "properties of caffeine"):
        assert f"✓ {label} " in result.stderr
    assert "✓" not in result.stdout
    assert result.stdout.count("\n") == 1
    failed = ask("What is the LogP of asprin?", "--progress")
    assert "✓ find asprin" in failed.stderr
    assert "✗ properties of asprin (error)" in failed.stderr


@pytest.mark.parametrize("workers", ["0", "257", "many"])
def test_max_workers_out_of_range_is_a_usage_error(workers: str, shared: list[Settings]) -> None:
    result = ask("What is CHEMBL25?", "--max-workers", workers)
    assert result.exit_code == 2
    assert "--max-workers" in result.stderr
    assert shared == []  # refused before anything was loaded


def test_url_must_be_http(shared: list[Settings]) -> None:
    result = ask("What is CHEMBL25?", "--url", "localhost:8000")
    assert result.exit_code == 2
    assert "http://" in result.stderr
    assert shared == []


def test_in_process_state_is_built_from_settings_and_torn_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[AppState] = []
    real = cli.local_state

    @contextmanager
    def spy(settings: Settings) -> Iterator[AppState]:
        with real(settings) as state:
            built.append(state)
            yield state

    monkeypatch.setattr(cli, "local_state", spy)
    result = ask("What is CHEMBL25?", "--json", "--verbose", "--max-workers", "11")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["result"]["compounds"][0]["chembl_id"] == "CHEMBL25"
    (state,) = built
    assert state.settings.max_workers == 11  # the pool grows to --max-workers in-process
    assert body["metrics"]["max_workers"] == 11
    assert isinstance(state.sessions, MemorySessions)
    assert len(state.sessions) == 0  # closed: the exchange it remembered is gone
    with pytest.raises(RuntimeError, match="shutdown"):
        state.executor.submit(print)


def test_help_documents_examples_exit_codes_and_sessions() -> None:
    result = runner.invoke(app, ["query", "--help"])
    assert result.exit_code == 0, result.output
    text = words(result.stdout)
    assert text.count('chemagent query "') >= 3
    for fragment in (
        "Exit codes",
        "0 answered",
        "2 cannot be answered as written",
        "3 the server or a dependency failed",
        "--session-id",
        "follow-ups across invocations need --url",
        "--no-parallel",
        "--max-workers",
        "--verbose",
        "--json",
    ):
        assert fragment in text


# --- the SSE parser used with --url ---------------------------------------------------


def test_sse_events_parses_names_data_and_comments() -> None:
    lines = [
        ": keep-alive",
        "event: parsing",
        'data: {"type": "parsing", "progress": 0.0}',
        "",
        "id: 7",
        "retry: 1000",
        "event: planning",
        'data: {"progress": 0.05,',
        'data: "plan": null}',
        "",
        "",
        "event:result",
        'data:{"type": "result", "response": {"answer": "a: b"}}',
        "",
        "event: error",
        'data: {"type": "error"}',  # no blank line after it: an incomplete event
    ]
    events = list(sse_events(lines))
    assert events == [
        {"type": "parsing", "progress": 0.0},
        {"type": "planning", "progress": 0.05, "plan": None},
        {"type": "result", "response": {"answer": "a: b"}},
    ]


def test_sse_events_refuses_data_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        list(sse_events(["data: [1, 2]", ""]))
    with pytest.raises(json.JSONDecodeError):
        list(sse_events(["data: {not json", ""]))
