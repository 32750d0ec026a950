"""The step runner: the one place every step goes through.

``StepRunner.run`` is the seam where the cache tiers (L1/L2), the per-step span and the
per-step histogram plug in: adding a step kind adds its caching and telemetry for free.
CPU work (RDKit, FPSim2) runs in a bounded thread pool, never on the event loop, under a
per-step deadline; when too much work is queued the runner sheds load instead of queueing
forever. A cache hit never reaches the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chemagent.errors import Overloaded, StepTimeout
from chemagent.execution.step import Step
from chemagent.observability import tracing
from chemagent.steps.context import StepContext
from chemagent.steps.registry import get_kind

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)


MISS = "miss"


class StepCache(Protocol):
    """The cache as the runner sees it (:class:`chemagent.cache.tiered.TieredCache`)."""

    async def get_or_compute(
        self, step: Step, step_version: int, compute: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, str]:
        """``(value, tier)``: from a cache tier, or computed once by ``compute``."""
        ...


@dataclass(frozen=True)
class StepRecord:
    """What happened to one step run: handed to every observer after the step ends."""

    step: Step
    outcome: str  # ok, error, timeout
    cache: str  # l1, l2, miss, stale (served past its TTL)
    seconds: float
    error: str | None = None


Observer = Callable[[StepRecord], None]


class StepRunner:
    """Runs steps in a bounded executor with deadlines and load shedding.

    Args:
        context: resources the step functions use.
        executor: the thread pool for CPU work (owned by the app lifespan).
        step_timeout: default deadline of one step, in seconds.
        max_pending: most steps submitted to the executor and not yet finished; a timed-out
            step still counts until its thread finishes, so a burst of pathological
            molecules cannot queue unbounded work.
        cache: where results are looked up before computing and stored after; None
            computes every step.
    """

    def __init__(
        self,
        context: StepContext,
        executor: Executor,
        *,
        step_timeout: float,
        max_pending: int,
        cache: StepCache | None = None,
    ) -> None:
        self.context = context
        self.cache = cache
        self._executor = executor
        self._step_timeout = step_timeout
        self._max_pending = max_pending
        self._pending = 0
        self.observers: list[Observer] = []

    @property
    def pending(self) -> int:
        """Steps submitted to the executor whose thread has not finished."""
        return self._pending

    async def run(self, step: Step) -> Any:
        """Run one step and return its JSON-ready result.

        Raises:
            ChemAgentError: whatever the step raises (e.g. InvalidMolecule).
            StepTimeout: the step took longer than its deadline.
            Overloaded: too much work is already queued.
        """
        value, _ = await self.run_cached(step)
        return value

    async def run_cached(self, step: Step) -> tuple[Any, str]:
        """:meth:`run`, also saying where the result came from: l1, l2, miss or stale.

        With tracing on, the step runs inside its span ``step <kind>``, a child of the
        current span (the request's, or ``query.plan``), so the Redis calls it makes are
        the span's children and the observers' log lines name it. With tracing off this
        costs a None check; under an unsampled request no span is made either
        (:func:`~chemagent.observability.tracing.child_tracer`).
        """
        tracer = tracing.child_tracer()
        span: Span | None = None
        if tracer is not None:
            span, token = tracing.start_child_span(
                tracer, _span_name(step.kind), {tracing.STEP_KIND: step.kind}
            )
        kind = get_kind(step.kind)
        timeout = kind.timeout_seconds or self._step_timeout
        started = time.perf_counter()
        outcome, error, tier, value = "ok", None, MISS, None
        try:
            if self.cache is None:
                value = await self._compute(kind.fn, step, deadline=timeout)
                return value, MISS
            # Every caller waiting on one computation shares its deadline.
            value, tier = await self.cache.get_or_compute(
                step, kind.version, lambda: self._compute(kind.fn, step, deadline=timeout)
            )
            return value, tier
        except TimeoutError:
            outcome, error = "timeout", "step_timeout"
            raise StepTimeout(
                f"The {step.kind} step took longer than {timeout:g} s and was abandoned; "
                "try a smaller molecule or a narrower search."
            ) from None
        except Exception as exc:
            outcome, error = "error", type(exc).__name__
            tier = getattr(exc, "cache_tier", MISS)  # a cached "not found" has its tier
            raise
        finally:
            record = StepRecord(step, outcome, tier, time.perf_counter() - started, error)
            if span is not None and span.is_recording():
                describe_step(span, record, value)
            try:
                for observer in self.observers:
                    observer(record)
            finally:
                if span is not None:
                    tracing.end_span(span, token)

    async def _compute(self, fn: Any, step: Step, *, deadline: float) -> Any:
        if self._pending >= self._max_pending:
            raise Overloaded(
                f"{self._pending} steps are already queued on this worker; retry in a moment."
            )
        self._pending += 1
        try:
            # In the step's context, so a log line written by the step names its trace.
            future = self._executor.submit(
                contextvars.copy_context().run, fn, self.context, step.input, step.param_map
            )
        except BaseException:
            self._pending -= 1
            raise
        loop = asyncio.get_running_loop()

        def release(_: object) -> None:
            # Count the step until its thread finishes, even if we stopped waiting for it.
            # RuntimeError: the loop closed during shutdown, nothing is left to count.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release)

        future.add_done_callback(release)
        return await asyncio.wait_for(asyncio.wrap_future(future), deadline)

    def _release(self) -> None:
        self._pending -= 1

    async def run_all(self, steps: Sequence[Step]) -> list[Any | BaseException]:
        """Run independent steps concurrently; results (or exceptions) in input order."""
        return list(await asyncio.gather(*(self.run(s) for s in steps), return_exceptions=True))


# --- the step's span ---------------------------------------------------------------------

_COMPOUND_ID = re.compile(r"^CHEMBL\d{1,12}$")
_LIBRARY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_LISTS = ("hits", "matches", "records", "ranking")
"""Result fields that hold the step's answers, in the order they are looked for."""


@functools.cache
def _span_name(kind: str) -> str:
    return f"step {kind}"


def describe_step(span: Span, record: StepRecord, value: Any) -> None:
    """Set the step span's ``chemagent.*`` attributes, and its error status on failure."""
    attributes: dict[str, str | int] = {
        tracing.CACHE_TIER: record.cache,
        tracing.STEP_OUTCOME: record.outcome,
    }
    compound = compound_id(record.step, value)
    if compound is not None:
        attributes[tracing.COMPOUND_ID] = compound
    count = result_count(value)
    if count is not None:
        attributes[tracing.RESULT_COUNT] = count
    span.set_attributes(attributes)  # one call: the span takes its lock once, not four times
    if record.error is not None:
        tracing.mark_failed(span, record.error)


def compound_id(step: Step, value: Any) -> str | None:
    """The library compound a step is about, for its span; None when it is about several
    or about a structure.

    In order: the result's own ``chembl_id`` (``compound`` and ``contains``), the first
    exact match of a ``resolve`` (a name resolved to its compound), or the input itself
    when it is a ChEMBL ID (a ``compound`` or ``targets`` step that failed). IDs from a
    result come from the library, so they are never free text; an input is used only
    when it has the shape of a ChEMBL ID, so a SMILES, a name or a query never is.
    """
    if isinstance(value, dict):
        own = value.get("chembl_id")
        if own is None and isinstance(matches := value.get("matches"), list) and matches:
            first = matches[0]
            own = first.get("chembl_id") if isinstance(first, dict) else None
        if isinstance(own, str) and _LIBRARY_ID.match(own):
            return own
    if len(step.input) > 32:  # a JSON list, a long SMILES: never one ID
        return None
    text = step.input.strip().upper()
    return text if _COMPOUND_ID.match(text) else None


def result_count(value: Any) -> int | None:
    """How many answers a step returned: a list's length, or its hits, matches, records
    or ranking; None for a single answer (a record, a panel, a depiction)."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        for key in _LISTS:
            items = value.get(key)
            if isinstance(items, list):
                return len(items)
    return None
