"""The L2 cache tier: Redis shared by every worker and pod, failing open.

A Redis problem is never an outage: every call goes through a
:class:`~chemagent.cache.guard.GuardedRedis` (a 50 ms deadline by default, no retries, a
circuit breaker). A failed or skipped call looks like a miss (``get`` -> None, ``delete``
-> 0, ``acquire_lock`` -> None); nothing here raises to the caller. The URL forms (plain,
TLS, Sentinel, Cluster) and the client's pool are :mod:`chemagent.cache.redis_client`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

from redis.asyncio.cluster import ClusterNode, RedisCluster

from chemagent.cache.guard import L2_ROLE, Failed, GuardedRedis
from chemagent.cache.redis_client import RedisClient
from chemagent.cache.telemetry import CacheTelemetry, NoTelemetry

SCAN_COUNT = 500
"""Keys asked per SCAN call by :meth:`RedisL2.delete_prefix`; each page is one UNLINK."""

RELEASE_LOCK = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
"""Delete the lock only if it still holds our token (compare-and-delete, atomically)."""


class L2Store(Protocol):
    """The shared cache tier as the tiered cache sees it: bytes in, bytes out, never raises."""

    @property
    def state(self) -> str:
        """One of ok, degraded (breaker open or the last call failed) or disabled."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The value, or None on a miss or a failure."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds``; a failure is counted and ignored."""
        ...

    async def delete(self, keys: Sequence[str]) -> int:
        """Delete ``keys``; how many existed (0 on failure)."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; how many were deleted."""
        ...

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """Take the lock ``key`` for ``ttl_ms``; its token, or None if held or on failure."""
        ...

    async def release_lock(self, key: str, token: str) -> bool:
        """Release the lock if ``token`` still owns it; whether it did."""
        ...

    def stats(self) -> dict[str, float | int]:
        """Counters of this tier (plain numbers)."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


class DisabledL2:
    """No shared tier (``CHEMAGENT_REDIS_URL`` unset): every call is a miss, at no cost."""

    state = "disabled"

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    async def delete(self, keys: Sequence[str]) -> int:
        return 0

    async def delete_prefix(self, prefix: str) -> int:
        return 0

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        return None

    async def release_lock(self, key: str, token: str) -> bool:
        return False

    def stats(self) -> dict[str, float | int]:
        return {}

    async def aclose(self) -> None:
        return None


# --- the store ---------------------------------------------------------------------------


class RedisL2:
    """The L2 tier on Redis (plain, TLS, Sentinel or Cluster), failing open.

    Args:
        guard: the guarded client (deadline, breaker, fail-open); the store owns it
            (``aclose`` closes its client). Build both with :meth:`from_url`.
        telemetry: receives the tier's state whenever it changes (the guard reports the
            duration of every call).
    """

    def __init__(self, guard: GuardedRedis, telemetry: CacheTelemetry | None = None) -> None:
        self._guard = guard
        self._client = guard.client
        self._release_script = self._client.register_script(RELEASE_LOCK)
        self._counts = dict.fromkeys(("hits", "misses", "sets"), 0)
        (telemetry or NoTelemetry()).l2_state("ok")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        deadline_seconds: float = 0.05,
        breaker_failures: int = 5,
        breaker_reset_seconds: float = 5.0,
        max_connections: int = 50,
        health_check_interval: int = 30,
        client_name: str = "chemagent-l2",
        telemetry: CacheTelemetry | None = None,
    ) -> RedisL2:
        """A store on ``url``; nothing connects until the first call.

        The arguments are :meth:`GuardedRedis.from_url`'s; ``telemetry`` also hears of
        every change of the tier's state (ok <-> degraded).

        Raises:
            ValueError: a malformed URL (see
                :func:`~chemagent.cache.redis_client.parse_redis_url`).
        """
        telemetry = telemetry or NoTelemetry()
        guard = GuardedRedis.from_url(
            url,
            deadline_seconds=deadline_seconds,
            breaker_failures=breaker_failures,
            breaker_reset_seconds=breaker_reset_seconds,
            max_connections=max_connections,
            health_check_interval=health_check_interval,
            client_name=client_name,
            telemetry=telemetry,
            role=L2_ROLE,
            on_state=telemetry.l2_state,
        )
        return cls(guard, telemetry)

    @property
    def state(self) -> str:
        """Either ok, or degraded while the breaker is not closed or the last call failed."""
        return self._guard.state

    @property
    def client(self) -> RedisClient:
        """The underlying client (for tests and admin tooling)."""
        return self._client

    @property
    def guard(self) -> GuardedRedis:
        """The guard every call of this store goes through (shared by the broadcast)."""
        return self._guard

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``; None on a miss, a failure or an open breaker."""
        result = await self._guard.run("get", partial(self._client.get, key))
        if isinstance(result, Failed):
            return None
        if result is None:
            self._counts["misses"] += 1
            return None
        self._counts["hits"] += 1
        return result if isinstance(result, bytes) else str(result).encode()

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` with a TTL in milliseconds; a TTL <= 0 stores nothing."""
        if ttl_seconds <= 0:
            return
        ttl_ms = max(1, round(ttl_seconds * 1000))
        result = await self._guard.run("set", partial(self._client.set, key, value, px=ttl_ms))
        if not isinstance(result, Failed):
            self._counts["sets"] += 1

    async def delete(self, keys: Sequence[str]) -> int:
        """UNLINK ``keys`` (freed in the background); how many existed, 0 on failure."""
        if not keys:
            return 0
        result = await self._guard.run("delete", partial(self._client.unlink, *keys))
        return 0 if isinstance(result, Failed) else int(result)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``: SCAN pages of ~500, one UNLINK per page.

        Each SCAN and UNLINK has its own deadline, so millions of keys take many short
        calls, never one long one. Stops at the first failure.

        Returns:
            How many keys were deleted (those deleted before a failure included).
        """
        pattern = _glob_escape(prefix) + "*"
        targets = await self._scan_targets()
        if targets is None:
            return 0
        deleted = 0
        for target in targets:
            cursor = 0
            while True:
                page = await self._guard.run("scan", partial(self._scan, target, cursor, pattern))
                if isinstance(page, Failed):
                    return deleted
                cursor, keys = page
                if keys:
                    unlink = partial(self._client.unlink, *keys)
                    removed = await self._guard.run("delete", unlink)
                    if isinstance(removed, Failed):
                        return deleted
                    deleted += int(removed)
                if cursor == 0:
                    break
        return deleted

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """``SET key token NX PX ttl_ms`` with a random token; the token if we got it."""
        token = secrets.token_hex(16)
        setter = partial(self._client.set, key, token, nx=True, px=max(1, ttl_ms))
        result = await self._guard.run("lock", setter)
        return token if not isinstance(result, Failed) and result else None

    async def release_lock(self, key: str, token: str) -> bool:
        """Delete the lock only if it still holds ``token`` (Lua compare-and-delete)."""
        release = partial(self._release_script, keys=[key], args=[token])
        result = await self._guard.run("unlock", release)
        return not isinstance(result, Failed) and int(result) == 1

    def stats(self) -> dict[str, float | int]:
        """Counters since start, latencies of the recent get/set calls that reached Redis.

        ``errors`` counts every failed call and ``timeouts`` those among them that hit the
        deadline; ``short_circuits`` counts calls skipped while the breaker was open. The
        state itself is :attr:`state` (the values here are numbers only).
        """
        guard = self._guard.stats()
        failures = {name: guard.pop(name) for name in ("errors", "timeouts", "short_circuits")}
        return {
            "hits": self._counts["hits"],
            "misses": self._counts["misses"],
            **failures,
            "sets": self._counts["sets"],
            **guard,
        }

    async def aclose(self) -> None:
        """Close the client, its pool and (for Sentinel) the sentinel connections."""
        await self._guard.aclose()

    # --- internals ---

    async def _scan_targets(self) -> list[ClusterNode | None] | None:
        """Where to SCAN: the one server, or every Cluster primary (None if unreachable)."""
        client = self._client
        if not isinstance(client, RedisCluster):
            return [None]
        ready = await self._guard.run("scan", client.initialize)
        return None if isinstance(ready, Failed) else list(client.get_primaries())

    async def _scan(
        self, target: ClusterNode | None, cursor: int, pattern: str
    ) -> tuple[int, list[bytes]]:
        client = self._client
        if isinstance(client, RedisCluster) and target is not None:
            # A Cluster SCAN replies ({node name: cursor}, keys) for the nodes it targets.
            reply: Any = await client.scan(
                cursor=cursor, match=pattern, count=SCAN_COUNT, target_nodes=target
            )
            return int(reply[0][target.name]), list(reply[1])
        next_cursor, keys = await client.scan(cursor=cursor, match=pattern, count=SCAN_COUNT)
        return int(next_cursor), [k if isinstance(k, bytes) else k.encode() for k in keys]


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
