"""ChemAgent / Overview: is the service healthy? Traffic, errors, latency, saturation, pods,
versions."""

from __future__ import annotations

from typing import Any

from gen_alerts import ERROR_RATIO, REST_P95_SECONDS, RESTARTS_IN_30M

from dashboards.builder import dashboard, stat, table, target, timeseries
from dashboards.promql import (
    API,
    HTTP,
    REST,
    SCRAPES,
    common_variables,
    good_above,
    percentile,
    quantile,
    rate,
    ratio,
    red_above,
    sel,
)

REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"
SERVER_ERRORS = 'status=~"5.."'
CLIENT_ERRORS = 'status=~"4.."'
ALERTS = 'ALERTS{alertname=~"ChemAgent.*", namespace=~"$namespace"}'


def _stats() -> list[dict[str, Any]]:
    return [
        stat(
            "Requests per second",
            "How much traffic do the selected routes get now, over all selected pods?",
            f"sum({rate(REQUESTS, HTTP)})",
            unit="reqps",
        ),
        stat(
            "Server error ratio (5xx)",
            "Which share of API requests fail with a server error, counted as the alert "
            f"counts it (probes and scrapes left out)? Red at the alert's {ERROR_RATIO:.0%}.",
            ratio(REQUESTS, SERVER_ERRORS, extra=API),
            unit="percentunit",
            steps=(("green", None), ("orange", ERROR_RATIO / 5), ("red", ERROR_RATIO)),
            decimals=2,
        ),
        stat(
            "p95 latency (REST)",
            "How long do 95% of REST calls take (queries, batches, streams, cache admin and "
            f"probes left out)? Red at the alert's {REST_P95_SECONDS:g} s.",
            quantile(0.95, DURATION, extra=REST),
            unit="s",
            steps=red_above(REST_P95_SECONDS),
        ),
        stat(
            "In flight",
            "How many requests are being served right now, over all workers of the pods?",
            f"sum({sel('http_requests_in_flight')})",
            unit="short",
        ),
        stat(
            "Pods up",
            "How many selected pods did Prometheus scrape successfully last time? 0: outage.",
            f"sum({sel('up')})",
            unit="short",
            steps=good_above(1),
        ),
        stat(
            "Pod restarts (time range)",
            "How often did the selected pods' containers restart in the time range (resets of "
            f"/metrics' own counter)? The alert fires at {RESTARTS_IN_30M} in 30 minutes.",
            f"sum(max by (pod) (resets({sel(REQUESTS, SCRAPES)}[$__range])))",
            unit="short",
            steps=(("green", None), ("orange", 1), ("red", RESTARTS_IN_30M)),
        ),
    ]


def _traffic() -> list[dict[str, Any]]:
    return [
        timeseries(
            "Requests per second by route",
            "Which routes carry the traffic (requests per second per route template)?",
            [target(f"sum by (route) ({rate(REQUESTS, HTTP)})", "{{route}}")],
            unit="reqps",
        ),
        timeseries(
            "Responses by status code",
            "What do clients get back: how many 2xx, 4xx (their mistakes) and 5xx (ours)?",
            [target(f"sum by (status) ({rate(REQUESTS, HTTP)})", "{{status}}")],
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "Error ratios: 5xx and 4xx",
            "Which share of API requests fail, by whose fault? 5xx: a bug or a dependency "
            f"down (alert above {ERROR_RATIO:.0%}); 4xx: the client's input.",
            [
                target(ratio(REQUESTS, SERVER_ERRORS, extra=API), "5xx"),
                target(ratio(REQUESTS, CLIENT_ERRORS, extra=API), "4xx"),
            ],
            unit="percentunit",
            steps=red_above(ERROR_RATIO),
        ),
        timeseries(
            "Latency percentiles",
            "How long do requests to the selected routes take at p50, p95 and p99? The REST "
            f"alert fires when p95 stays above {REST_P95_SECONDS:g} s.",
            [target(quantile(q, DURATION, extra=HTTP), percentile(q)) for q in (0.5, 0.95, 0.99)],
            unit="s",
            steps=red_above(REST_P95_SECONDS),
        ),
        timeseries(
            "p95 latency by route",
            "Which route is slow? p95 per route template; unmatched paths are none.",
            [target(quantile(0.95, DURATION, "route", HTTP), "{{route}}")],
            unit="s",
            steps=red_above(REST_P95_SECONDS),
        ),
        timeseries(
            "In-flight requests by pod",
            "Is one pod busier than the others (uneven balancing, a stuck worker)?",
            [target(f"sum by (pod) ({sel('http_requests_in_flight')})", "{{pod}}")],
            unit="short",
        ),
    ]


def _saturation() -> list[dict[str, Any]]:
    return [
        timeseries(
            "Shed requests by reason",
            "Is the service refusing work to protect itself? queue_full: 503, too many steps "
            "queued on a worker; deadline: 504, the request deadline passed.",
            [target(f"sum by (reason) ({rate('chemagent_requests_shed_total')})", "{{reason}}")],
            unit="reqps",
            steps=red_above(0.001),
        ),
        timeseries(
            "ChemAgent alerts",
            "Which ChemAgent alerts are pending or firing in this namespace?",
            [target(f"sum by (alertname, alertstate) ({ALERTS})", "{{alertname}} {{alertstate}}")],
            unit="short",
        ),
        timeseries(
            "CPU by pod",
            "How many cores does each pod use (gunicorn master and workers summed)? Compare "
            "with its CPU request.",
            [target(f"sum by (pod) ({rate('process_cpu_seconds_total')})", "{{pod}}")],
            unit="short",
        ),
        timeseries(
            "Resident memory by pod",
            "How much memory does each pod hold (master and workers summed)? Compare with its "
            "memory limit.",
            [target(f"sum by (pod) ({sel('process_resident_memory_bytes')})", "{{pod}}")],
            unit="bytes",
        ),
        table(
            "Builds running",
            "Which builds (service version, git commit, RDKit) run, on how many pods? Two rows "
            "during a rollout.",
            f"count by (version, commit, rdkit) ({sel('chemagent_build_info')})",
            width=24,
            height=5,
        ),
    ]


def build() -> dict[str, Any]:
    return dashboard(
        "chemagent-overview",
        "ChemAgent / Overview",
        "Traffic, errors, latency, saturation, pods and versions of ChemAgent.",
        [*_stats(), *_traffic(), *_saturation()],
        common_variables(route_hidden=False),
    )
