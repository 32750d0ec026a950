"""The multiprocess exposition pieces and the gunicorn settings, without gunicorn."""

from __future__ import annotations

import logging.config
import os
from pathlib import Path

import pytest

from chemagent import gunicorn_config
from chemagent.observability import exposition


def test_worker_pids_are_the_live_writers(tmp_path: Path) -> None:
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
    (tmp_path / "counter_999999999.db").write_bytes(b"")  # no such process
    (tmp_path / "notes.txt").write_text("ignored")
    assert exposition.worker_pids(tmp_path) == {os.getpid()}


def test_worker_process_collector_reports_this_process(tmp_path: Path) -> None:
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    families = {f.name: f for f in exposition.WorkerProcessCollector(tmp_path).collect()}
    assert set(families) == {
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
    }
    mine = {
        s.labels["role"]: s.value
        for s in families["process_resident_memory_bytes"].samples
        if s.labels["pid"] == str(os.getpid())
    }
    assert mine["worker"] > 10e6  # this interpreter with RDKit imported
    starts = [s.value for s in families["process_start_time_seconds"].samples]
    assert all(1.6e9 < v < 4e9 for v in starts)


def test_registry_without_the_directory_is_the_process_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert exposition.registry() is exposition.REGISTRY
    assert b"python_info" in exposition.render()


def test_registry_with_the_directory_merges_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = exposition.render().decode()
    assert "python_info" not in text  # not the process registry
    assert 'role="master"' in text


def test_the_multiproc_directory_is_made_and_emptied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # setenv first: monkeypatch then removes what multiproc_dir() sets, after the test.
    monkeypatch.setenv(gunicorn_config.MULTIPROC_ENV, "")
    made = gunicorn_config.multiproc_dir()
    assert made.is_dir()
    assert os.environ[gunicorn_config.MULTIPROC_ENV] == str(made)
    (made / "counter_1.db").write_bytes(b"stale")
    (made / "performance_1.json").write_text("{}")
    (made / "keep.txt").write_text("not a metric file")
    gunicorn_config.empty_multiproc_dir(made)
    assert sorted(p.name for p in made.iterdir()) == ["keep.txt"]
    fresh = tmp_path / "a" / "b"
    gunicorn_config.empty_multiproc_dir(fresh)
    assert fresh.is_dir()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_gunicorn_log_config_is_valid(fmt: str) -> None:
    config = gunicorn_config._log_config(fmt, "INFO")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        (handler,) = logging.getLogger("gunicorn.error").handlers
        assert type(handler.formatter).__name__ == (
            "JsonFormatter" if fmt == "json" else "ConsoleFormatter"
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("gunicorn.error").handlers[:] = []


def test_on_starting_empties_the_operators_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(gunicorn_config.MULTIPROC_ENV, str(tmp_path))
    (tmp_path / "histogram_42.db").write_bytes(b"old run")
    gunicorn_config.on_starting(server=None)
    assert not list(tmp_path.iterdir())
