"""Query sessions: the last few exchanges of a conversation, so follow-ups can refer back.

Two stores with one interface. With ``CHEMAGENT_REDIS_URL`` the exchanges live in Redis
(one list per session, trimmed to the last ``history`` entries, expiring ``ttl`` seconds
after the last use), so any pod can answer the next question. Without Redis, or while
Redis is unreachable, they live in this process (a TTL-bounded LRU): follow-ups then work
only when the next request reaches the same worker, which is what a single pod gives.

Exchanges are JSON (orjson), never pickles: they cross the network.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import orjson
from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

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


class RedisSessions:
    """Sessions in Redis, falling back to this process while Redis fails.

    A Redis error never fails a query: the exchange goes to the in-process fallback and
    the store reports ``degraded`` until a Redis call succeeds again.
    """

    backend = "redis"

    def __init__(
        self,
        redis: Redis,
        *,
        ttl: float,
        fallback: MemorySessions,
        history: int = HISTORY,
        prefix: str = "chemagent:session:",
    ) -> None:
        self._redis = redis
        self._ttl_ms = max(1, int(ttl * 1000))
        self._fallback = fallback
        self._history = history
        self._prefix = prefix
        self.degraded = False

    @classmethod
    def from_url(cls, url: str, *, ttl: float, max_sessions: int) -> RedisSessions:
        """A store on ``url`` with short socket timeouts: a slow Redis must not hold a query."""
        client = Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, retry_on_timeout=False
        )
        return cls(client, ttl=ttl, fallback=MemorySessions(ttl=ttl, max_sessions=max_sessions))

    def _key(self, session_id: str) -> str:
        return self._prefix + session_id

    def _failed(self, what: str, exc: Exception) -> None:
        if not self.degraded:
            log.warning("redis %s failed (%s); sessions are kept in-process", what, exc)
        self.degraded = True

    async def history(self, session_id: str) -> list[Exchange]:
        try:
            items = await self._redis.lrange(self._key(session_id), 0, -1)
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return await self._fallback.history(session_id)
        self.degraded = False
        if not items:  # written while Redis was down?
            return await self._fallback.history(session_id)
        return [orjson.loads(item) for item in items]

    async def append(self, session_id: str, exchange: Exchange) -> None:
        key = self._key(session_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, orjson.dumps(exchange))
                pipe.ltrim(key, -self._history, -1)
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            await self._fallback.append(session_id, exchange)
            return
        self.degraded = False

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._fallback.aclose()
