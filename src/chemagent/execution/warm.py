"""Cache warming: compute a list of compound IDs, SMILES and queries into the step cache.

Each item is read as the first of these that fits:

- an ID (letters then digits: ``CHEMBL25``, ``MOL-12``) -> the compound and its panel;
- a SMILES without spaces that parses -> its property panel;
- anything else -> a plain-English query, answered in full (every step of its plan).

A SMILES-looking item (brackets, ``=``, ``#``, digits, ...) that does not parse fails
with the parser's explanation instead of being asked as a query. Failures are counted
and the first :data:`KEPT_ERRORS` kept with their reason; they never stop the warm.

One :class:`CacheWarmer` per worker runs at most one warm at a time, in a background
task that outlives the request that started it (``POST /v1/cache/warm`` with a short
deadline, ``CHEMAGENT_CACHE_WARM_FILE`` at start-up); its live report is ``last``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chemagent.errors import ChemAgentError, InvalidInput, InvalidMolecule, WarmInProgress
from chemagent.execution.operations import Operations
from chemagent.execution.query_service import QueryOptions, QueryService
from chemagent.execution.runner import MISS, StepRecord
from chemagent.observability.tracing import untraced

log = logging.getLogger(__name__)

MAX_WARM_ITEMS = 10_000
"""Most items in one warm file (``POST /v1/cache/warm`` takes at most 1,000 a call)."""
KEPT_ERRORS = 10
"""Failures kept in a report with their reason; the rest are only counted."""
SHOWN_CHARACTERS = 200
"""An item longer than this is shortened in the report (SMILES can be 2,000 long)."""

_ID = re.compile(r"^[A-Za-z]+[_-]?\d+$")  # CHEMBL25, MOL12: never valid SMILES (open ring)
_SMILES_ONLY = re.compile(r"[()\[\]=#@+\\/%0-9]")  # in SMILES, never in a drug name
_JSON_LIST = re.compile(r'^\[\s*["\]]')  # a JSON list of strings; SMILES never have '"'

ProgressFn = Callable[["WarmReport"], None]


@dataclass(frozen=True)
class WarmError:
    """One item that could not be warmed: the item, the error code and its sentence."""

    item: str
    error: str
    detail: str


@dataclass
class WarmReport:
    """What one warm did; updated live while it runs.

    Attributes:
        items: distinct items to warm (blank and repeated items are dropped).
        source: what started it: ``api``, ``file`` or ``cli``.
        ok: items warmed.
        failed: items that failed (their first :data:`KEPT_ERRORS` are in ``errors``).
        steps_computed: steps computed because no cache tier had them (counted from the
            step runner, only for this warm's own steps).
        steps_cached: steps a cache tier (L1, L2, or stale) already had.
        seconds: wall time so far, or in total once done.
        running: still running.
        cancelled: stopped before the end (shutdown).
        started_at: Unix time it started.
        duplicates: items dropped as blank or repeated.
        errors: the first failures.
    """

    items: int
    source: str
    ok: int = 0
    failed: int = 0
    steps_computed: int = 0
    steps_cached: int = 0
    seconds: float = 0.0
    running: bool = True
    cancelled: bool = False
    started_at: float = field(default_factory=time.time)
    duplicates: int = 0
    errors: list[WarmError] = field(default_factory=list)

    @property
    def done(self) -> int:
        """Items finished, warmed or failed."""
        return self.ok + self.failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line with the numbers, for the log."""
        first = f"; first error: {self.errors[0].error}" if self.errors else ""
        state = "cancelled after" if self.cancelled else "done in"
        return (
            f"cache warm ({self.source}) {state} {self.seconds:.2f} s: {self.ok}/{self.items} "
            f"items warmed, {self.failed} failed; {self.steps_computed} steps computed, "
            f"{self.steps_cached} already cached{first}"
        )

    def add(self, error: WarmError | None) -> None:
        """Count one finished item: warmed (``None``) or failed."""
        if error is None:
            self.ok += 1
            return
        self.failed += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(error)

    def count_step(self, record: StepRecord) -> None:
        """Count one step run for this warm: from a cache tier, or computed."""
        if record.cache != MISS:
            self.steps_cached += 1
        elif record.outcome == "ok":
            self.steps_computed += 1


# The report of the warm the current task works for. The runner's observer sees every
# step of the worker (live traffic too) and counts only those run on behalf of a warm:
# the tasks a warm starts (query plans, single-flight waits) inherit this context.
_current: ContextVar[WarmReport | None] = ContextVar("chemagent_warm_report", default=None)


def _count_step(record: StepRecord) -> None:
    report = _current.get()
    if report is not None:
        report.count_step(record)


def distinct(items: Sequence[str]) -> list[str]:
    """``items`` stripped, without blanks and repeats, in their first order."""
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def background_concurrency(max_workers: int) -> int:
    """Items warmed at once beside live traffic: half the CPU threads, so requests keep
    the other half."""
    return max(1, max_workers // 2)


class CacheWarmer:
    """Warms this worker's cache, one warm at a time.

    Args:
        operations: the REST use cases (compounds, property panels).
        queries: the plain-English query service.
    """

    def __init__(self, operations: Operations, queries: QueryService) -> None:
        self.operations = operations
        self.queries = queries
        self.last: WarmReport | None = None
        """The running warm's report, else the last finished one."""
        self._task: asyncio.Task[None] | None = None
        observers = operations.runner.observers
        if _count_step not in observers:  # once per runner: a no-op outside a warm
            observers.append(_count_step)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def warm(
        self,
        items: Sequence[str],
        *,
        concurrency: int,
        source: str = "api",
        on_progress: ProgressFn | None = None,
    ) -> WarmReport:
        """Warm ``items`` and return the report when done.

        The warm runs in its own task: if the caller stops waiting (a request deadline,
        a client gone) it carries on, and ``last`` shows its progress.

        Raises:
            WarmInProgress: another warm is running on this worker.
        """
        report = self.start(items, concurrency=concurrency, source=source, on_progress=on_progress)
        assert self._task is not None
        await asyncio.shield(self._task)
        return report

    def start(
        self,
        items: Sequence[str],
        *,
        concurrency: int,
        source: str = "api",
        on_progress: ProgressFn | None = None,
    ) -> WarmReport:
        """Start warming ``items`` in the background; returns the live report.

        Raises:
            WarmInProgress: another warm is running on this worker.
        """
        self._claim()
        unique = distinct(items)
        report = WarmReport(len(unique), source, duplicates=len(items) - len(unique))
        self.last = report
        self._task = _background(self._run(unique, report, concurrency, on_progress))
        return report

    def start_file(self, path: Path, *, concurrency: int) -> None:
        """Warm the items of ``path`` in the background and log one line when done.

        A file that cannot be read is logged as an error: the service runs on, cold.

        Raises:
            WarmInProgress: another warm is running on this worker.
        """
        self._claim()
        self._task = _background(self._run_file(path, concurrency))

    async def aclose(self) -> None:
        """Cancel the running warm, if any, and wait for it to stop."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])

    # --- internals -----------------------------------------------------------------------

    def _claim(self) -> None:
        if self.running:
            done = f"{self.last.done} of {self.last.items} items done" if self.last else "starting"
            raise WarmInProgress(
                f"A cache warm is already running on this worker ({done}); wait for it to "
                "finish (see GET /v1/cache/stats) and send this one again."
            )

    async def _run_file(self, path: Path, concurrency: int) -> None:
        try:
            items = await asyncio.to_thread(read_warm_file, path)
        except InvalidInput as exc:
            log.error("CHEMAGENT_CACHE_WARM_FILE: %s Nothing was warmed.", exc.detail)
            return
        unique = distinct(items)
        report = WarmReport(len(unique), "file", duplicates=len(items) - len(unique))
        self.last = report
        try:
            # Not traced: at start-up there is no request, and every warmed step would
            # otherwise start a one-span trace of its own (1 in 10 at the default sampling).
            with untraced():
                await self._run(unique, report, concurrency, None)
        finally:  # done or cancelled at shutdown: one line either way
            log.info("%s (from %s)", report.summary(), path)

    async def _run(
        self,
        items: list[str],
        report: WarmReport,
        concurrency: int,
        on_progress: ProgressFn | None,
    ) -> None:
        pending = iter(items)  # shared by the workers: each item is taken once
        started = time.perf_counter()

        async def work() -> None:
            for item in pending:
                report.add(await self._warm_one(item))
                report.seconds = time.perf_counter() - started
                if on_progress is not None:
                    on_progress(report)

        _current.set(report)  # this task's own context, inherited by the tasks it starts
        try:
            await asyncio.gather(*(work() for _ in range(max(1, min(concurrency, len(items))))))
        except asyncio.CancelledError:
            report.cancelled = True
            raise
        finally:
            report.seconds = time.perf_counter() - started
            report.running = False

    async def _warm_one(self, item: str) -> WarmError | None:
        """Warm one item; its failure as a :class:`WarmError`, never raised."""
        try:
            if _ID.match(item):
                await self.operations.compound(item)
                return None
            if not any(c.isspace() for c in item) and await self._smiles(item):
                await self.operations.properties_of_smiles(item)
                return None
            return await self._query(item)
        except ChemAgentError as exc:
            return _error(item, exc.code, exc.detail)
        except Exception as exc:  # a bug: logged with its traceback, the warm goes on
            log.exception("warming %r failed unexpectedly", item[:SHOWN_CHARACTERS])
            return _error(item, "internal", f"{type(exc).__name__}: {exc}")

    async def _smiles(self, item: str) -> bool:
        """Whether ``item`` is a SMILES; a SMILES-looking one that does not parse raises."""
        try:
            await self.operations.canonical(item)
        except InvalidMolecule:
            if _SMILES_ONLY.search(item):
                raise
            return False
        return True

    async def _query(self, item: str) -> WarmError | None:
        outcome = await self.queries.run(item, QueryOptions(remember=False))
        body = outcome.body
        if not outcome.ok:
            return _error(item, str(body.get("error", "failed")), str(body.get("detail", "")))
        if body.get("status") == "rejected":
            return _error(item, "query_rejected", str(body.get("answer", "")))
        return None


def _background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task for ``work`` whose unexpected failure is logged, not left unretrieved."""
    task = asyncio.create_task(work)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("the cache warm stopped on an unexpected error", exc_info=exc)


def _error(item: str, code: str, detail: str) -> WarmError:
    shown = item if len(item) <= SHOWN_CHARACTERS else item[:SHOWN_CHARACTERS] + "..."
    return WarmError(shown, code, detail)


def read_warm_file(path: Path, *, limit: int = MAX_WARM_ITEMS) -> list[str]:
    """The items of a warm file, in order.

    Two formats: one item per line (blank lines and lines starting with ``#`` are
    skipped; ``#`` elsewhere is part of the item, as in the SMILES ``C#N``), or a JSON
    list of strings (a ``.json`` file, or text starting with ``["``).

    Raises:
        InvalidInput: the file cannot be read, is not UTF-8, is malformed JSON, lists no
            items or more than ``limit``; the sentence names the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"The warm file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidInput(f"The warm file {path} cannot be read: {exc.strerror}.") from None
    if path.suffix.lower() == ".json" or _JSON_LIST.match(text.lstrip()):
        items = _json_items(path, text)
    else:
        items = list(_line_items(text))
    if not items:
        raise InvalidInput(
            f"The warm file {path} lists no items; put one ID, SMILES or query per line "
            "(blank lines and # comments are skipped), or a JSON list of strings."
        )
    if len(items) > limit:
        raise InvalidInput(
            f"The warm file {path} lists {len(items):,} items; the limit is {limit:,}. "
            "Keep the most requested ones."
        )
    return items


def _line_items(text: str) -> Iterator[str]:
    for line in text.splitlines():
        item = line.strip()
        if item and not item.startswith("#"):
            yield item


def _json_items(path: Path, text: str) -> list[str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The warm file {path} is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); send a JSON list of strings, or one item per line."
        ) from None
    if not isinstance(data, list):
        raise InvalidInput(
            f"The warm file {path} holds a JSON {type(data).__name__}; it must be a list of "
            'strings, e.g. ["CHEMBL25", "CCO", "LogP of aspirin"].'
        )
    for number, value in enumerate(data, 1):
        if not isinstance(value, str):
            raise InvalidInput(
                f"The warm file {path} must hold a JSON list of strings; item {number} is "
                f"{json.dumps(value)[:40]}."
            )
    return [value.strip() for value in data if value.strip()]
