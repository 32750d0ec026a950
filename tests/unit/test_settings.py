"""Settings: defaults, CHEMAGENT_* overrides and errors that name the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from chemagent.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CHEMAGENT_* variable from the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("CHEMAGENT_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.library is None
    assert settings.redis_url is None
    assert settings.chembl_url is None
    assert settings.admin_token is None
    assert settings.cache_l1_size == 10_000
    assert settings.cache_ttl_seconds == 86400.0
    assert settings.max_workers == min(8, (os.cpu_count() or 1) + 2)
    assert settings.request_timeout_seconds == 30.0
    assert settings.step_timeout_seconds == 10.0
    assert settings.max_body_bytes == 1 << 20
    assert settings.max_smiles_length == 2000
    assert settings.max_heavy_atoms == 500
    assert settings.max_batch_size == 100
    assert settings.max_top_k == 1000
    assert settings.log_level == "INFO"
    assert settings.log_format == "console"
    assert settings.port == 8000


def test_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHEMAGENT_MAX_WORKERS", "3")
    monkeypatch.setenv("CHEMAGENT_CACHE_TTL_SECONDS", "12.5")
    monkeypatch.setenv("CHEMAGENT_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("CHEMAGENT_CHEMBL_URL", "https://www.ebi.ac.uk/chembl/api/data")
    monkeypatch.setenv("CHEMAGENT_LOG_FORMAT", "JSON")
    monkeypatch.setenv("CHEMAGENT_LOG_LEVEL", "debug")
    monkeypatch.setenv("CHEMAGENT_ADMIN_TOKEN", "s3cret")
    (tmp_path / "manifest.json").write_text("{}")  # an index directory has a manifest
    monkeypatch.setenv("CHEMAGENT_LIBRARY", str(tmp_path))
    settings = Settings()
    assert settings.max_workers == 3
    assert settings.cache_ttl_seconds == 12.5
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.chembl_url == "https://www.ebi.ac.uk/chembl/api/data"
    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    assert settings.library == tmp_path
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)  # never logged by accident


def test_blank_urls_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEMAGENT_REDIS_URL", "  ")
    monkeypatch.setenv("CHEMAGENT_CHEMBL_URL", "")
    monkeypatch.setenv("CHEMAGENT_LIBRARY", "")
    settings = Settings()
    assert (settings.redis_url, settings.chembl_url, settings.library) == (None, None, None)


def test_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.max_workers = 2  # type: ignore[misc]


def test_unknown_variables_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEMAGENT_NOT_A_SETTING", "x")
    assert not hasattr(Settings(), "not_a_setting")


@pytest.mark.parametrize(
    ("variable", "value", "field", "hint"),
    [
        ("CHEMAGENT_MAX_WORKERS", "0", "max_workers", "greater than or equal to 1"),
        ("CHEMAGENT_MAX_WORKERS", "many", "max_workers", "integer"),
        ("CHEMAGENT_LOG_FORMAT", "xml", "log_format", "'json' or 'console'"),
        ("CHEMAGENT_LOG_LEVEL", "chatty", "log_level", "DEBUG"),
        ("CHEMAGENT_LIBRARY", "/nonexistent", "library", "no file or directory at /nonexistent"),
        ("CHEMAGENT_LIBRARY", "/tmp", "library", "not a library index"),
        ("CHEMAGENT_CACHE_TTL_SECONDS", "0", "cache_ttl_seconds", "greater than 0"),
        ("CHEMAGENT_PORT", "70000", "port", "less than or equal to 65535"),
        ("CHEMAGENT_MAX_BODY_BYTES", "10", "max_body_bytes", "1024"),
    ],
)
def test_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    message = str(info.value)
    assert field in message
    assert hint in message
    assert [error["loc"] for error in info.value.errors()] == [(field,)]
