"""The Grafana dashboards: generated files up to date, and the structure ops rely on.

Every dashboard has a uid, a title, the ``datasource``/``job``/``namespace``/``pod``/``route``
variables; every panel a description, a unit, the ``${datasource}`` data source and
targets whose selectors are scoped by the variables; the Steps dashboard a heatmap; the
panels that mirror an alert draw its threshold. Whether each expression runs and returns
data is proven against a real Prometheus in tests/integration/test_prometheus_dashboards.py.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.unit.paths import REPO_ROOT

DASHBOARD_DIR = REPO_ROOT / "grafana" / "dashboards"
PROVISIONING = REPO_ROOT / "grafana" / "provisioning"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COMMON_VARIABLES = ["datasource", "job", "namespace", "pod", "route"]
SCOPED = ('job=~"$job"', 'namespace=~"$namespace"', 'pod=~"$pod"')
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval"}
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")


@pytest.fixture(scope="module")
def gen() -> Iterator[ModuleType]:
    """``scripts/gen_dashboards.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT / "scripts"))
        yield importlib.import_module("gen_dashboards")


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    """The committed dashboards by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def panels(dashboards: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, board in dashboards.items():
        for panel in board["panels"]:
            yield f"{name}: {panel['title']}", panel


def expressions(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and variable queries."""
    found = [t["expr"] for p in board["panels"] for t in p["targets"]]
    found += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return found


def test_the_committed_files_are_what_the_generator_writes(gen: ModuleType) -> None:
    written = gen.outputs()
    assert sorted(written) == sorted(DASHBOARD_DIR.glob("*.json"))
    for path, text in written.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python scripts/gen_dashboards.py"
        )


def test_five_dashboards_with_unique_uids(dashboards: dict[str, dict[str, Any]]) -> None:
    uids = {board["uid"] for board in dashboards.values()}
    assert uids == {
        "chemagent-overview",
        "chemagent-steps",
        "chemagent-cache",
        "chemagent-upstream",
        "chemagent-queries",
    }
    for name, board in dashboards.items():
        assert name == board["uid"] + ".json"
        assert board["title"].startswith("ChemAgent / ")
        assert board["schemaVersion"] == 39
        assert "chemagent" in board["tags"]
        assert board.get("id") is None  # provisioned: Grafana assigns ids


def test_every_dashboard_has_the_template_variables(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert list(variables)[:5] == COMMON_VARIABLES
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["route"]["definition"].startswith("label_values(http_requests_total{")
        assert variables["route"]["definition"].endswith(", route)")
        for name in ("namespace", "pod"):
            assert variables[name]["definition"].endswith(f", {name})")
        for variable in list(variables.values())[1:]:
            assert variable["datasource"] == DATASOURCE
            assert variable["allValue"] == ".*" if variable["multi"] else "allValue" not in variable


def test_every_variable_used_is_defined_and_every_shown_one_used(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for name, board in dashboards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        used = {m for e in expressions(board) for m in re.findall(r"\$(\w+)", e)}
        assert used - GRAFANA_BUILTINS <= set(variables), name
        shown = {n for n, v in variables.items() if v["hide"] != 2} - {"datasource", "job"}
        assert shown <= used, f"{name}: variables that filter nothing: {shown - used}"


def test_every_panel_is_described_typed_and_queried(dashboards: dict[str, dict[str, Any]]) -> None:
    for where, panel in panels(dashboards):
        assert len(panel["description"]) >= 40, where
        assert panel["description"].endswith(("?", ".")), where
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"], where
        assert defaults["thresholds"]["steps"][0]["value"] is None, where
        assert panel["datasource"] == DATASOURCE, where
        assert panel["targets"], where
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), where
        for query in panel["targets"]:
            assert query["datasource"] == DATASOURCE, where
            assert query["expr"].strip(), where


def test_every_selector_is_scoped_by_the_variables(dashboards: dict[str, dict[str, Any]]) -> None:
    for where, panel in panels(dashboards):
        for query in panel["targets"]:
            selectors = SELECTOR.findall(query["expr"])
            assert selectors, f"{where}: no metric selector in {query['expr']}"
            for metric, matchers in selectors:
                if metric == "ALERTS":  # an alert's labels: no pod
                    assert 'namespace=~"$namespace"' in matchers, where
                    continue
                missing = [m for m in SCOPED if m not in matchers]
                assert missing == [], f"{where}: {metric} lacks {missing}"


def test_panels_fit_the_grid_without_overlapping(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, board in dashboards.items():
        taken: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"{name}: {panel['title']} overlaps"
            taken |= cells
        assert [p["id"] for p in board["panels"]] == list(range(1, len(board["panels"]) + 1))


def test_the_steps_dashboard_has_latency_heatmaps(dashboards: dict[str, dict[str, Any]]) -> None:
    maps = [p for p in dashboards["chemagent-steps.json"]["panels"] if p["type"] == "heatmap"]
    assert len(maps) == 2
    for panel in maps:
        (query,) = panel["targets"]
        assert query["format"] == "heatmap"
        assert query["expr"].startswith(
            "sum by (le) (increase(chemagent_step_duration_seconds_bucket{"
        )
        assert panel["options"]["calculate"] is False
        assert panel["options"]["yAxis"]["unit"] == "s"


def _steps(board: dict[str, Any], title: str) -> list[tuple[str, float | None]]:
    (panel,) = [p for p in board["panels"] if p["title"] == title]
    return [
        (s["color"], s["value"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ]


def test_panels_mirroring_an_alert_draw_its_threshold(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT / "scripts"))
        alerts = importlib.import_module("gen_alerts")
    expected = [
        ("overview", "Server error ratio (5xx)", ("red", alerts.ERROR_RATIO)),
        ("overview", "Error ratios: 5xx and 4xx", ("red", alerts.ERROR_RATIO)),
        ("overview", "p95 latency (REST)", ("red", alerts.REST_P95_SECONDS)),
        ("overview", "Pod restarts (time range)", ("red", alerts.RESTARTS_IN_30M)),
        ("cache", "Combined hit ratio", ("green", alerts.CACHE_HIT_RATIO)),
        ("queries", "p95 by intent", ("red", alerts.QUERY_P95_SECONDS)),
    ]
    for name, title, step in expected:
        assert step in _steps(dashboards[f"chemagent-{name}.json"], title), title


def test_provisioning_points_grafana_at_the_dashboards() -> None:
    provider = (PROVISIONING / "dashboards" / "chemagent.yml").read_text(encoding="utf-8")
    assert "apiVersion: 1" in provider
    assert "type: file" in provider
    assert "path: /var/lib/grafana/dashboards/chemagent" in provider
    source = (PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    assert "type: prometheus" in source
    assert re.search(r"^\s+url: http://\S+:9090", source, re.MULTILINE)


def test_the_dashboard_json_files_are_plain(tmp_path: Path, gen: ModuleType) -> None:
    """Two runs write byte-identical files (no timestamps, no dict-order drift)."""
    first = gen.outputs()
    assert gen.outputs() == first
    for text in first.values():
        assert text.endswith("}\n")
        assert "\t" not in text
