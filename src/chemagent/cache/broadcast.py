"""Cross-worker L1 invalidation: Redis pub/sub between every worker of every pod.

:meth:`TieredCache.invalidate <chemagent.cache.tiered.TieredCache.invalidate>` clears L2
and the calling worker's L1; without this module every other worker would keep its L1
copies for up to ``policy.l1_max_ttl`` (300 s). With it::

    worker A  invalidate(kind="properties") -> A's L1, L2 cleared -> PUBLISH on the channel
    worker B  subscriber task <- message    -> B's L1 cleared the same way (B's own: ignored)

- Channel: ``{namespace prefix}invalidations``, e.g.
  ``chemagent:v1:0123abcd4567:invalidations``: pods on another RDKit or library version
  (another namespace) use another channel, and a message naming another namespace is
  ignored anyway.
- Message: orjson ``{"origin": "<16 hex>", "ns": "<namespace prefix>", ...}`` with exactly
  one of ``"key": "<full key>"``, ``"kind": "<step kind>"`` or ``"all": true``.
- Publishing goes through the L2's :class:`~chemagent.cache.guard.GuardedRedis` (50 ms
  deadline, breaker): with Redis down nothing is published (L2 is not cleared either), and
  other workers' L1 entries age out within ``l1_max_ttl``.
- Pub/sub delivers at most once and queues nothing: a worker whose subscription was lost
  clears its whole L1 when it subscribes again, since it cannot know what it missed.
- The subscriber has its own connection and no deadline on its blocking read; after
  :data:`PING_INTERVAL` of silence it PINGs, and a PONG missing for :data:`PONG_TIMEOUT`
  means a half-open connection. It reconnects with capped, jittered exponential backoff
  (0.1 s doubling to 5 s) and logs once per outage, not per retry. Nothing it meets is
  raised into the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

from chemagent.cache.guard import Failed, GuardedRedis
from chemagent.cache.keys import CacheNamespace
from chemagent.cache.redis_client import ClientOptions, RedisClient, build_client, close_client

log = logging.getLogger(__name__)

CHANNEL_SUFFIX = "invalidations"
PING_INTERVAL = 5.0
"""Seconds of silence on the subscription after which the subscriber PINGs."""
PONG_TIMEOUT = 2.0
"""Seconds a PING may go unanswered before the connection is taken for dead."""
SUBSCRIBE_TIMEOUT = 2.0
"""Connecting and confirming SUBSCRIBE; also the socket timeout of the subscriber's writes."""
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0
_PING_PAYLOAD = b"chemagent-invalidations"


@dataclass(frozen=True)
class Invalidation:
    """What was invalidated: exactly one of a key, a step kind, or everything."""

    key: str | None = None
    kind: str | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        if (self.key is not None) + (self.kind is not None) + self.everything != 1:
            raise ValueError("an invalidation names exactly one of: key, kind, everything")


@dataclass(frozen=True)
class Message:
    """One broadcast: who sent it, for which namespace, and what it invalidates."""

    origin: str
    namespace: str
    invalidation: Invalidation


def encode_message(message: Message) -> bytes:
    """The wire form (see the module docstring)."""
    body: dict[str, Any] = {"origin": message.origin, "ns": message.namespace}
    target = message.invalidation
    if target.key is not None:
        body["key"] = target.key
    elif target.kind is not None:
        body["kind"] = target.kind
    else:
        body["all"] = True
    return orjson.dumps(body)


def decode_message(data: bytes | str) -> Message:
    """Parse a broadcast.

    Raises:
        ValueError: not JSON, not an object, or not exactly one well-typed target.
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"an invalidation message is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ValueError("an invalidation message must be a JSON object")
    origin, namespace = body.get("origin"), body.get("ns")
    if not isinstance(origin, str) or not isinstance(namespace, str):
        raise ValueError("an invalidation message needs string 'origin' and 'ns'")
    key, kind, everything = body.get("key"), body.get("kind"), body.get("all", False)
    if not isinstance(key, str | None) or not isinstance(kind, str | None):
        raise ValueError("'key' and 'kind' must be strings")
    if everything is not True and everything is not False:
        raise ValueError("'all' must be true")
    return Message(origin, namespace, Invalidation(key, kind, everything))


Apply = Callable[[Invalidation], None]
"""Clears what another worker invalidated from this worker's L1."""


class Broadcast(Protocol):
    """What :class:`~chemagent.cache.tiered.TieredCache` needs from a broadcast."""

    async def publish(self, invalidation: Invalidation) -> bool:
        """Tell the other workers; whether it was published (never raises)."""
        ...

    def start(self, apply: Apply) -> None:
        """Start applying the other workers' invalidations with ``apply``."""
        ...

    async def aclose(self) -> None:
        """Stop the subscriber and close its connection."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters since start and whether the subscription is live (0/1)."""
        ...


class InvalidationBroadcast:
    """Publishes this worker's invalidations; applies every other worker's to its L1.

    Args:
        publisher: the L2's guarded client (not closed here: the L2 store owns it).
        connect: builds a client for the subscription alone (no I/O); called once per
            subscription attempt, and that client is closed when the attempt ends, so a
            broken connection can never be left holding the pool.
        namespace: this cache's key namespace; it names the channel.
        origin: this worker's id in messages (random by default).
        ping_interval: see :data:`PING_INTERVAL`.
        pong_timeout: see :data:`PONG_TIMEOUT`.
        subscribe_timeout: see :data:`SUBSCRIBE_TIMEOUT`.
        backoff_initial: the first reconnect delay; it doubles per failed attempt.
        backoff_max: the cap of the reconnect delay.
    """

    def __init__(
        self,
        publisher: GuardedRedis,
        connect: Callable[[], RedisClient],
        *,
        namespace: CacheNamespace,
        origin: str | None = None,
        ping_interval: float = PING_INTERVAL,
        pong_timeout: float = PONG_TIMEOUT,
        subscribe_timeout: float = SUBSCRIBE_TIMEOUT,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        if min(ping_interval, pong_timeout, subscribe_timeout, backoff_initial) <= 0:
            raise ValueError("intervals, timeouts and the initial backoff must be positive")
        self.namespace = namespace.prefix
        self.channel = namespace.prefix + CHANNEL_SUFFIX
        self.origin = origin or secrets.token_hex(8)
        self._publisher = publisher
        self._connect = connect
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._subscribe_timeout = subscribe_timeout
        self._backoff = (backoff_initial, max(backoff_max, backoff_initial))
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._apply: Apply | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._subscribed = False
        self._missed = False
        self._failures_in_a_row = 0
        self._outage_since: float | None = None
        self._counts = dict.fromkeys(
            (
                "published",
                "publish_failures",
                "received",
                "own",
                "foreign",
                "malformed",
                "apply_errors",
                "attempts",
                "disconnects",
                "resyncs",
            ),
            0,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        publisher: GuardedRedis,
        namespace: CacheNamespace,
        subscribe_timeout: float = SUBSCRIBE_TIMEOUT,
        **options: Any,
    ) -> InvalidationBroadcast:
        """A broadcast whose subscriber has its own connection to ``url``.

        Args:
            url: the L2's Redis URL (any form :mod:`chemagent.cache.redis_client` accepts).
            publisher: the L2's guarded client.
            namespace: this cache's key namespace.
            subscribe_timeout: see :data:`SUBSCRIBE_TIMEOUT`.
            **options: the other keyword arguments of the constructor.

        Raises:
            ValueError: a malformed URL.
        """
        client_options = ClientOptions(
            deadline_seconds=subscribe_timeout,
            max_connections=1,
            health_check_interval=0,  # our own PINGs, whose PONGs we can see
            client_name="chemagent-invalidations",
        )
        return cls(
            publisher,
            partial(build_client, url, client_options),
            namespace=namespace,
            subscribe_timeout=subscribe_timeout,
            **options,
        )

    @property
    def subscribed(self) -> bool:
        """Whether the subscription is live now."""
        return self._subscribed

    async def publish(self, invalidation: Invalidation) -> bool:
        """Tell every other worker; False if Redis failed or is skipped (never raises)."""
        payload = encode_message(Message(self.origin, self.namespace, invalidation))
        call = partial(self._publisher.client.publish, self.channel, payload)
        published = not isinstance(await self._publisher.run("publish", call), Failed)
        self._counts["published" if published else "publish_failures"] += 1
        return published

    def start(self, apply: Apply) -> None:
        """Start the subscriber task (once; later calls do nothing)."""
        if self._task is not None or self._closing:
            return
        self._apply = apply
        self._task = asyncio.create_task(self._run(), name="cache invalidation subscriber")

    async def aclose(self) -> None:
        """Stop the subscriber (even if redis-py swallows a cancel); it closes its client."""
        self._closing = True
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        self._subscribed = False

    def stats(self) -> dict[str, int]:
        """Counters since start, and whether the subscription is live (0/1).

        ``attempts`` counts subscription attempts (each opens one connection),
        ``disconnects`` the failed or lost ones, ``resyncs`` the L1 clears after them;
        ``own``, ``foreign`` and ``malformed`` messages were ignored.
        """
        return {"subscribed": int(self._subscribed), **self._counts}

    # --- the subscriber ----------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            await self._subscription()
            if not self._closing:
                await asyncio.sleep(self._next_delay())

    async def _subscription(self) -> None:
        """Subscribe, then read until the connection fails or we are closing; never raises
        (but a cancellation)."""
        self._counts["attempts"] += 1  # one new connection each
        client = self._connect()
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await pubsub.subscribe(self.channel)
                while not self._closing:
                    confirmed = await pubsub.get_message(timeout=self._subscribe_timeout)
                    if confirmed is not None and confirmed["type"] == "subscribe":
                        break
            if self._closing:
                return
            self._on_subscribed()
            await self._listen(pubsub)
        except Exception as exc:  # never into the app: note it; the caller backs off
            self._lost(exc)
        finally:
            self._subscribed = False
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await close_client(client)

    async def _listen(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard, ping_sent = loop.time(), None
        while not self._closing:
            now = loop.time()
            if ping_sent is None and now - heard >= self._ping_interval:
                await pubsub.ping(_PING_PAYLOAD)
                ping_sent = now
            elif ping_sent is not None and now - ping_sent >= self._pong_timeout:
                raise RedisConnectionError(f"no PONG within {self._pong_timeout:.1f} s")
            due = (
                heard + self._ping_interval if ping_sent is None else ping_sent + self._pong_timeout
            )
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=max(due - now, 0.001)
            )
            if message is None:
                continue
            heard, ping_sent = loop.time(), None  # anything heard proves the connection
            if message["type"] == "message":
                self._receive(message["data"])

    def _receive(self, data: bytes | str) -> None:
        try:
            message = decode_message(data)
        except ValueError as exc:
            self._counts["malformed"] += 1
            if self._counts["malformed"] == 1:
                log.warning("ignoring a malformed cache invalidation on %s: %s", self.channel, exc)
            return
        if message.origin == self.origin:
            self._counts["own"] += 1
        elif message.namespace != self.namespace:
            self._counts["foreign"] += 1
        else:
            self._counts["received"] += 1
            self._deliver(message.invalidation)

    def _deliver(self, invalidation: Invalidation) -> None:
        if self._apply is None:
            return
        try:
            self._apply(invalidation)
        except Exception as exc:  # a bad message must not stop the subscriber
            self._counts["apply_errors"] += 1
            log.warning("applying a cache invalidation %s failed: %r", invalidation, exc)

    def _on_subscribed(self) -> None:
        self._subscribed = True
        self._failures_in_a_row = 0
        if self._missed:  # invalidations sent while we were away are lost: start clean
            self._missed = False
            self._counts["resyncs"] += 1
            self._deliver(Invalidation(everything=True))
        if self._outage_since is not None:
            log.info(
                "cache invalidations: subscribed to %s again after %.1f s; this worker's L1 "
                "was cleared, since invalidations sent meanwhile were missed",
                self.channel,
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None

    def _lost(self, exc: Exception) -> None:
        self._subscribed = False
        self._missed = True
        self._counts["disconnects"] += 1
        if self._outage_since is None:  # once per outage, not per retry
            self._outage_since = time.monotonic()
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning(
                "cache invalidations: no subscription to %s (%s); retrying every <= %.1f s, "
                "meanwhile other workers' invalidations reach this worker's L1 only by expiry",
                self.channel,
                why,
                self._backoff[1],
            )

    def _next_delay(self) -> float:
        """Exponential backoff from the initial delay to the cap, jittered to 50-100 %."""
        initial, cap = self._backoff
        delay = min(cap, initial * (1 << min(self._failures_in_a_row, 32)))
        self._failures_in_a_row += 1
        return delay * (0.5 + self._rng.random() / 2)
