"""How the cache reports to metrics without depending on a metrics library.

:class:`~chemagent.cache.tiered.TieredCache` and :class:`~chemagent.cache.l2.RedisL2`
call a :class:`CacheTelemetry` at the points they already count; the app passes the
Prometheus implementation (:mod:`chemagent.observability.recorders`), tests pass a
recorder or nothing. Label values come from small fixed sets, never from keys.
"""

from __future__ import annotations

from typing import Protocol

RESULTS = ("hit", "miss", "error", "stale")
"""Values of ``result`` in :meth:`CacheTelemetry.request`."""


class CacheTelemetry(Protocol):
    """Receives one call per cache lookup outcome and per timed tier operation."""

    def request(self, tier: str, result: str) -> None:
        """A lookup in ``tier`` (l1, l2) ended with ``result`` (one of :data:`RESULTS`)."""
        ...

    def operation(self, tier: str, op: str, seconds: float) -> None:
        """An operation ``op`` (get, set, delete, scan, lock, unlock, publish) on ``tier`` took
        ``seconds``, whether it succeeded or failed."""
        ...

    def computed(self, kind: str) -> None:
        """A value of step ``kind`` was computed (once per computation, however many
        callers awaited it)."""
        ...

    def l1_usage(self, entries: int, size: int, evictions: int) -> None:
        """L1 now holds ``entries`` of ``size`` estimated bytes; ``evictions`` since start."""
        ...

    def l2_state(self, state: str) -> None:
        """The L2 tier's state changed to ok, degraded or disabled."""
        ...


class NoTelemetry:
    """The default: reports nowhere."""

    def request(self, tier: str, result: str) -> None:
        pass

    def operation(self, tier: str, op: str, seconds: float) -> None:
        pass

    def computed(self, kind: str) -> None:
        pass

    def l1_usage(self, entries: int, size: int, evictions: int) -> None:
        pass

    def l2_state(self, state: str) -> None:
        pass
