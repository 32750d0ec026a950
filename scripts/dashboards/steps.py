"""ChemAgent / Steps: which step kind costs what? Rate, outcomes, latency percentiles and
heatmaps, where results come from."""

from __future__ import annotations

from typing import Any

from gen_alerts import ERROR_RATIO

from dashboards.builder import dashboard, heatmap, target, timeseries
from dashboards.promql import (
    MISS,
    RATE_WINDOW,
    common_variables,
    label_variable,
    percentile,
    quantile,
    rate,
    ratio,
    red_above,
    sel,
)

HIST = "chemagent_step_duration_seconds"
COUNT = HIST + "_count"
STEP = 'step=~"$step"'


def _latency() -> list[dict[str, Any]]:
    by_kind = [
        timeseries(
            f"{percentile(q)} by kind",
            f"How long does each step kind take at {percentile(q)} (hits and computations)?",
            [target(quantile(q, HIST, "step", STEP), "{{step}}")],
            unit="s",
            width=8,
        )
        for q in (0.5, 0.95, 0.99)
    ]
    return [
        *by_kind,
        heatmap(
            "Latency heatmap: all steps",
            "Where do step times cluster? L1 hits sit near 10 us, L2 hits near 0.5 ms, "
            "computations above.",
            f"sum by (le) (increase({sel(HIST + '_bucket', STEP)}[{RATE_WINDOW}]))",
        ),
        heatmap(
            "Latency heatmap: computed steps",
            "What does computing cost (cache misses only)?",
            f"sum by (le) (increase({sel(HIST + '_bucket', STEP + ', ' + MISS)}[{RATE_WINDOW}]))",
        ),
    ]


def _outcomes() -> list[dict[str, Any]]:
    per_step = f"sum by (step) ({rate(COUNT, STEP)})"
    return [
        timeseries(
            "Failure ratio by kind",
            "Which step kinds fail (error or timeout), and how often?",
            [target(ratio(COUNT, 'outcome!="ok"', "step", STEP), "{{step}}")],
            unit="percentunit",
            steps=red_above(ERROR_RATIO),
        ),
        timeseries(
            "Cache tier mix per step",
            "Where does each kind's result come from: L1, L2, computed (miss) or stale?",
            [
                target(
                    f"sum by (step, cache) ({rate(COUNT, STEP)})\n"
                    f"/ ignoring (cache) group_left {per_step}",
                    "{{step}} {{cache}}",
                )
            ],
            unit="percentunit",
            maximum=1,
        ),
        timeseries(
            "p95 by kind and cache tier",
            "How much does a cache hit save per step kind (p95 of l1, l2 and miss)?",
            [target(quantile(0.95, HIST, "step, cache", STEP), "{{step}} {{cache}}")],
            unit="s",
        ),
        timeseries(
            "Computations per second by kind",
            "How often is each kind really computed? Fewer than its cache=miss steps: "
            "concurrent misses shared one computation.",
            [
                target(
                    f"sum by (step) ({rate('chemagent_cache_computations_total', STEP)})",
                    "{{step}}",
                )
            ],
            unit="ops",
        ),
    ]


def build() -> dict[str, Any]:
    panels = [
        timeseries(
            "Steps per second by kind",
            "Which step kinds run most, hits and computations together?",
            [target(f"sum by (step) ({rate(COUNT, STEP)})", "{{step}}")],
            unit="ops",
        ),
        timeseries(
            "Outcomes by kind",
            "How do steps end: ok, error (bad input, not found, upstream failure) or timeout?",
            [target(f"sum by (step, outcome) ({rate(COUNT, STEP)})", "{{step}} {{outcome}}")],
            unit="ops",
            stacked=True,
        ),
        *_latency(),
        *_outcomes(),
    ]
    return dashboard(
        "chemagent-steps",
        "ChemAgent / Steps",
        "Per step kind: rate, outcomes, latency percentiles and heatmaps, cache tiers.",
        panels,
        [*common_variables(route_hidden=True), label_variable("step", "Step kind", COUNT)],
    )
