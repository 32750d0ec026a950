"""What the tiered cache counts: per-tier lookups and latency, and its computations.

Kept apart from :mod:`chemagent.cache.tiered` (the rules between the tiers) so the rules
read without the bookkeeping. Every count that has a metric is also handed to the
:class:`~chemagent.cache.telemetry.CacheTelemetry`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import L2Store
from chemagent.cache.telemetry import CacheTelemetry, NoTelemetry

L1, L2 = "l1", "l2"


@dataclass
class TierStats:
    """Lookups of one tier since start."""

    hits: int = 0
    misses: int = 0
    errors: int = 0
    stale: int = 0
    corrupt: int = 0
    latency_count: int = 0
    latency_seconds_sum: float = 0.0


@dataclass
class Counters:
    """Computations and protections since start."""

    computes: int = 0
    compute_errors: int = 0
    compute_seconds_sum: float = 0.0
    coalesced: int = 0
    bypassed: int = 0
    encode_errors: int = 0
    negative_stored: int = 0
    negative_hits: int = 0
    refreshes: int = 0
    refresh_errors: int = 0
    stale_if_error: int = 0
    locks_acquired: int = 0
    lock_waits: int = 0
    lock_wait_hits: int = 0


class Accounts:
    """The counters of one :class:`~chemagent.cache.tiered.TieredCache`."""

    def __init__(self, telemetry: CacheTelemetry | None = None) -> None:
        self.tiers = {L1: TierStats(), L2: TierStats()}
        self.counters = Counters()
        self.telemetry = telemetry or NoTelemetry()

    def count(self, tier: str, result: str) -> None:
        """A lookup in ``tier`` ended with ``result``: hit, miss, stale or error."""
        stats = self.tiers[tier]
        if result == "hit":
            stats.hits += 1
        elif result == "miss":
            stats.misses += 1
        elif result == "stale":
            stats.stale += 1
        else:
            stats.errors += 1
        self.telemetry.request(tier, result)

    def observe(self, tier: str, seconds: float) -> None:
        """A read of ``tier`` took ``seconds``."""
        stats = self.tiers[tier]
        stats.latency_count += 1
        stats.latency_seconds_sum += seconds
        if tier == L1:  # the L2 store times its own calls, failures included
            self.telemetry.operation(L1, "get", seconds)

    def l1_usage(self, l1: L1Cache) -> None:
        """Report L1's size after it changed."""
        self.telemetry.l1_usage(l1.entries, l1.bytes, l1.evictions)

    def snapshot(self, l1: L1Cache, l2: L2Store) -> dict[str, Any]:
        """Plain counters per tier (with each tier's own numbers) and the computations."""
        first = asdict(self.tiers[L1])
        del first["errors"], first["corrupt"]  # a dict lookup neither fails nor decodes
        first.update(
            entries=len(l1),
            evictions=l1.evictions,
            maxsize=l1.maxsize,
            bytes=l1.bytes,
            max_bytes=l1.max_bytes,
            too_large=l1.too_large,
        )
        second = asdict(self.tiers[L2])
        second.update(state=l2.state, store=l2.stats())
        return {"l1": first, "l2": second, **asdict(self.counters)}
