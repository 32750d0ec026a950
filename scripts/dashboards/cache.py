"""ChemAgent / Cache: is the cache earning its keep? Hit ratios, tier latency, lock waits,
L1 size and evictions, Redis state."""

from __future__ import annotations

from typing import Any

from gen_alerts import CACHE_HIT_RATIO

from dashboards.builder import dashboard, stat, state_timeline, target, timeseries
from dashboards.promql import (
    L1,
    SERVED,
    STALE,
    common_variables,
    good_above,
    percentile,
    quantile,
    rate,
    ratio,
    red_above,
    sel,
)

LOOKUPS = "chemagent_cache_requests_total"
OPS = "chemagent_cache_operation_duration_seconds"
REDIS_DEADLINE_SECONDS = 0.05  # CHEMAGENT_REDIS_TIMEOUT_SECONDS' default
COMBINED = f"(sum({rate(LOOKUPS, SERVED)}) or vector(0)) / sum({rate(LOOKUPS, L1)})"
DEGRADED = {0: ("ok", "green"), 1: ("degraded", "red")}


def _stats() -> list[dict[str, Any]]:
    return [
        stat(
            "Combined hit ratio",
            "Which share of step lookups was served from L1 or L2 instead of computed? Red "
            f"under the alert's {CACHE_HIT_RATIO:.0%}.",
            COMBINED,
            unit="percentunit",
            steps=good_above(CACHE_HIT_RATIO),
            width=6,
        ),
        stat(
            "Redis (L2)",
            "Is the shared Redis tier working on every selected pod (degraded: failing, or "
            "skipped by its breaker)?",
            f"max({sel('chemagent_cache_l2_degraded')})",
            unit="none",
            steps=red_above(1),
            width=6,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "ok", "index": 0},
                        "1": {"text": "degraded", "index": 1},
                    },
                }
            ],
        ),
        stat(
            "L1 entries",
            "How many step results do the selected pods hold in memory (all workers)?",
            f"sum({sel('chemagent_cache_entries')})",
            unit="short",
            width=6,
        ),
        stat(
            "L1 size",
            "How much memory do the in-process caches hold (JSON size estimate, all workers)?",
            f"sum({sel('chemagent_cache_bytes')})",
            unit="bytes",
            width=6,
        ),
    ]


def _tiers() -> list[dict[str, Any]]:
    by_op = [
        timeseries(
            f"Operation latency {percentile(q)}",
            f"How long do cache operations take per tier and operation at {percentile(q)}? "
            f"Redis calls have a {REDIS_DEADLINE_SECONDS * 1000:g} ms deadline.",
            [target(quantile(q, OPS, "tier, op"), "{{tier}} {{op}}")],
            unit="s",
            steps=red_above(REDIS_DEADLINE_SECONDS),
        )
        for q in (0.95, 0.99)
    ]
    return [
        timeseries(
            "Hit ratio per tier and combined",
            "How often does each tier answer the lookups that reach it, and either of them "
            f"(combined; the alert fires under {CACHE_HIT_RATIO:.0%})?",
            [target(ratio(LOOKUPS, SERVED, "tier"), "{{tier}}"), target(COMBINED, "combined")],
            unit="percentunit",
            steps=good_above(CACHE_HIT_RATIO),
            maximum=1,
        ),
        timeseries(
            "Lookups by tier and result",
            "How many lookups hit, miss, fail (error: Redis failing) or get a stale value?",
            [target(f"sum by (tier, result) ({rate(LOOKUPS)})", "{{tier}} {{result}}")],
            unit="ops",
            stacked=True,
        ),
        *by_op,
        timeseries(
            "Cross-pod lock waits",
            "How long do cold misses of expensive kinds wait for the cross-pod Redis lock "
            "(op=lock), at p50, p95 and p99?",
            [target(quantile(q, OPS, extra='op="lock"'), percentile(q)) for q in (0.5, 0.95, 0.99)],
            unit="s",
        ),
        timeseries(
            "Stale values served",
            "How often is a value served past its TTL (while it is refreshed, or because "
            "recomputing it failed)? Only upstream-backed kinds (targets) have stale windows.",
            [target(f"sum by (tier) ({rate(LOOKUPS, STALE)})", "{{tier}}")],
            unit="ops",
        ),
    ]


def _pods() -> list[dict[str, Any]]:
    return [
        timeseries(
            "L1 entries by pod",
            "Does any pod's in-process cache stay empty or grow unlike the others?",
            [target(f"sum by (pod) ({sel('chemagent_cache_entries')})", "{{pod}}")],
            unit="short",
            width=8,
        ),
        timeseries(
            "L1 size by pod",
            "How much memory does each pod's in-process cache take (at most "
            "CHEMAGENT_CACHE_L1_MAX_BYTES per worker)?",
            [target(f"sum by (pod) ({sel('chemagent_cache_bytes')})", "{{pod}}")],
            unit="bytes",
            width=8,
        ),
        timeseries(
            "L1 evictions by pod",
            "Is L1 too small: how many entries per second are evicted to make room?",
            [target(f"sum by (pod) ({rate('chemagent_cache_evictions_total')})", "{{pod}}")],
            unit="ops",
            width=8,
        ),
        state_timeline(
            "Redis (L2) state by pod",
            "When was each pod without Redis (the alert fires after 5 minutes)?",
            [target(f"max by (pod) ({sel('chemagent_cache_l2_degraded')})", "{{pod}}")],
            DEGRADED,
            width=24,
            height=5,
        ),
    ]


def build() -> dict[str, Any]:
    return dashboard(
        "chemagent-cache",
        "ChemAgent / Cache",
        "The tiered cache: hit ratios, tier latency, lock waits, L1 size, Redis state.",
        [*_stats(), *_tiers(), *_pods()],
        common_variables(route_hidden=True),
    )
