"""A circuit breaker: stop calling a dependency that keeps failing, and probe for its return.

::

    closed ──(``failures`` consecutive failures)──> open
    open ──(``reset_seconds`` later, the next call)──> half-open: that one call is the probe
    half-open ──(probe succeeds)──> closed
    half-open ──(probe fails)──> open (for another ``reset_seconds``)

While open (and while the probe is in flight) :meth:`CircuitBreaker.allow` says no at
once, so callers skip the dependency instead of waiting on it. The clock is injected, so
tests drive the transitions without sleeping. Pure Python, not thread-safe: one breaker
belongs to one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Where the breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Transition = Callable[[BreakerState, BreakerState], None]
"""Called with (old, new) on every state change."""


class CircuitBreaker:
    """Counts consecutive failures; opens after ``failures``, probes after ``reset_seconds``.

    Args:
        failures: consecutive failures that open the breaker (at least 1).
        reset_seconds: how long it stays open before one probe call is let through.
        clock: monotonic seconds; ``time.monotonic`` unless a test injects a fake.
        on_transition: called with (old, new) state on every change, e.g. to log once
            per transition rather than once per call.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        if reset_seconds < 0:
            raise ValueError(f"reset_seconds must not be negative, got {reset_seconds}")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self.open_count = 0
        """How many times the breaker went from closed (or half-open) to open."""

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its reset time still reads open)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._consecutive

    def allow(self) -> bool:
        """Whether a call may go through now; an open breaker lets one probe through.

        Returns:
            True when closed, or when open for ``reset_seconds`` (the caller is then the
            probe and must report :meth:`success`, :meth:`failure` or :meth:`abandon`).
        """
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
            return True
        if self._clock() - self._opened_at < self.reset_seconds:
            return False
        self._move(BreakerState.HALF_OPEN)
        self._probing = True
        return True

    def success(self) -> None:
        """A call succeeded: reset the failure count and close."""
        self._consecutive = 0
        self._probing = False
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def failure(self) -> None:
        """A call failed: count it; open after ``failures`` in a row or a failed probe."""
        self._consecutive += 1
        self._probing = False
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._consecutive >= self.failures
        ):
            self._open()

    def abandon(self) -> None:
        """The call ended without an answer (cancelled by its caller): free the probe slot."""
        self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self.open_count += 1
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_transition is not None and old is not new:
            self._on_transition(old, new)
