"""Small builders for Grafana dashboard JSON (schemaVersion 39, Grafana 10.4+/11).

The dashboard modules next to this one describe their panels with these;
``scripts/gen_dashboards.py`` writes them to ``grafana/dashboards/``. Every panel gets the
``${datasource}`` variable, a unit, a thresholds object and a description; positions and
ids are assigned by :func:`layout`.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

Steps = tuple[tuple[str, float | None], ...]
BASE_GREEN: Steps = (("green", None),)


def thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    """Absolute thresholds: ``("green", None)`` (the base), then ``(color, from value)``."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for color, value in steps or BASE_GREEN],
    }


def target(
    expr: str, legend: str = "", *, instant: bool = False, fmt: str = "time_series"
) -> dict[str, Any]:
    """One Prometheus query of a panel (``refId`` is set by :func:`panel`)."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "format": fmt,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
    }


def _with_ref_ids(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)]


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    width: int = 12,
    height: int = 8,
    steps: Steps = BASE_GREEN,
    custom: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    decimals: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    """A panel of ``kind`` without position (see :func:`layout`)."""
    defaults: dict[str, Any] = {
        "unit": unit,
        "thresholds": thresholds(*steps),
        "color": {
            "mode": "thresholds" if kind in ("stat", "state-timeline") else "palette-classic"
        },
        "mappings": mappings or [],
    }
    for key, value in (("decimals", decimals), ("min", minimum), ("max", maximum)):
        if value is not None:
            defaults[key] = value
    if custom is not None:
        defaults["custom"] = custom
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": _with_ref_ids(targets),
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    stacked: bool = False,
    steps: Steps = BASE_GREEN,
    **kwargs: Any,
) -> dict[str, Any]:
    """A time series; thresholds beyond the base are drawn as dashed lines."""
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 25 if stacked else 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if len(steps) > 1 else "off"},
    }
    options = {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
            "calcs": ["mean", "max", "lastNotNull"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries",
        title,
        description,
        targets,
        unit=unit,
        steps=steps,
        custom=custom,
        options=options,
        **kwargs,
    )


def stat(
    title: str, description: str, expr: str, *, unit: str, steps: Steps = BASE_GREEN, **kwargs: Any
) -> dict[str, Any]:
    """A single number (the last value), coloured by its thresholds."""
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
    }
    kwargs.setdefault("width", 4)
    kwargs.setdefault("height", 4)
    return panel(
        "stat",
        title,
        description,
        [target(expr)],
        unit=unit,
        steps=steps,
        options=options,
        **kwargs,
    )


def heatmap(title: str, description: str, bucket_expr: str, **kwargs: Any) -> dict[str, Any]:
    """A heatmap of a Prometheus histogram: ``bucket_expr`` sums ``_bucket`` increases by ``le``."""
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {
            "mode": "scheme",
            "scheme": "Oranges",
            "fill": "dark-orange",
            "scale": "exponential",
            "exponent": 0.5,
            "steps": 64,
            "reverse": False,
        },
        "yAxis": {"axisPlacement": "left", "unit": "s", "reverse": False},
        "rowsFrame": {"layout": "auto"},
        "cellValues": {"unit": "short"},
        "filterValues": {"le": 1e-9},
        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
        "legend": {"show": True},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
    }
    custom = {
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "scaleDistribution": {"type": "linear"},
    }
    targets = [target(bucket_expr, "{{le}}", fmt="heatmap")]
    return panel(
        "heatmap",
        title,
        description,
        targets,
        unit="short",
        custom=custom,
        options=options,
        **kwargs,
    )


def table(
    title: str, description: str, expr: str, *, unit: str = "none", **kwargs: Any
) -> dict[str, Any]:
    """An instant query shown as a table, one row per series, the time column hidden."""
    result = panel(
        "table",
        title,
        description,
        [target(expr, instant=True, fmt="table")],
        unit=unit,
        options={
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
        },
        **kwargs,
    )
    result["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    return result


def state_timeline(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    states: dict[int, tuple[str, str]],
    **kwargs: Any,
) -> dict[str, Any]:
    """A state timeline of a 0/1 gauge; ``states`` maps each value to (text, colour)."""
    mappings = [
        {
            "type": "value",
            "options": {
                str(v): {"text": text, "color": color, "index": i}
                for i, (v, (text, color)) in enumerate(states.items())
            },
        }
    ]
    options = {
        "mergeValues": True,
        "showValue": "auto",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    custom = {"lineWidth": 0, "fillOpacity": 80}
    steps = tuple(
        (color, float(v) if i else None) for i, (v, (_, color)) in enumerate(states.items())
    )
    return panel(
        "state-timeline",
        title,
        description,
        targets,
        unit="none",
        steps=steps,
        custom=custom,
        options=options,
        mappings=mappings,
        **kwargs,
    )


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place panels left to right in rows of 24 columns and number them from 1."""
    x = y = row_height = 0
    placed = []
    for number, item in enumerate(panels, start=1):
        grid = dict(item["gridPos"])
        if x + grid["w"] > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        placed.append({"id": number, **item, "gridPos": grid})
    return placed


def datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
        "skipUrlSync": False,
    }


def query_variable(
    name: str, label: str, query: str, *, multi: bool = True, hide: int = 0, description: str = ""
) -> dict[str, Any]:
    """A variable filled from ``label_values(...)``; multi-value ones offer All (= ``.*``)."""
    variable: dict[str, Any] = {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {},
        "hide": hide,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "options": [],
        "skipUrlSync": False,
    }
    if multi:
        variable["allValue"] = ".*"  # also pods gone since: the time range may show them
    return variable


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
) -> dict[str, Any]:
    """A complete dashboard, linked to the others by the ``chemagent`` tag."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["chemagent"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "ChemAgent",
                "type": "dashboards",
                "tags": ["chemagent"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": layout(panels),
    }
