"""Recorders for upstream calls: latency by status, circuit state, LLM classification results.

The clients in ``sources/`` know nothing of Prometheus: they report to these objects
(:class:`~chemagent.sources.llm.UpstreamTelemetry`, a result callback). Label children
are created on first use and kept (:class:`~.metrics.Children`).
"""

from __future__ import annotations

from prometheus_client import Gauge

from chemagent.observability.metrics import (
    LLM_CLASSIFICATIONS,
    UPSTREAM_CIRCUIT_OPEN,
    UPSTREAM_DURATION,
    Children,
)


class UpstreamMetrics:
    """``chemagent_upstream_request_duration_seconds`` and ``..._circuit_open`` of one upstream.

    Args:
        upstream: the ``upstream`` label (``llm``, ``chembl``).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._durations = Children(UPSTREAM_DURATION)
        self._circuit: Gauge | None = None

    def request(self, endpoint: str, status: str, seconds: float) -> None:
        self._durations[self.upstream, endpoint, status].observe(seconds)

    def circuit(self, is_open: bool) -> None:
        if self._circuit is None:
            self._circuit = UPSTREAM_CIRCUIT_OPEN.labels(self.upstream)
        self._circuit.set(1 if is_open else 0)


class LLMClassificationMetrics:
    """``chemagent_llm_classifications_total``: a result observer of the LLM fallback."""

    def __init__(self) -> None:
        self._children = Children(LLM_CLASSIFICATIONS)

    def __call__(self, result: str) -> None:
        self._children[(result,)].inc()
