"""Query sessions: the last few exchanges of a conversation, so follow-ups can refer back.

Two stores with one interface. With ``CHEMAGENT_REDIS_URL`` the exchanges live in Redis
(one list per session, trimmed to the last ``history`` entries, expiring ``ttl`` seconds
after the last use), so any pod can answer the next question. Without Redis, or while
Redis is unreachable, they live in this process (a TTL-bounded LRU): follow-ups then work
only when the next request reaches the same worker, which is what a single pod gives.
Redis calls are guarded like the L2 cache's (:mod:`chemagent.cache.guard`): a deadline of
0.1 s each, no retries, a circuit breaker, and a cancelled query never keeps running.

Exchanges are JSON (orjson), never pickles: they cross the network.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any, Protocol

import orjson
from cachetools import TTLCache

from chemagent.cache.guard import Failed, GuardedRedis, Role

log = logging.getLogger(__name__)

HISTORY = 5
"""Exchanges kept per session."""

SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
"""What a session id may look like: opaque, URL-safe, at most 128 characters."""

Exchange = dict[str, Any]


class SessionStore(Protocol):
    """Where sessions live."""

    async def history(self, session_id: str) -> list[Exchange]:
        """The session's exchanges, oldest first (empty for an unknown or expired one)."""
        ...

    async def append(self, session_id: str, exchange: Exchange) -> None:
        """Add an exchange, keep the last :data:`HISTORY`, and restart the TTL."""
        ...

    async def aclose(self) -> None: ...


class MemorySessions:
    """Sessions in this process: at most ``max_sessions``, each expiring ``ttl`` s after use."""

    backend = "memory"

    def __init__(self, *, ttl: float, max_sessions: int, history: int = HISTORY) -> None:
        self._sessions: TTLCache[str, list[bytes]] = TTLCache(maxsize=max_sessions, ttl=ttl)
        self._history = history

    async def history(self, session_id: str) -> list[Exchange]:
        return [orjson.loads(item) for item in self._sessions.get(session_id, [])]

    async def append(self, session_id: str, exchange: Exchange) -> None:
        items = [*self._sessions.get(session_id, []), orjson.dumps(exchange)]
        self._sessions[session_id] = items[-self._history :]  # re-set: restarts the TTL

    async def aclose(self) -> None:
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


SESSIONS_ROLE = Role(
    name="redis sessions",
    fallback="sessions are kept in-process",
    tier="sessions",
    timed_ops=("read", "write"),
)

DEADLINE_SECONDS = 0.1
"""Per Redis call of a session: twice the L2's 50 ms, since a lost session costs a
follow-up its context where a lost cache hit only costs a recomputation; two calls per
query (read before, write after) bound the worst added latency at 0.2 s."""


class RedisSessions:
    """Sessions in Redis, falling back to this process while Redis fails.

    Every call goes through a :class:`~chemagent.cache.guard.GuardedRedis` (deadline, no
    retries, circuit breaker; a cancelled caller stays cancelled). A Redis error never
    fails a query: the exchange goes to the in-process fallback and the store reports
    ``degraded`` until a Redis call succeeds again.

    Args:
        guard: the guarded client (the store owns it: ``aclose`` closes it).
        ttl: seconds a session lives after its last use.
        fallback: where exchanges go while Redis fails.
        history: exchanges kept per session.
        prefix: the key prefix (outside the cache namespace: clearing the cache keeps it).
    """

    backend = "redis"

    def __init__(
        self,
        guard: GuardedRedis,
        *,
        ttl: float,
        fallback: MemorySessions,
        history: int = HISTORY,
        prefix: str = "chemagent:session:",
    ) -> None:
        self._guard = guard
        self._redis = guard.client
        self._ttl_ms = max(1, int(ttl * 1000))
        self._fallback = fallback
        self._history = history
        self._prefix = prefix

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl: float,
        max_sessions: int,
        deadline_seconds: float = DEADLINE_SECONDS,
        breaker_failures: int = 5,
        breaker_reset_seconds: float = 5.0,
        max_connections: int = 50,
    ) -> RedisSessions:
        """A store on ``url`` (any form :mod:`chemagent.cache.redis_client` accepts).

        Nothing connects until the first call.

        Args:
            url: the Redis URL.
            ttl: seconds a session lives after its last use.
            max_sessions: the in-process fallback's bound.
            deadline_seconds: the most one Redis call may take: a slow Redis must not
                hold a query.
            breaker_failures: consecutive failures after which Redis is skipped.
            breaker_reset_seconds: how long it is skipped before one probe call.
            max_connections: the pool bound; callers beyond it wait within the deadline.

        Raises:
            ValueError: a malformed URL.
        """
        guard = GuardedRedis.from_url(
            url,
            deadline_seconds=deadline_seconds,
            breaker_failures=breaker_failures,
            breaker_reset_seconds=breaker_reset_seconds,
            max_connections=max_connections,
            client_name="chemagent-sessions",
            role=SESSIONS_ROLE,
        )
        return cls(guard, ttl=ttl, fallback=MemorySessions(ttl=ttl, max_sessions=max_sessions))

    @property
    def degraded(self) -> bool:
        """Whether Redis failed on the last call or is being skipped (breaker open)."""
        return self._guard.state == "degraded"

    @property
    def state(self) -> str:
        """ok or degraded (see :attr:`degraded`)."""
        return self._guard.state

    def stats(self) -> dict[str, float | int]:
        """The guard's counters: failures, timeouts, short circuits, read/write latency."""
        return self._guard.stats()

    def _key(self, session_id: str) -> str:
        return self._prefix + session_id

    async def history(self, session_id: str) -> list[Exchange]:
        items = await self._guard.run(
            "read", partial(self._redis.lrange, self._key(session_id), 0, -1)
        )
        if isinstance(items, Failed) or not items:  # failed, or written while Redis was down?
            return await self._fallback.history(session_id)
        try:
            return [orjson.loads(item) for item in items]
        except orjson.JSONDecodeError as exc:  # not ours: ignore it rather than fail a query
            log.warning("a session in Redis is not JSON (%s); ignoring it", exc)
            return await self._fallback.history(session_id)

    async def append(self, session_id: str, exchange: Exchange) -> None:
        written = await self._guard.run(
            "write", partial(self._write, self._key(session_id), exchange)
        )
        if isinstance(written, Failed):
            await self._fallback.append(session_id, exchange)

    async def aclose(self) -> None:
        await self._guard.aclose()
        await self._fallback.aclose()

    async def _write(self, key: str, exchange: Exchange) -> None:
        """RPUSH, LTRIM to the last :data:`HISTORY`, PEXPIRE: one transaction."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps(exchange))
            pipe.ltrim(key, -self._history, -1)
            pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()
