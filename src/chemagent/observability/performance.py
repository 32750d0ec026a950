"""The pod's performance summary behind ``GET /v1/performance``, in bounded memory.

Two kinds of data, each kept where it is cheap and correct for the whole pod:

* **Counts and percentiles** per intent and per step kind come from the Prometheus
  histograms the service already records (:mod:`chemagent.observability.pod_metrics`):
  exact, current, summed over every gunicorn worker (dead ones too, as in ``/metrics``),
  and nothing more on the hot path.
* **Slowest recent queries and recent failures** (with their trace ids) and the maximum
  per intent and step are kept by each worker's :class:`PerformanceStore` in fixed-size
  structures: two generations of the ``KEEP`` slowest queries (a sliding window), two
  rings of the last ``KEEP`` failures. Under gunicorn each worker also writes them to
  ``PROMETHEUS_MULTIPROC_DIR/performance_<pid>.json`` (atomic replace, at most once a
  second, only when something changed); the worker that answers merges its own memory
  with the other workers' files, so their entries show within ~1 s.

No query text is kept anywhere: an entry has the intent, status, duration, trace id and
time. Reading never fails on a corrupt or missing file: it is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chemagent.errors import ChemAgentError
from chemagent.observability import pod_metrics
from chemagent.observability.exposition import alive
from chemagent.observability.pod_metrics import (
    QUERY_COUNTS,
    QUERY_SECONDS,
    STEP_SECONDS,
    Values,
    quantile,
)
from chemagent.observability.tracing import current_trace_id
from chemagent.observability.worker_snapshots import Snapshots, pod_start

if TYPE_CHECKING:
    from chemagent.execution.query_service import QueryRecord
    from chemagent.execution.runner import StepRecord


KEEP = 100
"""Slowest queries per generation and failures per ring: the most a caller can ask for."""
WINDOW_SECONDS = 600.0
FLUSH_SECONDS = 1.0
MAX_NAMES = 256  # intents and step kinds are fixed sets; this only bounds a bug
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
Entry = dict[str, Any]


def _error_table() -> dict[str, tuple[str, int]]:
    table, pending = {}, [ChemAgentError]
    while pending:
        cls = pending.pop()
        table[cls.__name__] = (cls.code, cls.status)
        pending.extend(cls.__subclasses__())
    return table


_ERRORS = _error_table()


def error_of(name: str | None) -> tuple[str, int]:
    """``(code, HTTP status)`` of a step error as the runner names it (a class name or
    ``step_timeout``); anything else is a bug: ``internal``, 500."""
    if name == "step_timeout":
        return "step_timeout", 504
    return _ERRORS.get(name or "", ("internal", 500))


class SlowestQueries:
    """The ``keep`` slowest queries of the last ``window`` seconds, in bounded memory.

    Two generations of half a window each: the current one takes every query slower than
    its fastest kept entry; at the half-window it becomes the previous one. Entries are
    reported while younger than ``window``.
    """

    def __init__(self, keep: int = KEEP, window: float = WINDOW_SECONDS) -> None:
        self.keep, self.window = keep, window
        self._current: list[tuple[float, int, Entry]] = []
        self._previous: list[tuple[float, int, Entry]] = []
        self._since = 0.0
        self._sequence = 0

    def offer(self, seconds: float, now: float, entry: Callable[[], Entry]) -> bool:
        """Keep the query if it is among the slowest; ``entry()`` is built only then."""
        if now - self._since >= self.window / 2:
            recent = now - self._since < self.window
            self._previous = self._current if recent else []
            self._current, self._since = [], now
        heap = self._current
        if len(heap) >= self.keep and seconds <= heap[0][0]:
            return False
        self._sequence += 1
        item = (seconds, self._sequence, entry())
        if len(heap) < self.keep:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)
        return True

    def entries(self, now: float) -> list[Entry]:
        """Kept entries younger than the window, any order."""
        oldest = now - self.window
        return [e for _, _, e in (*self._previous, *self._current) if e["at"] >= oldest]

    def __len__(self) -> int:
        return len(self._previous) + len(self._current)


class PerformanceStore:
    """One worker's bounded record of slow queries, failures and maxima; the pod summary.

    Use :meth:`query` as a query-service observer and :meth:`step` as a step-runner
    observer; both run in the request's context, so the trace id is the request's.

    Args:
        directory: ``PROMETHEUS_MULTIPROC_DIR`` under gunicorn; None for one process.
        window: seconds a slow query stays in the summary.
        keep: entries per generation and ring.
        flush_seconds: least time between two snapshot writes.
        clock: wall-clock seconds (entries from several processes are compared).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        window: float = WINDOW_SECONDS,
        keep: int = KEEP,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.window, self.keep, self.flush_seconds = window, keep, flush_seconds
        self._clock = clock
        self.started = clock()
        self.pod_started = pod_start(self.started) if directory else self.started
        self.slowest = SlowestQueries(keep, window)
        self.server_errors: deque[Entry] = deque(maxlen=keep)
        self.client_errors: deque[Entry] = deque(maxlen=keep)
        self.maxima: dict[str, dict[str, float]] = {"intents": {}, "steps": {}}
        self._snapshots = Snapshots(directory) if directory else None
        self._flush_at = 0.0
        self._flush_pending: asyncio.TimerHandle | None = None
        self._writing: asyncio.Future[None] | None = None
        self.flush()  # replaces any file an earlier process with our pid left

    @classmethod
    def from_environment(cls) -> PerformanceStore:
        """The store for this process: files in ``PROMETHEUS_MULTIPROC_DIR`` when set."""
        value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        return cls(Path(value) if value else None)

    # -- observers (hot path: ~1 us, a dict lookup and a heap comparison) ------------------

    def query(self, record: QueryRecord) -> None:
        """A query-service observer."""
        if record.status == "invalid":  # refused before it ran: a client error, no time
            self._failure("query", record.intent, record.status, record.http_status)
            return
        changed = _raise_max(self.maxima["intents"], record.intent, record.seconds)
        now = self._clock()
        changed |= self.slowest.offer(record.seconds, now, lambda: _slow(record, now))
        if record.http_status >= 400 and record.status != "cancelled":
            self._failure("query", record.intent, record.status, record.http_status)
        elif changed:
            self._changed()

    def step(self, record: StepRecord) -> None:
        """A step-runner observer."""
        changed = _raise_max(self.maxima["steps"], record.step.kind, record.seconds)
        if record.outcome != "ok":
            code, status = error_of(record.error)
            self._failure("step", record.step.kind, code, status)
        elif changed:
            self._changed()

    def _failure(self, kind: str, name: str, error: str, status: int) -> None:
        ring = self.server_errors if status >= 500 else self.client_errors
        ring.append(
            {
                "kind": kind,
                "name": name,
                "error": error,
                "status": status,
                "trace_id": current_trace_id(),
                "at": self._clock(),
            }
        )
        self._changed()

    # -- the snapshot other workers read ------------------------------------------------

    def _changed(self) -> None:
        if self.directory is None or self._flush_pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script): write now
            self.flush()
            return
        delay = max(0.0, self._flush_at + self.flush_seconds - time.monotonic())
        self._flush_pending = loop.call_later(delay, self._flush_in_thread, loop)

    def _flush_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        # Encoding and writing ~45 KB takes ~1 ms: off the event loop, one write at a time.
        self._flush_pending = None
        if self._snapshots is None:
            return
        if self._writing is not None and not self._writing.done():
            self._changed()  # the previous write is slow: try again a period later
            return
        self._flush_at = time.monotonic()
        with contextlib.suppress(RuntimeError):  # the loop's executor is shutting down
            self._writing = loop.run_in_executor(None, self._snapshots.write, self._snapshot())

    def flush(self) -> None:
        """Write this worker's snapshot now, in this thread (atomic replace); never raises."""
        self._flush_pending = None
        if self._snapshots is None:
            return
        self._flush_at = time.monotonic()
        self._snapshots.write(self._snapshot())

    def _snapshot(self) -> Entry:
        """The snapshot's data, copied: another thread may encode it while we record."""
        return {
            "pid": os.getpid(),
            "started": self.started,
            "written": self._clock(),
            "maxima": {group: dict(names) for group, names in self.maxima.items()},
            "slowest": self.slowest.entries(self._clock()),
            "server_errors": list(self.server_errors),
            "client_errors": list(self.client_errors),
        }

    # -- the summary ------------------------------------------------------------------

    def summary(self, slowest: int = 10, failures: int = 20) -> Entry:
        """The pod's performance since it started: what ``GET /v1/performance`` returns.

        Args:
            slowest: how many of the slowest recent queries (0..``keep``).
            failures: how many recent failures of each kind, newest first (0..``keep``).
        """
        now = self._clock()
        values = pod_metrics.read()
        own = self._snapshot()
        others = self._snapshots.others(self.pod_started) if self._snapshots else []
        snapshots = [own, *others]
        maxima = _merged_maxima(snapshots)
        intents = _intent_rows(values, maxima["intents"])
        oldest = now - self.window
        slow = [e for s in snapshots for e in s["slowest"] if e["at"] >= oldest]
        slow.sort(key=lambda e: e["seconds"], reverse=True)
        return {
            "started_at": self.pod_started,
            "uptime_seconds": round(max(0.0, now - self.pod_started), 3),
            "workers": 1 + sum(1 for s in others if alive(s["pid"])),
            "worker_pid": own["pid"],
            "source": "multiprocess" if self.directory else "process",
            "window_seconds": self.window,
            "queries_total": sum(row["count"] for row in intents),
            "intents": intents,
            "steps": _step_rows(values, maxima["steps"]),
            "slowest_queries": slow[:slowest],
            "recent_failures": _newest(snapshots, "server_errors", failures),
            "recent_client_errors": _newest(snapshots, "client_errors", failures),
        }


def _slow(record: QueryRecord, now: float) -> Entry:
    return {
        "intent": record.intent,
        "status": record.status,
        "http_status": record.http_status,
        "seconds": round(record.seconds, 6),
        "steps": record.steps,
        "trace_id": current_trace_id(),
        "at": now,
    }


def _raise_max(maxima: dict[str, float], name: str, seconds: float) -> bool:
    current = maxima.get(name)
    if current is not None and seconds <= current:
        return False
    if current is None and len(maxima) >= MAX_NAMES:
        return False
    maxima[name] = seconds
    return True


def _merged_maxima(snapshots: Iterable[Entry]) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {"intents": {}, "steps": {}}
    for snapshot in snapshots:
        for group, names in snapshot["maxima"].items():
            for name, seconds in names.items():
                merged[group][name] = max(seconds, merged[group].get(name, 0.0))
    return merged


def _newest(snapshots: Iterable[Entry], ring: str, limit: int) -> list[Entry]:
    # Rings are oldest first; reversed, the stable sort keeps the newest of equal times first.
    entries = [e for s in snapshots for e in reversed(s[ring])]
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries[:limit]


def _latency(
    bounds: tuple[float, ...], counts: list[float], maximum: float | None
) -> dict[str, float | None]:
    latency: dict[str, float | None] = {}
    for name, q in QUANTILES:
        value = quantile(q, bounds, counts, maximum)
        latency[name] = None if value is None else round(value, 6)
    latency["max"] = None if maximum is None else round(maximum, 6)
    return latency


def _intent_rows(values: Values, maxima: dict[str, float]) -> list[Entry]:
    statuses: dict[str, dict[str, int]] = {}
    for (intent, status), (count,) in values[QUERY_COUNTS].items():
        if count:
            statuses.setdefault(intent, {})[status] = int(count)
    histograms = {labels[0]: row for labels, row in values[QUERY_SECONDS].items() if sum(row)}
    rows: list[Entry] = []
    for intent in statuses.keys() | histograms.keys():
        counts = histograms.get(intent) or [0.0] * QUERY_SECONDS.width
        by_status = statuses.get(intent, {})
        rows.append(
            {
                "intent": intent,
                "count": sum(by_status.values()),
                "statuses": dict(sorted(by_status.items())),
                "latency_seconds": _latency(QUERY_SECONDS.bounds, counts, maxima.get(intent)),
            }
        )
    rows.sort(key=lambda row: (-row["count"], row["intent"]))
    return rows


def _step_rows(values: Values, maxima: dict[str, float]) -> list[Entry]:
    steps: dict[str, tuple[list[float], dict[str, int], dict[str, int]]] = {}
    for (step, outcome, tier), row in values[STEP_SECONDS].items():
        total = int(sum(row))
        if not total:
            continue
        counts, outcomes, tiers = steps.setdefault(step, ([0.0] * STEP_SECONDS.width, {}, {}))
        for index, count in enumerate(row):
            counts[index] += count
        outcomes[outcome] = outcomes.get(outcome, 0) + total
        tiers[tier] = tiers.get(tier, 0) + total
    rows: list[Entry] = [
        {
            "step": step,
            "count": int(sum(counts)),
            "outcomes": dict(sorted(outcomes.items())),
            "cache": dict(sorted(tiers.items())),
            "latency_seconds": _latency(STEP_SECONDS.bounds, counts, maxima.get(step)),
        }
        for step, (counts, outcomes, tiers) in steps.items()
    ]
    rows.sort(key=lambda row: (-row["count"], row["step"]))
    return rows
