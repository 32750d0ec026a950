"""A bad configuration stops ``chemagent serve`` at start with one line naming the variable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import CliFn, free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"CHEMAGENT_MAX_WORKERS": "0"}, "max_workers"),
        ({"CHEMAGENT_LIBRARY": "/does/not/exist"}, "library"),
        ({"CHEMAGENT_LOG_LEVEL": "[/loud]"}, "log_level"),  # no rich markup error either
    ],
    ids=["max_workers", "library", "log_level"],
)
def test_invalid_setting_fails_fast_naming_it(env: dict[str, str], field: str, cli: CliFn) -> None:
    started = time.monotonic()
    result = cli("serve", "--host", "127.0.0.1", "--port", str(free_port()), env=env, timeout=30)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed < 10, f"took {elapsed:.1f} s to refuse the configuration"
    assert field in result.stderr
    assert f"CHEMAGENT_{field.upper()}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr


def test_directory_that_is_not_an_index_fails_at_start(tmp_path: Path, cli: CliFn) -> None:
    """A directory without a manifest is refused at start, with what to do instead."""
    result = cli(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        env={"CHEMAGENT_LIBRARY": str(tmp_path)},
        timeout=30,
    )
    assert result.returncode != 0
    assert "not a library index" in result.stderr
    assert "CHEMAGENT_LIBRARY" in result.stderr
    assert "chemagent library build" in result.stderr
