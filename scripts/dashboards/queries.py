"""ChemAgent / Queries: which plain-English queries are asked, how they end, which are
slow."""

from __future__ import annotations

from typing import Any

from gen_alerts import QUERY_P95_SECONDS

from dashboards.builder import dashboard, heatmap, table, target, timeseries
from dashboards.promql import (
    RATE_WINDOW,
    common_variables,
    label_variable,
    quantile,
    rate,
    ratio,
    red_above,
    sel,
)

COUNT = "chemagent_queries_total"
HIST = "chemagent_query_duration_seconds"
INTENT = 'intent=~"$intent"'
PERFORMANCE = "For single slow queries and their trace ids, ask a pod: GET /v1/performance."


def _latency() -> list[dict[str, Any]]:
    return [
        timeseries(
            "p50 by intent",
            "How long does a typical query of each intent take?",
            [target(quantile(0.5, HIST, "intent", INTENT), "{{intent}}")],
            unit="s",
        ),
        timeseries(
            "p95 by intent",
            "How long do 95% of queries take, per intent? The alert fires when p95 over all "
            f"intents stays above {QUERY_P95_SECONDS:g} s.",
            [target(quantile(0.95, HIST, "intent", INTENT), "{{intent}}")],
            unit="s",
            steps=red_above(QUERY_P95_SECONDS),
        ),
        timeseries(
            "Slow queries: p99 by intent",
            f"Which intents have a slow tail? {PERFORMANCE}",
            [target(quantile(0.99, HIST, "intent", INTENT), "{{intent}}")],
            unit="s",
            steps=red_above(QUERY_P95_SECONDS),
        ),
        heatmap(
            "Query latency heatmap",
            "Where do query times cluster, and how long is the tail?",
            f"sum by (le) (increase({sel(HIST + '_bucket', INTENT)}[{RATE_WINDOW}]))",
        ),
        table(
            "Slowest intents over the time range",
            f"Which intents had the slowest p99 over the whole time range? {PERFORMANCE}",
            "sort_desc(histogram_quantile(0.99, sum by (intent, le) (\n"
            f"  increase({sel(HIST + '_bucket', INTENT)}[$__range])\n"
            ")))",
            unit="s",
        ),
        timeseries(
            "Query endpoints: p95 over HTTP",
            "How long do clients wait on /v1/query and the SSE stream, parsing included?",
            [
                target(
                    quantile(
                        0.95, "http_request_duration_seconds", "route", 'route=~"/v1/query.*"'
                    ),
                    "{{route}}",
                )
            ],
            unit="s",
            width=24,
        ),
    ]


def build() -> dict[str, Any]:
    panels = [
        timeseries(
            "Queries per second by intent",
            "What do users ask: lookups, properties, comparisons, searches, targets?",
            [target(f"sum by (intent) ({rate(COUNT, INTENT)})", "{{intent}}")],
            unit="reqps",
        ),
        timeseries(
            "Queries by status",
            "How do queries end: ok, partial, failed (e.g. an unknown compound), rejected, error?",
            [target(f"sum by (status) ({rate(COUNT, INTENT)})", "{{status}}")],
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "Not fully answered, by intent",
            "Which intents end other than ok, and how often?",
            [target(ratio(COUNT, 'status!="ok"', "intent", INTENT), "{{intent}}")],
            unit="percentunit",
            maximum=1,
            width=24,
        ),
        *_latency(),
    ]
    return dashboard(
        "chemagent-queries",
        "ChemAgent / Queries",
        "Plain-English queries: rate by intent, statuses, latency, slow queries.",
        panels,
        [*common_variables(route_hidden=True), label_variable("intent", "Intent", COUNT)],
    )
