"""Recorders for upstream calls: latency by status, circuit state, LLM classification results.

The clients in ``sources/`` know nothing of Prometheus: they report to these objects
(:class:`~chemagent.sources.llm.UpstreamTelemetry`, a result callback). Label children
are created on first use and kept, like the other recorders.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from chemagent.observability.metrics import (
    LLM_CLASSIFICATIONS,
    UPSTREAM_CIRCUIT_OPEN,
    UPSTREAM_DURATION,
)


class UpstreamMetrics:
    """``chemagent_upstream_request_duration_seconds`` and ``..._circuit_open`` of one upstream.

    Args:
        upstream: the ``upstream`` label (``llm``, ``chembl``).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._durations: dict[tuple[str, str], Histogram] = {}
        self._circuit: Gauge | None = None

    def request(self, endpoint: str, status: str, seconds: float) -> None:
        child = self._durations.get((endpoint, status))
        if child is None:
            child = self._durations[endpoint, status] = UPSTREAM_DURATION.labels(
                self.upstream, endpoint, status
            )
        child.observe(seconds)

    def circuit(self, is_open: bool) -> None:
        if self._circuit is None:
            self._circuit = UPSTREAM_CIRCUIT_OPEN.labels(self.upstream)
        self._circuit.set(1 if is_open else 0)


class LLMClassificationMetrics:
    """``chemagent_llm_classifications_total``: a result observer of the LLM fallback."""

    def __init__(self) -> None:
        self._children: dict[str, Counter] = {}

    def __call__(self, result: str) -> None:
        child = self._children.get(result)
        if child is None:
            child = self._children[result] = LLM_CLASSIFICATIONS.labels(result)
        child.inc()
