"""PromQL pieces shared by the dashboards: selectors scoped by the template variables,
rates, quantiles, ratios, and the variables every dashboard carries.

Every selector carries ``job=~"$job", namespace=~"$namespace", pod=~"$pod"`` so the
variables filter every panel (a test checks). The alert thresholds come from
``gen_alerts.py``, so a panel's red line is where its alert fires.
"""

from __future__ import annotations

from typing import Any

from gen_alerts import LONG_ROUTES, OPS_ROUTES

from dashboards.builder import Steps, datasource_variable, query_variable

SCOPE = 'job=~"$job", namespace=~"$namespace", pod=~"$pod"'
RATE_WINDOW = "$__rate_interval"
HTTP = 'route=~"$route"'
API = f'route=~"$route", route!~"{OPS_ROUTES}"'  # as the alerts count: no scrapes or probes
REST = f'route=~"$route", route!~"{OPS_ROUTES}|{LONG_ROUTES}"'  # the latency alert's routes
SCRAPES = 'route="/metrics"'  # Prometheus's own requests: the counter that always moves
MISS = 'cache="miss"'
SERVED = 'result=~"hit|stale"'  # from a cache tier, fresh or stale
STALE = 'result="stale"'
L1 = 'tier="l1"'  # every lookup starts in L1


def red_above(limit: float) -> Steps:
    return (("green", None), ("red", limit))


def good_above(limit: float) -> Steps:
    return (("red", None), ("green", limit))


def sel(metric: str, extra: str = "") -> str:
    """``metric{job, namespace, pod matchers[, extra]}``."""
    return f"{metric}{{{SCOPE}{', ' + extra if extra else ''}}}"


def rate(metric: str, extra: str = "") -> str:
    return f"rate({sel(metric, extra)}[{RATE_WINDOW}])"


def percentile(q: float) -> str:
    return f"p{round(q * 100)}"


def quantile(q: float, histogram: str, by: str = "", extra: str = "") -> str:
    """``histogram_quantile`` of ``histogram``'s buckets summed by ``by`` and ``le``."""
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) ({rate(histogram + '_bucket', extra)}))"


def ratio(metric: str, part: str, by: str = "", extra: str = "") -> str:
    """Share of ``metric``'s rate matching ``part``; 0, not missing, while none does."""
    group = f" by ({by})" if by else ""
    whole = f"sum{group} ({rate(metric, extra)})"
    both = f"{extra}, {part}" if extra else part
    zero = f"{whole} * 0" if by else "vector(0)"
    return f"(sum{group} ({rate(metric, both)}) or {zero}) / {whole}"


def common_variables(*, route_hidden: bool) -> list[dict[str, Any]]:
    """datasource, job, namespace, pod and route: the same on every dashboard, so the links
    between them keep the selection (``route`` is hidden where no panel uses it)."""
    scoped = 'job=~"$job", namespace=~"$namespace"'
    return [
        datasource_variable(),
        query_variable("job", "Job", "label_values(chemagent_build_info, job)", multi=False),
        query_variable(
            "namespace",
            "Namespace",
            'label_values(chemagent_build_info{job=~"$job"}, namespace)',
            multi=False,
        ),
        query_variable("pod", "Pod", f"label_values(chemagent_build_info{{{scoped}}}, pod)"),
        query_variable(
            "route",
            "Route",
            f"label_values(http_requests_total{{{scoped}}}, route)",
            hide=2 if route_hidden else 0,
            description="Route template (unmatched paths: none)",
        ),
    ]


def label_variable(name: str, label: str, metric: str) -> dict[str, Any]:
    """A multi-value variable over the values of label ``name`` of ``metric``."""
    scoped = 'job=~"$job", namespace=~"$namespace"'
    return query_variable(name, label, f"label_values({metric}{{{scoped}}}, {name})")
