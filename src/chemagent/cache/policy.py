"""How long each step kind is cached, and how it is protected: :class:`CachePolicy`.

Defaults, and why:

- Results over the bundled library are pure functions of (input, params, RDKit version,
  library version), all of which are in the key; they only go stale when the key changes.
  The TTL (default 24 h) just bounds memory and Redis growth.
- ``targets`` comes from the ChEMBL upstream, which changes under us: 1 h fresh, then
  served stale for 5 min while one request refreshes it, and for 24 h if the upstream
  is down (stale-if-error) instead of failing.
- Negative entries ("not found") live 60 s: long enough to absorb a retry storm, short
  enough that a compound added upstream shows up within a minute.
- ``keep``, ``rank`` and ``compare`` are uncacheable: they reorder or filter records
  that are already in their input (the output of a cached step), take microseconds, and
  would only store a second copy of those records under a key hashing the whole input.
- ``compound`` is local (L1 only): an ID lookup (16 µs) costs less than a Redis round
  trip (~100-300 µs). ``parse`` is not, though its RDKit work is only ~0.12 ms: run
  through the CPU pool on a busy server it measured 0.8-1.2 ms (the thread hop and the
  GIL), more than an L2 read (~0.2-0.45 ms) that also leaves the pool free
  (docs/BENCHMARKS.md, cache section).
- ``similarity``, ``substructure``, ``filter`` and ``targets`` are expensive (a library
  scan, or an upstream call): a cold miss takes the cross-pod lock so one pod computes
  while the others wait briefly for its result.
- L1 entries live at most 5 min (``l1_max_ttl``) even when the value's TTL is longer:
  an invalidation clears L2 and this worker's L1, and the cap bounds how long other
  workers' L1 may still serve what was invalidated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DAY = 86_400.0
DEFAULT_TTLS: Mapping[str, float] = MappingProxyType({"targets": 3600.0})
DEFAULT_STALE_WHILE_REVALIDATE: Mapping[str, float] = MappingProxyType({"targets": 300.0})
DEFAULT_STALE_IF_ERROR: Mapping[str, float] = MappingProxyType({"targets": DAY})
UNCACHEABLE = frozenset({"keep", "rank", "compare"})
LOCAL_ONLY = frozenset({"compound"})
EXPENSIVE = frozenset({"similarity", "substructure", "filter", "targets"})


@dataclass(frozen=True)
class CachePolicy:
    """TTLs and protections per step kind; build once from settings.

    Per-kind tables replace the defaults as a whole; to change one kind, merge:
    ``CachePolicy(ttl={**DEFAULT_TTLS, "similarity": 600.0})``.

    Attributes:
        default_ttl: seconds a value stays fresh when its kind has no entry in ``ttl``.
        ttl: fresh seconds per kind, overriding ``default_ttl``.
        negative_ttl: seconds a "not found" is cached.
        stale_while_revalidate: seconds past expiry a value is still served while one
            background refresh runs, per kind (default 0: none).
        stale_if_error: seconds past expiry a value is served when recomputing it fails,
            per kind (default 0: none).
        uncacheable: kinds never cached (computed every time).
        local_only: kinds cached in L1 only.
        expensive: kinds whose cold misses take the cross-pod lock.
        l1_max_ttl: most seconds an entry stays in L1 (``None``: as long as its TTL).
    """

    default_ttl: float = DAY
    ttl: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TTLS)
    negative_ttl: float = 60.0
    stale_while_revalidate: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_STALE_WHILE_REVALIDATE
    )
    stale_if_error: Mapping[str, float] = field(default_factory=lambda: DEFAULT_STALE_IF_ERROR)
    uncacheable: frozenset[str] = UNCACHEABLE
    local_only: frozenset[str] = LOCAL_ONLY
    expensive: frozenset[str] = EXPENSIVE
    l1_max_ttl: float | None = 300.0

    def __post_init__(self) -> None:
        if self.default_ttl <= 0 or self.negative_ttl <= 0:
            raise ValueError("cache TTLs must be positive")
        if self.l1_max_ttl is not None and self.l1_max_ttl <= 0:
            raise ValueError("l1_max_ttl must be positive (or None for no cap)")
        bad = {k: s for k, s in self.ttl.items() if s <= 0}
        for window in (self.stale_while_revalidate, self.stale_if_error):
            bad.update({k: s for k, s in window.items() if s < 0})
        if bad:
            raise ValueError(f"cache TTLs and stale windows out of range, by kind: {bad}")

    def ttl_of(self, kind: str) -> float:
        """Seconds a value of ``kind`` stays fresh."""
        return self.ttl.get(kind, self.default_ttl)

    def swr_of(self, kind: str) -> float:
        """Stale-while-revalidate window of ``kind``, in seconds."""
        return self.stale_while_revalidate.get(kind, 0.0)

    def sie_of(self, kind: str) -> float:
        """Stale-if-error window of ``kind``, in seconds."""
        return self.stale_if_error.get(kind, 0.0)

    def retention_of(self, kind: str) -> float:
        """Seconds past expiry a value of ``kind`` must be kept to serve it stale."""
        return max(self.swr_of(kind), self.sie_of(kind))

    def cacheable(self, kind: str) -> bool:
        """Whether results of ``kind`` are cached at all."""
        return kind not in self.uncacheable

    def uses_l2(self, kind: str) -> bool:
        """Whether results of ``kind`` go to the shared L2."""
        return kind not in self.local_only

    def is_expensive(self, kind: str) -> bool:
        """Whether a cold miss of ``kind`` takes the cross-pod lock."""
        return kind in self.expensive
