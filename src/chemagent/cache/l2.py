"""The L2 cache tier: Redis shared by every worker and pod, failing open.

A Redis problem is never an outage. Every call is bounded by a short deadline (50 ms by
default: an L2 hit must be cheaper than recomputing) with no retries stacked on top, and a
:class:`~chemagent.cache.breaker.CircuitBreaker` skips Redis entirely after consecutive
failures, probing once every ``breaker_reset_seconds`` to notice its return. A failed or
skipped call looks like a miss (``get`` -> None, ``delete`` -> 0, ``acquire_lock`` ->
None); nothing here raises to the caller.

URLs (:func:`parse_redis_url`)::

    redis://[user:password@]host:6379/0          plain TCP (also unix:///path.sock)
    rediss://[user:password@]host:6380/0         TLS (``?ssl_cert_reqs=none``, ``ssl_ca_certs=``)
    redis+sentinel://[user:password@]s1:26379,s2:26379/mymaster[/0]
    rediss+sentinel://...                        TLS to the sentinels and the master
    redis+cluster://[user:password@]n1:6379,n2:6379
    rediss+cluster://...                         TLS Redis Cluster

For Sentinel the credentials are the master's; the sentinels' own are
``?sentinel_username=&sentinel_password=``. Connections come from a bounded blocking pool
(``max_connections``; a Cluster client is bounded by a semaphore of the same size, since
redis-py's cluster pools fail rather than wait when full).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import TimeoutError as RedisTimeoutError

from chemagent.cache.breaker import BreakerState, CircuitBreaker
from chemagent.cache.telemetry import CacheTelemetry, NoTelemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

SCAN_COUNT = 500
"""Keys asked per SCAN call by :meth:`RedisL2.delete_prefix`; each page is one UNLINK."""

LATENCY_SAMPLES = 1024
"""Recent latencies kept per operation for the p50/p99 in :meth:`RedisL2.stats`."""

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


# --- URLs and clients --------------------------------------------------------------------

Mode = Literal["plain", "sentinel", "cluster"]

_SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("plain", False),
    "rediss": ("plain", True),
    "unix": ("plain", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_DEFAULT_PORT: dict[Mode, int] = {"plain": 6379, "sentinel": 26379, "cluster": 6379}
_MULTI_HOST_OPTIONS = frozenset(
    {
        "sentinel_username",
        "sentinel_password",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)


@dataclass(frozen=True)
class RedisUrl:
    """A parsed L2 URL: which topology, where, and as whom."""

    mode: Mode
    tls: bool
    hosts: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    service: str | None = None
    """The Sentinel master name."""
    db: int = 0
    options: dict[str, str] = field(default_factory=dict)


def parse_redis_url(url: str) -> RedisUrl:
    """Parse an L2 URL (see the module docstring for the forms).

    Plain ``redis://``/``rediss://``/``unix://`` URLs are only checked for their scheme
    here: redis-py parses them (query options included) when the pool is built.

    Raises:
        ValueError: an unknown scheme, a Sentinel URL without a master name, a bad port or
            db, or an unknown query option on a Sentinel/Cluster URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ValueError(f"Redis URL scheme must be one of {', '.join(_SCHEMES)}; got {url!r}")
    mode, tls = _SCHEMES[scheme.lower()]
    if mode == "plain":
        return RedisUrl(mode=mode, tls=tls)
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    hosts = tuple(_host_port(item, _DEFAULT_PORT[mode]) for item in hostlist.split(","))
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    unknown = sorted(set(options) - _MULTI_HOST_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} in Redis URL")
    parts = [unquote(p) for p in path.split("/") if p]
    service = parts.pop(0) if mode == "sentinel" and parts else None
    if mode == "sentinel" and not service:
        raise ValueError("a redis+sentinel:// URL needs the master name: .../mymaster[/db]")
    if len(parts) > 1 or not all(p.isdigit() for p in parts):
        raise ValueError(f"the database in a Redis URL must be one number; got {path!r}")
    db = int(parts[0]) if parts else 0
    if mode == "cluster" and db:
        raise ValueError("Redis Cluster has only database 0")
    return RedisUrl(mode, tls, hosts, username, password, service, db, options)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    if not colon:  # redis://secret@host: a bare word is the password (AUTH without ACL user)
        return None, unquote(user) or None
    return unquote(user) or None, unquote(password) or None


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    parsed = urlsplit(f"//{item.strip()}")
    if not parsed.hostname:
        raise ValueError(f"a Redis URL host is empty in {item!r}")
    try:
        port = parsed.port
    except ValueError as exc:
        raise ValueError(f"bad port in Redis URL host {item!r}") from exc
    return parsed.hostname, port or default_port


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's bounded wait for a connection."""


def _tls_options(url: RedisUrl) -> dict[str, Any]:
    if not url.tls:
        return {}
    options: dict[str, Any] = {"ssl": True}
    for name in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if name in url.options:
            options[name] = url.options[name]
    if "ssl_check_hostname" in url.options:
        options["ssl_check_hostname"] = url.options["ssl_check_hostname"].lower() in {
            "1",
            "true",
            "yes",
        }
    return options


@dataclass(frozen=True)
class ClientOptions:
    """How every connection behaves; derived from the deadline by :meth:`RedisL2.from_url`."""

    deadline_seconds: float
    max_connections: int
    health_check_interval: int
    client_name: str

    def connection_kwargs(self) -> dict[str, Any]:
        """Socket timeouts at the deadline, no retries (the breaker decides), health checks."""
        return {
            "socket_timeout": self.deadline_seconds,
            "socket_connect_timeout": self.deadline_seconds,
            # redis-py 8 defaults to 3 retries with backoff: a dead Redis would cost
            # seconds per call. One attempt; the breaker handles persistence.
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": self.health_check_interval,
            "client_name": self.client_name,
        }


def build_client(url: str, options: ClientOptions) -> Redis | RedisCluster:
    """A client for ``url`` with bounded pools, short timeouts and no retries; no I/O yet."""
    parsed = parse_redis_url(url)
    kwargs = options.connection_kwargs()
    if parsed.mode == "plain":
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=options.max_connections,
            timeout=options.deadline_seconds,
            **kwargs,
        )
        return Redis.from_pool(pool)
    if parsed.mode == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in parsed.hosts],
            username=parsed.username,
            password=parsed.password,
            max_connections=options.max_connections,
            **kwargs,
            **_tls_options(parsed),
        )
    sentinel_auth = {
        "username": parsed.options.get("sentinel_username"),
        "password": parsed.options.get("sentinel_password"),
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(parsed.hosts),
        sentinel_kwargs={
            **{k: v for k, v in kwargs.items() if k != "client_name"},
            **sentinel_auth,
            **_tls_options(parsed),
        },
        **kwargs,
    )
    client: Redis = sentinel.master_for(
        parsed.service or "",  # never empty: parse_redis_url requires it for Sentinel
        connection_pool_class=_BlockingSentinelPool,
        max_connections=options.max_connections,
        timeout=options.deadline_seconds,
        db=parsed.db,
        username=parsed.username,
        password=parsed.password,
        **_tls_options(parsed),
    )
    return client


# --- statistics --------------------------------------------------------------------------


class Latency:
    """Count, sum and a window of recent samples (for p50/p99) of one operation."""

    def __init__(self, window: int = LATENCY_SAMPLES) -> None:
        self.count = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.recent.append(seconds)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the recent samples (nearest rank); 0 without samples."""
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Failed:
    """A call that failed or was skipped (distinct from a legitimate None reply)."""


FAILED = _Failed()


# --- the store ---------------------------------------------------------------------------


class RedisL2:
    """The L2 tier on Redis (plain, TLS, Sentinel or Cluster), failing open.

    Args:
        client: a redis-py asyncio client; the store owns it (``aclose`` closes it).
        deadline_seconds: the most one Redis call may take, connection wait included.
        breaker: decides when to skip Redis; a fresh 5-failure/5-second one by default.
        max_in_flight: bound on concurrent calls when the client's pool does not block
            (Cluster); None when the pool itself is the bound.
        telemetry: receives the duration of every call that reached Redis.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        deadline_seconds: float = 0.05,
        breaker: CircuitBreaker | None = None,
        max_in_flight: int | None = None,
        telemetry: CacheTelemetry | None = None,
    ) -> None:
        if deadline_seconds <= 0:
            raise ValueError(f"deadline_seconds must be positive, got {deadline_seconds}")
        self._client = client
        self._deadline = deadline_seconds
        self._breaker = breaker or CircuitBreaker()
        self._limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._release_script = client.register_script(RELEASE_LOCK)
        self._last_failed = False
        self._counts = dict.fromkeys(
            ("hits", "misses", "errors", "timeouts", "short_circuits", "sets"), 0
        )
        self._latency: dict[str, Latency] = {"get": Latency(), "set": Latency()}
        self._telemetry = telemetry or NoTelemetry()
        self._telemetry.l2_state("ok")

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

        Args:
            url: see the module docstring for the accepted forms.
            deadline_seconds: per call; raise it for TLS to a distant Redis, where a new
                connection's handshake alone can take longer than 50 ms.
            breaker_failures: consecutive failures that open the breaker.
            breaker_reset_seconds: how long Redis is skipped before one probe call.
            max_connections: the pool bound; callers beyond it wait (within the deadline).
            health_check_interval: seconds of idleness after which a connection is
                PINGed before use.
            client_name: shown by ``CLIENT LIST`` on the server.
            telemetry: receives the duration of every call that reached Redis.

        Raises:
            ValueError: a malformed URL (see :func:`parse_redis_url`).
        """
        options = ClientOptions(
            deadline_seconds, max_connections, health_check_interval, client_name
        )
        client = build_client(url, options)
        cluster = isinstance(client, RedisCluster)
        breaker = CircuitBreaker(failures=breaker_failures, reset_seconds=breaker_reset_seconds)
        return cls(
            client,
            deadline_seconds=deadline_seconds,
            breaker=breaker,
            max_in_flight=max_connections if cluster else None,
            telemetry=telemetry,
        )

    @property
    def state(self) -> str:
        """Either ok, or degraded while the breaker is not closed or the last call failed."""
        if self._last_failed or self._breaker.state is not BreakerState.CLOSED:
            return "degraded"
        return "ok"

    @property
    def client(self) -> Redis | RedisCluster:
        """The underlying client (for tests and admin tooling)."""
        return self._client

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``; None on a miss, a failure or an open breaker."""
        result = await self._run("get", partial(self._client.get, key))
        if isinstance(result, _Failed):
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
        result = await self._run("set", partial(self._client.set, key, value, px=ttl_ms))
        if not isinstance(result, _Failed):
            self._counts["sets"] += 1

    async def delete(self, keys: Sequence[str]) -> int:
        """UNLINK ``keys`` (freed in the background); how many existed, 0 on failure."""
        if not keys:
            return 0
        result = await self._run("delete", partial(self._client.unlink, *keys))
        return 0 if isinstance(result, _Failed) else int(result)

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
                page = await self._run("scan", partial(self._scan, target, cursor, pattern))
                if isinstance(page, _Failed):
                    return deleted
                cursor, keys = page
                if keys:
                    removed = await self._run("delete", partial(self._client.unlink, *keys))
                    if isinstance(removed, _Failed):
                        return deleted
                    deleted += int(removed)
                if cursor == 0:
                    break
        return deleted

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """``SET key token NX PX ttl_ms`` with a random token; the token if we got it."""
        token = secrets.token_hex(16)
        setter = partial(self._client.set, key, token, nx=True, px=max(1, ttl_ms))
        result = await self._run("lock", setter)
        return token if not isinstance(result, _Failed) and result else None

    async def release_lock(self, key: str, token: str) -> bool:
        """Delete the lock only if it still holds ``token`` (Lua compare-and-delete)."""
        result = await self._run("unlock", partial(self._release_script, keys=[key], args=[token]))
        return not isinstance(result, _Failed) and int(result) == 1

    def stats(self) -> dict[str, float | int]:
        """Counters since start, latencies of the recent get/set calls that reached Redis.

        ``errors`` counts every failed call and ``timeouts`` those among them that hit the
        deadline; ``short_circuits`` counts calls skipped while the breaker was open. The
        state itself is :attr:`state` (the values here are numbers only).
        """
        out: dict[str, float | int] = dict(self._counts)
        out["breaker_open_count"] = self._breaker.open_count
        out["breaker_open"] = int(self._breaker.state is not BreakerState.CLOSED)
        out["degraded"] = int(self.state == "degraded")
        for op, latency in self._latency.items():
            out[f"{op}_count"] = latency.count
            out[f"{op}_seconds_sum"] = latency.total
            out[f"{op}_p50_seconds"] = latency.quantile(0.50)
            out[f"{op}_p99_seconds"] = latency.quantile(0.99)
        return out

    async def aclose(self) -> None:
        """Close the client, its pool and (for Sentinel) the sentinel connections."""
        clients: list[Redis | RedisCluster] = [self._client]
        pool = getattr(self._client, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):  # the sentinels' own connections too
            clients.extend(pool.sentinel_manager.sentinels)
        for client in clients:
            try:
                await client.aclose()
            except Exception as exc:  # closing a broken connection must not fail shutdown
                log.debug("closing an L2 client failed: %s", exc)

    # --- internals ---

    async def _scan_targets(self) -> list[ClusterNode | None] | None:
        """Where to SCAN: the one server, or every Cluster primary (None if unreachable)."""
        client = self._client
        if not isinstance(client, RedisCluster):
            return [None]
        ready = await self._run("scan", client.initialize)
        return None if isinstance(ready, _Failed) else list(client.get_primaries())

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

    async def _run(self, op: str, call: Callable[[], Awaitable[T]]) -> T | _Failed:
        """One Redis call under the breaker and the deadline; FAILED instead of raising."""
        if not self._breaker.allow():
            self._counts["short_circuits"] += 1
            return FAILED
        task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline):
                result = await self._limited(call)
        except Exception as exc:  # fail open: any client error is a miss, never an outage
            self._observe(op, started)
            self._on_failure(op, exc)
            _reraise_swallowed_cancel(task, cancelling)
            return FAILED
        except BaseException:  # cancelled by our caller: no verdict on Redis
            self._breaker.abandon()
            raise
        self._observe(op, started)
        self._on_success()
        _reraise_swallowed_cancel(task, cancelling)
        return result

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._limit is None:
            return await call()
        async with self._limit:
            return await call()

    def _observe(self, op: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self._telemetry.operation("l2", op, seconds)
        latency = self._latency.get(op)
        if latency is not None:
            latency.observe(seconds)

    def _on_success(self) -> None:
        was_degraded = self.state == "degraded"
        self._last_failed = False
        self._breaker.success()
        if was_degraded:
            self._telemetry.l2_state(self.state)
            log.info("redis L2 is answering again; shared cache restored")

    def _on_failure(self, op: str, exc: Exception) -> None:
        timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
        self._counts["errors"] += 1
        self._counts["timeouts"] += int(timed_out)
        was_ok = self.state == "ok"
        was_closed = self._breaker.state is BreakerState.CLOSED
        self._last_failed = True
        self._breaker.failure()
        why = (
            f"no answer within {self._deadline * 1000:.0f} ms"
            if timed_out
            else f"{type(exc).__name__}: {exc}"
        )
        if was_ok:
            self._telemetry.l2_state("degraded")
            log.warning("redis L2 %s failed (%s); serving without it", op, why)
        if was_closed and self._breaker.state is BreakerState.OPEN:
            log.warning(
                "redis L2 failed %d times in a row; skipping it for %.1f s between probes",
                self._breaker.failures,
                self._breaker.reset_seconds,
            )


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _reraise_swallowed_cancel(task: asyncio.Task[Any] | None, cancelling: int) -> None:
    """Raise the caller's cancellation if the Redis client swallowed it.

    On Python 3.11, ``asyncio.wait_for`` (which redis-py uses to bound socket writes)
    returns the inner result and drops a cancellation that lands as the write completes;
    the task would then carry on as if never cancelled (seen in ~1 of 4 tasks cancelled
    mid-traffic). A cancel request still pending after the call means exactly that.
    """
    if task is not None and task.cancelling() > cancelling:
        raise asyncio.CancelledError
