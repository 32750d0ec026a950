"""docs/OBSERVABILITY.md's metric catalogue is the code's, and names follow the contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import metrics_catalogue  # noqa: E402

# ARCHITECTURE.md's metric table (the contract dashboards, alerts and smoke tests use).
CONTRACT = {
    "http_requests_total": ("counter", ("method", "route", "status")),
    "http_request_duration_seconds": ("histogram", ("method", "route", "status")),
    "http_requests_in_flight": ("gauge", ()),
    "chemagent_step_duration_seconds": ("histogram", ("step", "outcome", "cache")),
    "chemagent_queries_total": ("counter", ("intent", "status")),
    "chemagent_query_duration_seconds": ("histogram", ("intent",)),
    "chemagent_cache_requests_total": ("counter", ("tier", "result")),
    "chemagent_cache_operation_duration_seconds": ("histogram", ("tier", "op")),
    "chemagent_upstream_request_duration_seconds": (
        "histogram",
        ("upstream", "endpoint", "status"),
    ),
    "chemagent_upstream_circuit_open": ("gauge", ("upstream",)),
    "chemagent_requests_shed_total": ("counter", ("reason",)),
    "chemagent_build_info": ("gauge", ("version", "commit", "rdkit")),
}


def test_the_doc_matches_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "metrics_catalogue.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "OBSERVABILITY.md"
    text = metrics_catalogue.DOC.read_text(encoding="utf-8")
    stale.write_text(text.replace("| `chemagent_build_info` |", "| `chemagent_old_name` |"))
    monkeypatch.setattr(metrics_catalogue, "DOC", stale)
    assert metrics_catalogue.main(["--check"]) == 1
    assert metrics_catalogue.main([]) == 0
    assert stale.read_text(encoding="utf-8") == text


def test_every_contract_metric_is_declared_with_its_type_and_labels() -> None:
    declared = {
        metrics_catalogue.exposed_name(m): (m._type, tuple(m._labelnames))
        for m in metrics_catalogue.declared()
    }
    for name, wanted in CONTRACT.items():
        assert declared.get(name) == wanted, name


def test_names_follow_prometheus_conventions() -> None:
    for metric in metrics_catalogue.declared():
        name = metrics_catalogue.exposed_name(metric)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert name.startswith(("chemagent_", "http_")), name
        if metric._type == "histogram":
            assert name.endswith("_seconds"), name  # base units
        assert not name.endswith("_milliseconds"), name
        assert str(metric._documentation).strip(), name
