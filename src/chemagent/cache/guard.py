"""Every Redis call under one guard: a deadline, a circuit breaker, and failing open.

A Redis problem is never an outage. :meth:`GuardedRedis.run` bounds each call by a short
deadline (50 ms by default: an L2 hit must be cheaper than recomputing) with no retries
stacked on top, and a :class:`~chemagent.cache.breaker.CircuitBreaker` skips Redis
entirely after consecutive failures, probing once every ``breaker_reset_seconds`` to
notice its return. A failed or skipped call returns :data:`FAILED`; nothing raises to the
caller except the caller's own cancellation, which is never lost (see
:func:`reraise_swallowed_cancel`).

Used by the L2 store (:class:`~chemagent.cache.l2.RedisL2`), the query sessions
(:class:`~chemagent.cache.sessions.RedisSessions`) and the invalidation broadcast's
publisher. Each user has its own guard (its own pool, breaker and counters); a
:class:`Role` names it in logs and metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import TimeoutError as RedisTimeoutError

from chemagent.cache.breaker import BreakerState, CircuitBreaker
from chemagent.cache.redis_client import ClientOptions, RedisClient, build_client, close_client
from chemagent.cache.telemetry import CacheTelemetry, NoTelemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

LATENCY_SAMPLES = 1024
"""Recent latencies kept per timed operation for the p50/p99 in :meth:`GuardedRedis.stats`."""


class Failed:
    """The result of a call that failed or was skipped (distinct from a legitimate None)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Final = Failed()


@dataclass(frozen=True)
class Role:
    """Who uses a guarded client: the words of its log lines and the labels of its metrics.

    Attributes:
        name: names the client in log lines (``redis L2``).
        fallback: what the user does instead while Redis fails, for the warning.
        tier: the ``tier`` label of the telemetry's operation timings.
        timed_ops: operations whose latency :meth:`GuardedRedis.stats` summarises.
    """

    name: str = "redis L2"
    fallback: str = "serving without it"
    tier: str = "l2"
    timed_ops: tuple[str, ...] = ("get", "set")


L2_ROLE = Role()


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


class GuardedRedis:
    """A Redis client whose every call is bounded, breaker-checked and failing open.

    Args:
        client: a redis-py asyncio client; the guard owns it (``aclose`` closes it).
        deadline_seconds: the most one call may take, connection wait included.
        breaker: decides when to skip Redis; a fresh 5-failure/5-second one by default.
        max_in_flight: bound on concurrent calls when the client's pool does not block
            (Cluster); None when the pool itself is the bound.
        telemetry: receives the duration of every call that reached Redis.
        role: names this client in logs and metrics.
        on_state: called with the new :attr:`state` when it changes (ok <-> degraded).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        deadline_seconds: float = 0.05,
        breaker: CircuitBreaker | None = None,
        max_in_flight: int | None = None,
        telemetry: CacheTelemetry | None = None,
        role: Role = L2_ROLE,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        if deadline_seconds <= 0:
            raise ValueError(f"deadline_seconds must be positive, got {deadline_seconds}")
        self.client = client
        self.deadline = deadline_seconds
        self.role = role
        self._breaker = breaker or CircuitBreaker()
        self._limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._telemetry = telemetry or NoTelemetry()
        self._on_state = on_state
        self._last_failed = False
        self._counts = dict.fromkeys(("errors", "timeouts", "short_circuits"), 0)
        self._latency = {op: Latency() for op in role.timed_ops}

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
        role: Role = L2_ROLE,
        on_state: Callable[[str], None] | None = None,
    ) -> GuardedRedis:
        """A guarded client on ``url``; nothing connects until the first call.

        Args:
            url: see :mod:`chemagent.cache.redis_client` for the accepted forms.
            deadline_seconds: per call; raise it for TLS to a distant Redis, where a new
                connection's handshake alone can take longer than 50 ms.
            breaker_failures: consecutive failures that open the breaker.
            breaker_reset_seconds: how long Redis is skipped before one probe call.
            max_connections: the pool bound; callers beyond it wait (within the deadline).
            health_check_interval: seconds of idleness after which a connection is
                PINGed before use.
            client_name: shown by ``CLIENT LIST`` on the server.
            telemetry: receives the duration of every call that reached Redis.
            role: names this client in logs and metrics.
            on_state: called with the new :attr:`state` when it changes.

        Raises:
            ValueError: a malformed URL (see :func:`~chemagent.cache.redis_client.parse_redis_url`).
        """
        options = ClientOptions(
            deadline_seconds, max_connections, health_check_interval, client_name
        )
        client = build_client(url, options)
        return cls(
            client,
            deadline_seconds=deadline_seconds,
            breaker=CircuitBreaker(failures=breaker_failures, reset_seconds=breaker_reset_seconds),
            max_in_flight=max_connections if isinstance(client, RedisCluster) else None,
            telemetry=telemetry,
            role=role,
            on_state=on_state,
        )

    @property
    def state(self) -> str:
        """Either ok, or degraded while the breaker is not closed or the last call failed."""
        if self._last_failed or self._breaker.state is not BreakerState.CLOSED:
            return "degraded"
        return "ok"

    async def run(self, op: str, call: Callable[[], Awaitable[T]]) -> T | Failed:
        """One Redis call under the breaker and the deadline.

        Args:
            op: the operation's name, for telemetry and logs (get, set, publish, ...).
            call: makes the call; invoked at most once, never retried.

        Returns:
            The call's result, or :data:`FAILED` if it failed, timed out or was skipped
            because the breaker is open.

        Raises:
            asyncio.CancelledError: the caller was cancelled (even if redis-py swallowed it).
        """
        if not self._breaker.allow():
            self._counts["short_circuits"] += 1
            return FAILED
        task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.deadline):
                result = await self._limited(call)
        except Exception as exc:  # fail open: any client error is a failure, never an outage
            self._observe(op, started)
            self._on_failure(op, exc)
            reraise_swallowed_cancel(task, cancelling)
            return FAILED
        except BaseException:  # cancelled by our caller: no verdict on Redis
            self._breaker.abandon()
            raise
        self._observe(op, started)
        self._on_success()
        reraise_swallowed_cancel(task, cancelling)
        return result

    def stats(self) -> dict[str, float | int]:
        """Failures, the breaker, and latencies of the recent timed calls that reached Redis.

        ``errors`` counts every failed call and ``timeouts`` those among them that hit the
        deadline; ``short_circuits`` counts calls skipped while the breaker was open.
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
        await close_client(self.client)

    # --- internals ---

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._limit is None:
            return await call()
        async with self._limit:
            return await call()

    def _observe(self, op: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self._telemetry.operation(self.role.tier, op, seconds)
        latency = self._latency.get(op)
        if latency is not None:
            latency.observe(seconds)

    def _on_success(self) -> None:
        was_degraded = self.state == "degraded"
        self._last_failed = False
        self._breaker.success()
        if was_degraded:
            self._state_changed()
            log.info("%s is answering again", self.role.name)

    def _state_changed(self) -> None:
        if self._on_state is not None:
            self._on_state(self.state)

    def _on_failure(self, op: str, exc: Exception) -> None:
        timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
        self._counts["errors"] += 1
        self._counts["timeouts"] += int(timed_out)
        was_ok = self.state == "ok"
        was_closed = self._breaker.state is BreakerState.CLOSED
        self._last_failed = True
        self._breaker.failure()
        why = (
            f"no answer within {self.deadline * 1000:.0f} ms"
            if timed_out
            else f"{type(exc).__name__}: {exc}"
        )
        if was_ok:
            self._state_changed()
            log.warning("%s %s failed (%s); %s", self.role.name, op, why, self.role.fallback)
        if was_closed and self._breaker.state is BreakerState.OPEN:
            log.warning(
                "%s failed %d times in a row; skipping it for %.1f s between probes",
                self.role.name,
                self._breaker.failures,
                self._breaker.reset_seconds,
            )


def reraise_swallowed_cancel(task: asyncio.Task[Any] | None, cancelling: int) -> None:
    """Raise the caller's cancellation if the Redis client swallowed it.

    On Python 3.11, ``asyncio.wait_for`` (which redis-py uses to bound socket writes)
    returns the inner result and drops a cancellation that lands as the write completes;
    the task would then carry on as if never cancelled (seen in ~1 of 4 tasks cancelled
    mid-traffic). A cancel request still pending after the call means exactly that.

    Args:
        task: the calling task (None outside a task: nothing to check).
        cancelling: ``task.cancelling()`` before the call.
    """
    if task is not None and task.cancelling() > cancelling:
        raise asyncio.CancelledError
