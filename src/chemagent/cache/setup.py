"""Build the step cache of one worker from settings: :func:`build_cache`."""

from __future__ import annotations

from collections.abc import Iterable

from chemagent.cache.broadcast import InvalidationBroadcast
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import DisabledL2, L2Store, RedisL2
from chemagent.cache.policy import DEFAULT_TTLS, CachePolicy
from chemagent.cache.telemetry import CacheTelemetry
from chemagent.cache.tiered import TieredCache
from chemagent.settings import Settings


def policy_from(settings: Settings, known_kinds: Iterable[str]) -> CachePolicy:
    """The cache policy the settings describe.

    Raises:
        ValueError: ``CHEMAGENT_CACHE_KIND_TTLS`` names a step kind that does not exist
            (a typo would otherwise silently keep the default).
    """
    known = set(known_kinds)
    unknown = sorted(set(settings.cache_kind_ttls) - known)
    if unknown:
        raise ValueError(
            f"CHEMAGENT_CACHE_KIND_TTLS names unknown step kinds {unknown}; "
            f"known kinds: {sorted(known)}"
        )
    return CachePolicy(
        default_ttl=settings.cache_ttl_seconds,
        ttl={**DEFAULT_TTLS, **settings.cache_kind_ttls},
        negative_ttl=settings.cache_negative_ttl_seconds,
        l1_max_ttl=settings.cache_l1_max_ttl_seconds,
    )


def l2_from(settings: Settings, telemetry: CacheTelemetry | None = None) -> L2Store:
    """Redis when ``CHEMAGENT_REDIS_URL`` is set, else the disabled tier."""
    if not settings.redis_url:
        return DisabledL2()
    return RedisL2.from_url(
        settings.redis_url,
        deadline_seconds=settings.redis_timeout_seconds,
        breaker_failures=settings.redis_breaker_failures,
        breaker_reset_seconds=settings.redis_breaker_reset_seconds,
        max_connections=settings.redis_max_connections,
        telemetry=telemetry,
    )


def broadcast_from(
    settings: Settings, l2: L2Store, namespace: CacheNamespace
) -> InvalidationBroadcast | None:
    """Cross-worker L1 invalidation on the L2's Redis; None without Redis (nothing to share).

    It publishes through the L2's guarded client and subscribes on a connection of its own.
    """
    if not settings.redis_url or not isinstance(l2, RedisL2):
        return None
    return InvalidationBroadcast.from_url(
        settings.redis_url, publisher=l2.guard, namespace=namespace
    )


def build_cache(
    settings: Settings,
    *,
    namespace: CacheNamespace,
    known_kinds: Iterable[str],
    telemetry: CacheTelemetry | None = None,
) -> TieredCache:
    """This worker's :class:`TieredCache`: its own L1, the shared L2 (or none), and the
    invalidation broadcast between workers (with Redis; started by ``TieredCache.start``).
    """
    l2 = l2_from(settings, telemetry)
    return TieredCache(
        L1Cache(settings.cache_l1_size, max_bytes=settings.cache_l1_max_bytes),
        l2,
        policy_from(settings, known_kinds),
        namespace,
        telemetry=telemetry,
        broadcast=broadcast_from(settings, l2, namespace),
        lock_above_seconds=settings.cache_lock_above_seconds,
    )


def namespace_for(
    *,
    rdkit_version: str,
    library_name: str,
    library_version: str,
    library_created: str,
    max_results: int,
) -> CacheNamespace:
    """The key namespace: the RDKit and library versions, and the result cap.

    ``max_results`` is folded in because searches without an explicit limit return up to
    it: pods configured with different caps must not share those results.
    """
    return CacheNamespace(
        SCHEMA,
        rdkit_version,
        library_name,
        f"{library_version}:{library_created}:max_results={max_results}",
    )
