"""Redis URLs and clients: every topology the cache and sessions may run on.

URLs (:func:`parse_redis_url`)::

    redis://[user:password@]host:6379/0          plain TCP (also unix:///path.sock)
    rediss://[user:password@]host:6380/0         TLS (``?ssl_cert_reqs=none``, ``ssl_ca_certs=``)
    redis+sentinel://[user:password@]s1:26379,s2:26379/mymaster[/0]
    rediss+sentinel://...                        TLS to the sentinels and the master
    redis+cluster://[user:password@]n1:6379,n2:6379
    rediss+cluster://...                         TLS Redis Cluster

For Sentinel the credentials are the master's; the sentinels' own are
``?sentinel_username=&sentinel_password=``. Connections come from a bounded blocking pool
(``max_connections``; a Cluster client is bounded by a semaphore of the same size in
:class:`~chemagent.cache.guard.GuardedRedis`, since redis-py's cluster pools fail rather
than wait when full).

:func:`build_client` does no I/O: nothing connects until the first command. Every socket
times out at the caller's deadline and no call is retried (redis-py 8 retries 3 times with
backoff by default; a dead Redis would cost seconds per call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

RedisClient = Redis | RedisCluster
"""What :func:`build_client` returns."""

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
    """How every connection of one client behaves (see :meth:`GuardedRedis.from_url`)."""

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


def build_client(url: str, options: ClientOptions) -> RedisClient:
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


async def close_client(client: RedisClient) -> None:
    """Close ``client``, its pool and (for Sentinel) the sentinel connections; never raises."""
    clients: list[RedisClient] = [client]
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, SentinelConnectionPool):  # the sentinels' own connections too
        clients.extend(pool.sentinel_manager.sentinels)
    for each in clients:
        try:
            await each.aclose()
        except Exception as exc:  # closing a broken connection must not fail shutdown
            log.debug("closing a Redis client failed: %s", exc)
