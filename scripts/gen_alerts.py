"""Write ChemAgent's Prometheus rules: prometheus/alerts.yml and the PrometheusRule.

The recording and alerting rules are defined once, here, and written to two files:

* ``prometheus/alerts.yml``: a plain rules file (``rule_files`` of a Prometheus, promtool);
* ``kubernetes/base/monitoring/prometheusrule.yaml``: the same groups as a
  ``PrometheusRule`` for the Prometheus Operator.

Both are committed; ``tests/unit/test_alert_rules.py`` fails when either differs from what
this script writes, so edit the rules here and run ``python scripts/gen_alerts.py``
(``--check`` only reports). The thresholds below are also drawn on the Grafana panels
(``scripts/gen_dashboards.py`` imports them). No YAML library is needed: the writer below
handles the few shapes a rules file has.

Labels: Prometheus (a ``ServiceMonitor``, or ``prometheus/prometheus.yml``) adds ``job``
(the Service's name, ``chemagent``), ``namespace`` and ``pod``; the alerts group by
``namespace`` so each deployment (dev, staging, prod) alerts on its own.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES_FILE = ROOT / "prometheus" / "alerts.yml"
PROMETHEUS_RULE_FILE = ROOT / "kubernetes" / "base" / "monitoring" / "prometheusrule.yaml"
RUNBOOK = "docs/OPERATIONS.md"  # a repository URL can replace it once the project has one

JOB = 'job="chemagent"'
# Scrapes and kubelet probes: frequent, fast and always 200; they would dilute the ratios.
OPS_ROUTES = "/metrics|/healthz|/readyz"
# Routes whose time is the client's choice (a batch of 1,000, a query plan, an SSE stream,
# a cache warm-up): outside the REST latency objective; queries have their own alert.
LONG_ROUTES = "/v1/query|/v1/query/stream|/v1/batch|/v1/cache|/v1/cache/warm"

ERROR_RATIO = 0.05  # the objective: 5xx over API requests
MIN_REQUESTS_PER_SECOND = 0.1  # 30 requests in 5 min: below that 2 errors would be 5%
# A lookup answers in < 1 ms, a cold property panel in 6-10 ms, a similarity search of
# 1.6M compounds in ~30 ms (docs/OPERATIONS.md, sizing): a p95 of 1 s (a bucket bound, so
# histogram_quantile is exact there) is 30x the slowest normal REST call, i.e. requests
# queue for the CPU pool or Redis/ChEMBL answers slowly.
REST_P95_SECONDS = 1.0
# Offline queries take milliseconds; the LLM fallback's deadline is 5 s: a p95 above it
# means the tail is made of upstream timeouts, not of work.
QUERY_P95_SECONDS = 5.0
CACHE_HIT_RATIO = 0.5
MIN_CACHE_LOOKUPS_PER_SECOND = 1.0  # below that the hit ratio costs nothing worth paging
RESTARTS_IN_30M = 2


@dataclass(frozen=True)
class Recording:
    """A recording rule: ``record`` = the value of ``expr`` at each evaluation."""

    record: str
    expr: str

    def rule(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class Alert:
    """An alerting rule; its runbook is the ``### <name>`` section of docs/OPERATIONS.md."""

    name: str
    expr: str
    severity: str  # critical: page someone; warning: look within the working day
    summary: str
    description: str
    for_: str = "0m"

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK}#{self.name.lower()}"

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
        }
        return rule


def _api(extra: str = "") -> str:
    """The selector of API requests (scrapes and probes left out), plus ``extra``."""
    return f'http_requests_total{{{JOB}, route!~"{OPS_ROUTES}"{extra}}}'


REQUESTS = "namespace_job:http_requests:rate5m"
ERROR_RATIO_RULE = "namespace_job:http_request_errors:ratio_rate5m"
REST_P95 = "namespace_job:http_request_duration_seconds:p95_rate5m"
QUERY_P95 = "namespace_job:chemagent_query_duration_seconds:p95_rate5m"
LOOKUPS = "namespace_job:chemagent_cache_lookups:rate5m"
HIT_RATIO = "namespace_job:chemagent_cache_hits:ratio_rate5m"
RESTARTS = "namespace_job_pod:chemagent_restarts:count30m"

RECORDINGS = (
    Recording(REQUESTS, f"sum by (namespace, job) (rate({_api()}[5m]))"),
    # "or ... * 0": 0 rather than no series while nothing failed.
    Recording(
        ERROR_RATIO_RULE,
        f"""(
  sum by (namespace, job) (rate({_api(', status=~"5.."')}[5m]))
or
  {REQUESTS} * 0
)
/ {REQUESTS}""",
    ),
    Recording(
        REST_P95,
        f"""histogram_quantile(0.95, sum by (namespace, job, le) (
  rate(http_request_duration_seconds_bucket{{{JOB}, route!~"{OPS_ROUTES}|{LONG_ROUTES}"}}[5m])
))""",
    ),
    Recording(
        QUERY_P95,
        f"""histogram_quantile(0.95, sum by (namespace, job, le) (
  rate(chemagent_query_duration_seconds_bucket{{{JOB}}}[5m])
))""",
    ),
    # Every lookup starts in L1; an L1 miss goes on to L2 (when the kind is shared).
    Recording(
        LOOKUPS,
        f'sum by (namespace, job) (rate(chemagent_cache_requests_total{{{JOB}, tier="l1"}}[5m]))',
    ),
    # Combined hit ratio: lookups answered from L1 or L2 (fresh, or stale while it is
    # refreshed) over all lookups; 1 - ratio = the share that had to be computed.
    Recording(
        HIT_RATIO,
        f"""(
  sum by (namespace, job) (
    rate(chemagent_cache_requests_total{{{JOB}, result=~"hit|stale"}}[5m])
  )
or
  {LOOKUPS} * 0
)
/ {LOOKUPS}""",
    ),
    # A restarted container starts its counters from zero (gunicorn empties the
    # multiprocess directory): Prometheus's own scrapes make /metrics' counter the one
    # that always moves, so each restart is one reset of it. Works with 1 worker or N,
    # needs no kube-state-metrics, and ignores gunicorn replacing a single worker.
    Recording(
        RESTARTS,
        "max by (namespace, job, pod) (\n"
        f'  resets(http_requests_total{{{JOB}, route="/metrics"}}[30m])\n'
        ")",
    ),
)

ALERTS = (
    Alert(
        "ChemAgentHighErrorRatio",
        f"{ERROR_RATIO_RULE} > {ERROR_RATIO:g}\n"
        f"and on (namespace, job) {REQUESTS} > {MIN_REQUESTS_PER_SECOND:g}",
        "critical",
        "ChemAgent in {{ $labels.namespace }} fails {{ $value | humanizePercentage }} "
        "of API requests with a 5xx",
        f"More than {ERROR_RATIO:.0%} of API requests (probes and scrapes left out) got a "
        "server error for 5 minutes. A 5xx is a bug or a dependency down, never a user "
        "mistake: find the route on the Overview dashboard and the tracebacks in the logs.",
        for_="5m",
    ),
    Alert(
        "ChemAgentHighLatency",
        f"{REST_P95} > {REST_P95_SECONDS:g}",
        "warning",
        "ChemAgent in {{ $labels.namespace }} answers REST calls in "
        "{{ $value | humanizeDuration }} at p95",
        f"The 95th percentile of REST calls (queries, batches, streams and cache admin left "
        f"out) has been above {REST_P95_SECONDS:g} s for 10 minutes; normal calls take "
        "milliseconds. Requests are queueing for the CPU pool, or Redis or the ChEMBL "
        "upstream is slow.",
        for_="10m",
    ),
    Alert(
        "ChemAgentSlowQueries",
        f"{QUERY_P95} > {QUERY_P95_SECONDS:g}",
        "warning",
        "ChemAgent in {{ $labels.namespace }} answers queries in "
        "{{ $value | humanizeDuration }} at p95",
        f"The 95th percentile of plain-English queries has been above {QUERY_P95_SECONDS:g} s "
        "for 10 minutes. Offline queries take milliseconds, so the tail is made of upstream "
        "(ChEMBL, LLM) calls running into their deadlines, or of queueing.",
        for_="10m",
    ),
    Alert(
        "ChemAgentLowCacheHitRatio",
        f"{HIT_RATIO} < {CACHE_HIT_RATIO:g}\n"
        f"and on (namespace, job) {LOOKUPS} > {MIN_CACHE_LOOKUPS_PER_SECOND:g}",
        "warning",
        "ChemAgent in {{ $labels.namespace }} serves only {{ $value | humanizePercentage }} "
        "of cache lookups from L1 or L2",
        f"Under {CACHE_HIT_RATIO:.0%} of step lookups were answered from L1 or L2 for 15 "
        "minutes: most steps are being computed. Expected for a while after a deploy that "
        "changed RDKit or the library (a new cache namespace starts empty); otherwise Redis "
        "is degraded, TTLs are short, or the traffic is unusually diverse.",
        for_="15m",
    ),
    Alert(
        "ChemAgentRedisDegraded",
        "max by (namespace, job) (\n"
        f"  max_over_time(chemagent_cache_l2_degraded{{{JOB}}}[1m])\n"
        ") == 1",
        "warning",
        "ChemAgent in {{ $labels.namespace }} runs without its shared Redis cache",
        "Redis has been failing, or skipped by the circuit breaker, for 5 minutes. Requests "
        "are still answered (from L1 and by computing), but cold steps are slower and every "
        "pod computes what the others already have.",
        for_="5m",
    ),
    Alert(
        "ChemAgentUpstreamCircuitOpen",
        "max by (namespace, job, upstream) (\n"
        f"  max_over_time(chemagent_upstream_circuit_open{{{JOB}}}[1m])\n"
        ") == 1",
        "warning",
        "ChemAgent in {{ $labels.namespace }} skips the {{ $labels.upstream }} upstream "
        "(circuit open)",
        "The circuit breaker of the {{ $labels.upstream }} upstream has been open for 2 "
        "minutes: calls fail fast instead of waiting. Answers that need it (targets, "
        "compounds outside the library, LLM fallback) fail or are served stale.",
        for_="2m",
    ),
    Alert(
        "ChemAgentRequestsShed",
        "sum by (namespace, job, reason) (\n"
        f"  rate(chemagent_requests_shed_total{{{JOB}}}[5m])\n"
        ") > 0",
        "warning",
        "ChemAgent in {{ $labels.namespace }} is shedding requests ({{ $labels.reason }})",
        "Requests have been refused (503 overloaded) or cut at their deadline (504) "
        "within the last 5 minutes, for 2 minutes running: the pods lack capacity for "
        "the load.",
        for_="2m",
    ),
    Alert(
        "ChemAgentTargetDown",
        f"up{{{JOB}}} == 0",
        "warning",
        "Prometheus cannot scrape ChemAgent pod {{ $labels.pod }} in {{ $labels.namespace }}",
        "The scrape of {{ $labels.instance }} has failed for 2 minutes: the pod is down, "
        "stuck, or its /metrics does not answer within the scrape timeout.",
        for_="2m",
    ),
    Alert(
        "ChemAgentDown",
        f"sum by (namespace, job) (up{{{JOB}}}) == 0\nor absent(up{{{JOB}}})",
        "critical",
        "No ChemAgent pod answers Prometheus{{ with $labels.namespace }} in {{ . }}{{ end }}",
        "Every ChemAgent target has failed its scrape for 1 minute, or Prometheus finds no "
        "target at all (deployment or ServiceMonitor gone): the service is down.",
        for_="1m",
    ),
    Alert(
        "ChemAgentRestarting",
        f"{RESTARTS} >= {RESTARTS_IN_30M}",
        "warning",
        "ChemAgent pod {{ $labels.pod }} restarted {{ $value }} times in 30 minutes",
        "The pod's container started again and again (its counters went back to zero): "
        "crashes, OOM kills or failed liveness probes.",
    ),
)


def rule_groups() -> dict[str, Any]:
    """The rules file's content: one group of recording rules, one of alerts."""
    return {
        "groups": [
            {"name": "chemagent.recording", "rules": [r.rule() for r in RECORDINGS]},
            {"name": "chemagent.alerts", "rules": [a.rule() for a in ALERTS]},
        ]
    }


# --- YAML (PyYAML, with PromQL as literal blocks: it reads better without escapes) -------


class _Dumper(yaml.SafeDumper):
    """Block style everywhere; multi-line or quoted text as ``|-`` literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value or '"' in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(value: Any) -> str:
    """``value`` as block-style YAML, keys in their given order."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


HEADER = (
    "# GENERATED by scripts/gen_alerts.py from the rules defined there: edit them there and\n"
    "# run `python scripts/gen_alerts.py` (tests/unit/test_alert_rules.py checks this file).\n"
)


def render_rules() -> str:
    """The text of prometheus/alerts.yml."""
    return HEADER + dump(rule_groups())


def render_prometheus_rule() -> str:
    """The text of the PrometheusRule: the same groups under ``spec``."""
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "chemagent",
            "labels": {
                "app.kubernetes.io/name": "chemagent",
                "app.kubernetes.io/component": "monitoring",
            },
        },
        "spec": rule_groups(),
    }
    return HEADER + dump(document)


OUTPUTS = {RULES_FILE: render_rules, PROMETHEUS_RULE_FILE: render_prometheus_rule}


def write_or_check(outputs: dict[Path, str], argv: list[str] | None, description: str) -> int:
    """Write each generated file whose text changed, or with ``--check`` only list them.

    The command line of both generators (this one and gen_dashboards.py): exit 1 when
    ``--check`` finds a stale file, else 0.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if args.check and stale else 0


def main(argv: list[str] | None = None) -> int:
    outputs = {path: render() for path, render in OUTPUTS.items()}
    return write_or_check(outputs, argv, __doc__.split("\n", 1)[0])


if __name__ == "__main__":
    sys.exit(main())
