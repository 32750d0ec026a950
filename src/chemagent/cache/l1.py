"""L1: a bounded in-process LRU of decoded envelopes, each with its own expiry.

Each entry expires at its own time (``retain_until``, set by the caller): TTLs differ per
step kind, negative entries live a minute, stale-servable entries outlive their
freshness. Entries are the decoded :class:`~chemagent.cache.codec.Envelope` objects, so a
hit costs a dict lookup and no decoding; the values are shared, and callers must treat
them as read-only. Not thread-safe: it is used from the event loop only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache

from chemagent.cache.codec import Envelope

DEFAULT_MAX_BYTES = 128 * 1024 * 1024
"""Default bound on the estimated size of one worker's L1."""


@dataclass(frozen=True, slots=True)
class _Entry:
    envelope: Envelope
    retain_until: float
    size: int


def _size_of(entry: _Entry) -> int:
    return entry.size


def _retain_until(_key: str, entry: _Entry, _now: float) -> float:
    return entry.retain_until


class _CountingTLRU(TLRUCache[str, _Entry, float]):
    """A TLRU cache that counts the entries evicted to make room (not the expired ones)."""

    evictions = 0

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self.evictions += 1
        return item


class L1Cache:
    """At most ``maxsize`` envelopes and ``max_bytes``, least recently used evicted first.

    Two bounds, because entries differ by three orders of magnitude: a property panel is
    ~2 KiB in memory, a 1,000-hit search ~300 KiB. The count bounds bookkeeping, the bytes
    bound memory. Sizes are estimates given by the caller (the JSON length of the value;
    the decoded Python objects take about 1.2x that).

    Args:
        maxsize: most entries; 0 disables L1 (every get misses, every set is dropped).
        max_bytes: most estimated bytes; an entry larger than this is not kept.
        clock: wall-clock seconds (epoch), the same clock the envelopes' times use.
    """

    def __init__(
        self,
        maxsize: int,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if maxsize < 0 or max_bytes < 1:
            raise ValueError("L1 size cannot be negative and max_bytes must be positive")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.too_large = 0
        self._clock = clock
        self._entries = self._new_store(evictions=0)

    def _new_store(self, *, evictions: int) -> _CountingTLRU | None:
        if not self.maxsize:
            return None
        store = _CountingTLRU(self.max_bytes, _retain_until, self._clock, _size_of)
        store.evictions = evictions
        return store

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    @property
    def evictions(self) -> int:
        """Entries evicted to make room since start (expiries are not evictions)."""
        return self._entries.evictions if self._entries is not None else 0

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        self._entries.expire()
        return len(self._entries)

    def get(self, key: str) -> Envelope | None:
        """The envelope stored under ``key``, or None (absent or past ``retain_until``)."""
        if self._entries is None:
            return None
        entry = self._entries.get(key)
        return entry.envelope if entry is not None else None

    @property
    def entries(self) -> int:
        """Entries held, expired ones not yet dropped included (no expiry pass: O(1))."""
        return len(self._entries) if self._entries is not None else 0

    @property
    def bytes(self) -> int:
        """The estimated size of the entries held."""
        return int(self._entries.currsize) if self._entries is not None else 0

    def set(self, key: str, envelope: Envelope, retain_until: float, size: int = 1) -> None:
        """Store ``envelope`` until ``retain_until`` (epoch seconds); a past time stores nothing.

        ``size`` is the entry's estimated bytes; one larger than ``max_bytes`` is dropped
        (and counted in :attr:`too_large`), evicting nothing.
        """
        store = self._entries
        if store is None:
            return
        if size > self.max_bytes:
            self.too_large += 1
            store.pop(key, None)
            return
        if key not in store:
            store.expire()
            while len(store) >= self.maxsize:
                store.popitem()
        store[key] = _Entry(envelope, retain_until, max(1, size))

    def delete(self, key: str) -> int:
        """Remove ``key``; returns 1 if it was there, else 0."""
        if self._entries is None or self._entries.pop(key, None) is None:
            return 0
        return 1

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; returns how many were removed."""
        if self._entries is None:
            return 0
        doomed = [key for key in list(self._entries.keys()) if key.startswith(prefix)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    def clear(self) -> int:
        """Remove everything; returns how many entries were removed."""
        removed = len(self)
        # A fresh store: MutableMapping.clear() pops one by one, which would count evictions.
        self._entries = self._new_store(evictions=self.evictions)
        return removed
