"""The circuit breaker, driven by a fake clock: no sleeping, every transition checked."""

from __future__ import annotations

import pytest

from chemagent.cache.breaker import BreakerState, CircuitBreaker


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transitions() -> list[tuple[BreakerState, BreakerState]]:
    return []


@pytest.fixture
def breaker(
    clock: FakeClock, transitions: list[tuple[BreakerState, BreakerState]]
) -> CircuitBreaker:
    return CircuitBreaker(
        failures=3,
        reset_seconds=5.0,
        clock=clock,
        on_transition=lambda old, new: transitions.append((old, new)),
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.failure()


def test_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2
    assert breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_opens_after_consecutive_failures_and_refuses_calls(
    breaker: CircuitBreaker, clock: FakeClock, transitions: list[tuple[BreakerState, BreakerState]]
) -> None:
    fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    assert breaker.open_count == 1
    assert transitions == [(BreakerState.CLOSED, BreakerState.OPEN)]
    clock.advance(4.999)
    assert not any(breaker.allow() for _ in range(100))
    assert breaker.state is BreakerState.OPEN


def test_one_probe_after_reset_then_closes_on_success(
    breaker: CircuitBreaker, clock: FakeClock, transitions: list[tuple[BreakerState, BreakerState]]
) -> None:
    fail(breaker, 3)
    clock.advance(5.0)
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    assert not breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert all(breaker.allow() for _ in range(10))
    assert transitions == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_failed_probe_reopens_for_another_full_period(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 3)
    clock.advance(6.0)
    assert breaker.allow()
    breaker.failure()  # one failure is enough in half-open
    assert breaker.state is BreakerState.OPEN
    assert breaker.open_count == 2
    clock.advance(4.0)
    assert not breaker.allow()  # the period restarted at the failed probe
    clock.advance(1.0)
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN


def test_abandoned_probe_frees_the_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """A probe cancelled by its caller gives no verdict; the next call may probe."""
    fail(breaker, 3)
    clock.advance(5.0)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.abandon()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()


def test_late_failures_while_open_do_not_extend_the_period(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """Calls that started before the breaker opened may fail after: the clock is not reset."""
    fail(breaker, 3)
    clock.advance(4.0)
    breaker.failure()
    breaker.failure()
    assert breaker.open_count == 1
    clock.advance(1.0)
    assert breaker.allow()


def test_threshold_of_one_opens_on_the_first_failure(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=0.0, clock=clock)
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow()  # reset 0: the very next call probes
    assert breaker.state is BreakerState.HALF_OPEN


@pytest.mark.parametrize(("failures", "reset"), [(0, 1.0), (-1, 1.0), (1, -0.1)])
def test_rejects_nonsense_settings(failures: int, reset: float) -> None:
    with pytest.raises(ValueError, match="must"):
        CircuitBreaker(failures=failures, reset_seconds=reset)
