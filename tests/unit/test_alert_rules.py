"""The alert rules: valid for promtool, unit-tested by promtool, generated files up to date,
every alert documented (severity, summary, description, a runbook section).

The rules are defined in ``scripts/gen_alerts.py``, which writes ``prometheus/alerts.yml``
and the ``PrometheusRule``; ``prometheus/alerts.test.yml`` holds promtool's input series
and expectations. promtool comes from Debian's ``prometheus`` package
(scripts/install-system-deps.sh).
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.unit.paths import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
OPERATIONS = REPO_ROOT / "docs" / "OPERATIONS.md"


@pytest.fixture(scope="module")
def gen() -> Iterator[ModuleType]:
    """``scripts/gen_alerts.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT / "scripts"))
        yield importlib.import_module("gen_alerts")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed; run scripts/install-system-deps.sh")
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_rules(gen: ModuleType) -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = len(gen.RECORDINGS) + len(gen.ALERTS)
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_example_scrape_config_is_valid() -> None:
    result = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_files_are_what_the_generator_writes(gen: ModuleType) -> None:
    for path, render in gen.OUTPUTS.items():
        assert path.read_text(encoding="utf-8") == render(), (
            f"{path.relative_to(REPO_ROOT)} is stale: run python scripts/gen_alerts.py"
        )


def test_the_prometheus_rule_holds_the_same_groups(gen: ModuleType, tmp_path: Path) -> None:
    text = gen.PROMETHEUS_RULE_FILE.read_text(encoding="utf-8")
    assert "\nkind: PrometheusRule\n" in text
    assert "\napiVersion: monitoring.coreos.com/v1\n" in text
    spec = yaml.safe_load(text)["spec"]
    assert spec == gen.rule_groups() == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    extracted = tmp_path / "spec.yml"
    extracted.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = promtool("check", "rules", extracted)
    assert result.returncode == 0, result.stdout + result.stderr


def _tested_cases() -> dict[str, set[bool]]:
    """Alert name -> the kinds of cases in alerts.test.yml (True: expects it to fire)."""
    cases: dict[str, set[bool]] = {}
    lines = RULE_TESTS.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"\s+alertname: (\w+)$", line)
        if match:
            following = lines[number + 1].strip()
            assert following.startswith("exp_alerts:"), f"line {number + 2}: {following}"
            cases.setdefault(match.group(1), set()).add(following != "exp_alerts: []")
    return cases


def test_every_alert_is_tested_firing_and_not_firing(gen: ModuleType) -> None:
    cases = _tested_cases()
    names = {alert.name for alert in gen.ALERTS}
    assert set(cases) == names
    assert {name: kinds for name, kinds in cases.items() if kinds != {True, False}} == {}


def test_every_alert_carries_severity_summary_description_runbook(gen: ModuleType) -> None:
    names = [alert.name for alert in gen.ALERTS]
    assert len(set(names)) == len(names)
    for alert in gen.ALERTS:
        rule = alert.rule()
        assert rule["labels"]["severity"] in {"critical", "warning"}, alert.name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}
        assert len(annotations["summary"]) > 20, alert.name
        assert len(annotations["description"]) > len(annotations["summary"]), alert.name
        assert annotations["runbook_url"] == f"docs/OPERATIONS.md#{alert.name.lower()}"
        assert re.fullmatch(r"ChemAgent[A-Z]\w+", alert.name)


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6} (.+)$", line)
        if match:
            words = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(words.replace(" ", "-"))
    return anchors


def test_every_runbook_link_has_its_section_in_operations(gen: ModuleType) -> None:
    anchors = _anchors(OPERATIONS.read_text(encoding="utf-8"))
    missing = [a.name for a in gen.ALERTS if a.runbook_url.split("#", 1)[1] not in anchors]
    assert missing == [], f"docs/OPERATIONS.md has no '### <alert>' section for {missing}"


def test_every_recorded_series_is_used_by_an_alert(gen: ModuleType) -> None:
    expressions = " ".join(alert.expr for alert in gen.ALERTS)
    unused = [r.record for r in gen.RECORDINGS if r.record not in expressions]
    assert unused == []


def test_the_yaml_round_trips_and_shows_promql_as_blocks(gen: ModuleType) -> None:
    document = {
        "plain": "chemagent.alerts",
        "duration": "5m",
        "words": ["yes", "on", "null", "1.5", "#x", "a: b"],
        "number": 0.05,
        "quoted": 'up{job="chemagent"} == 0',
        "block": "a\n  b",
        "empty": [],
    }
    text = gen.dump(document)
    assert yaml.safe_load(text) == document
    assert 'quoted: |-\n  up{job="chemagent"} == 0\n' in text
