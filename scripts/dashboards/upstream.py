"""ChemAgent / Upstream: are ChEMBL and the LLM healthy? Calls, errors, latency, circuit
breakers, LLM classification results."""

from __future__ import annotations

from typing import Any

from gen_alerts import ERROR_RATIO

from dashboards.builder import dashboard, state_timeline, target, timeseries
from dashboards.promql import (
    common_variables,
    label_variable,
    percentile,
    quantile,
    rate,
    ratio,
    red_above,
    sel,
)

CALLS = "chemagent_upstream_request_duration_seconds"
COUNT = CALLS + "_count"
WHICH = 'upstream=~"$upstream"'
LLM = "chemagent_llm_classifications_total"


def build() -> dict[str, Any]:
    panels = [
        timeseries(
            "Calls per second by upstream and status",
            "How many calls go to ChEMBL and the LLM, and how do they end (HTTP status, or "
            "timeout, connect, invalid)?",
            [
                target(
                    f"sum by (upstream, status) ({rate(COUNT, WHICH)})",
                    "{{upstream}} {{status}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "Error ratio by upstream",
            "Which share of upstream calls fail (anything but a 2xx)?",
            [target(ratio(COUNT, 'status!~"2.."', "upstream", WHICH), "{{upstream}}")],
            unit="percentunit",
            steps=red_above(ERROR_RATIO),
        ),
        timeseries(
            "Latency by upstream",
            "How long do upstream calls take at p50, p95 and p99 (the LLM's deadline is 5 s, "
            "ChEMBL's 10 s)?",
            [
                target(quantile(q, CALLS, "upstream", WHICH), "{{upstream}} " + percentile(q))
                for q in (0.5, 0.95, 0.99)
            ],
            unit="s",
        ),
        timeseries(
            "p95 latency by endpoint",
            "Which upstream endpoint is slow (p95 per upstream and endpoint)?",
            [
                target(
                    quantile(0.95, CALLS, "upstream, endpoint", WHICH),
                    "{{upstream}} {{endpoint}}",
                )
            ],
            unit="s",
        ),
        state_timeline(
            "Circuit breakers",
            "When did a breaker skip an upstream (open: calls fail at once; the alert fires "
            "after 2 minutes)?",
            [
                target(
                    f"max by (upstream) ({sel('chemagent_upstream_circuit_open', WHICH)})",
                    "{{upstream}}",
                )
            ],
            {0: ("closed", "green"), 1: ("open", "red")},
            width=24,
            height=5,
        ),
        timeseries(
            "LLM classifications by result",
            "What becomes of queries sent to the LLM: ok (an intent), invalid (failed "
            "validation), unavailable (no usable answer)?",
            [target(f"sum by (result) ({rate(LLM)})", "{{result}}")],
            unit="ops",
            stacked=True,
        ),
        timeseries(
            "Share of queries sent to the LLM",
            "Which share of plain-English queries did the rules not understand?",
            [target(f"sum({rate(LLM)})\n/ sum({rate('chemagent_queries_total')})", "llm")],
            unit="percentunit",
            maximum=1,
        ),
    ]
    return dashboard(
        "chemagent-upstream",
        "ChemAgent / Upstream",
        "Calls to ChEMBL and the LLM: rate, errors, latency, circuit breakers, LLM results.",
        panels,
        [*common_variables(route_hidden=True), label_variable("upstream", "Upstream", COUNT)],
    )
