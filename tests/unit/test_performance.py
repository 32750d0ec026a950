"""The performance summary's parts: percentiles from buckets, reading the pod's histograms,
the bounded slow-query and failure structures, and the per-worker snapshots.

Multiprocess files are written by prometheus-client's own multiprocess value class, as a
worker under gunicorn writes them.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Histogram, values

from chemagent.execution.query_service import QueryRecord
from chemagent.execution.runner import StepRecord
from chemagent.execution.step import Step
from chemagent.observability import pod_metrics
from chemagent.observability.metrics import QUERIES, STEP_BUCKETS
from chemagent.observability.performance import PerformanceStore, SlowestQueries, error_of
from chemagent.observability.pod_metrics import (
    QUERY_COUNTS,
    QUERY_SECONDS,
    STEP_SECONDS,
    Family,
    quantile,
)
from chemagent.observability.tracing import local_trace
from chemagent.observability.worker_snapshots import pod_start

QUANTILES = (0.5, 0.9, 0.95, 0.99)


class Clock:
    """Wall-clock seconds that tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def query(
    intent: str = "lookup", seconds: float = 0.01, status: str = "ok", http: int = 200
) -> QueryRecord:
    return QueryRecord(intent, status, seconds, http, steps=2)


def step(
    kind: str = "resolve", seconds: float = 0.001, outcome: str = "ok", error: str | None = None
) -> StepRecord:
    return StepRecord(Step.of(kind, "CHEMBL25"), outcome, "l1", seconds, error)


def bucket_of(value: float, bounds: tuple[float, ...]) -> tuple[float, float]:
    """The (lower, upper] bucket holding ``value``."""
    lower = 0.0
    for upper in (*bounds, math.inf):
        if value <= upper:
            return lower, upper
        lower = upper
    raise AssertionError("unreachable")


# -- percentiles -------------------------------------------------------------------------


def test_percentiles_are_within_the_bucket_of_the_exact_ones() -> None:
    rng = random.Random(5)
    samples = [rng.lognormvariate(math.log(0.004), 1.3) for _ in range(20_000)]
    histogram = Histogram("q_seconds", "test", ["intent"], buckets=STEP_BUCKETS, registry=None)
    for value in samples:
        histogram.labels("lookup").observe(value)
    family = Family(histogram, "q_seconds", ("intent",), STEP_BUCKETS)
    samples_of = [sample for metric in histogram.collect() for sample in metric.samples]
    counts = pod_metrics.rows_of(family, samples_of)[("lookup",)]
    assert sum(counts) == len(samples)
    ordered = sorted(samples)
    for q in QUANTILES:
        exact = ordered[math.ceil(q * len(ordered)) - 1]  # nearest rank
        estimate = quantile(q, STEP_BUCKETS, counts, max(samples))
        assert estimate is not None
        lower, upper = bucket_of(exact, STEP_BUCKETS)
        assert lower <= estimate <= upper, (q, exact, estimate)
        # A bucket is 2-2.5x wide here: the estimate is within that factor of the truth.
        assert exact / 2.5 <= estimate <= exact * 2.5


def test_quantile_edges() -> None:
    bounds = (0.1, 1.0)
    assert quantile(0.5, bounds, [0, 0, 0]) is None
    assert quantile(0.5, bounds, [0, 4, 0]) == pytest.approx(0.55)  # middle of (0.1, 1]
    # Never above the maximum seen, when that maximum lies in the bucket.
    assert quantile(0.99, bounds, [0, 4, 0], maximum=0.3) == 0.3
    # In the +Inf bucket PromQL answers the last finite bound; with a maximum we
    # interpolate up to it.
    assert quantile(0.5, bounds, [0, 0, 2]) == 1.0
    assert quantile(1.0, bounds, [0, 0, 2], maximum=7.0) == 7.0
    assert quantile(0.5, bounds, [0, 0, 2], maximum=7.0) == pytest.approx(4.0)
    assert quantile(0.0, bounds, [3, 1, 0]) == 0.0


# -- the multiprocess file reader ----------------------------------------------------------


@contextmanager
def worker(directory: Path, pid: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The query/step metrics of a fake worker ``pid``, written to ``directory`` the way
    prometheus-client writes them under gunicorn."""
    with monkeypatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        patch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: pid))
        metrics = {
            "queries": Counter(QUERY_COUNTS.name, "q", QUERY_COUNTS.labels, registry=None),
            "query_seconds": Histogram(
                QUERY_SECONDS.name, "d", QUERY_SECONDS.labels, buckets=STEP_BUCKETS, registry=None
            ),
            "step_seconds": Histogram(
                STEP_SECONDS.name, "s", STEP_SECONDS.labels, buckets=STEP_BUCKETS, registry=None
            ),
        }
        try:
            yield metrics
        finally:
            values.close_all_multiprocess_files()


def test_read_sums_every_workers_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1)
    sent: dict[str, int] = {}
    step_seconds: list[float] = []
    for pid in (1001, 1002):
        with worker(tmp_path, pid, monkeypatch) as metrics:
            for _ in range(300):
                intent = rng.choice(["lookup", "similarity", "properties"])
                sent[intent] = sent.get(intent, 0) + 1
                metrics["queries"].labels(intent, "ok").inc()
                metrics["query_seconds"].labels(intent).observe(rng.expovariate(100))
                seconds = rng.expovariate(1000)
                step_seconds.append(seconds)
                metrics["step_seconds"].labels("resolve", "ok", "l1").observe(seconds)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    read = pod_metrics.read()
    assert {labels[0]: row[0] for labels, row in read[QUERY_COUNTS].items()} == sent
    assert {labels[0]: sum(row) for labels, row in read[QUERY_SECONDS].items()} == sent
    (row,) = read[STEP_SECONDS].values()
    assert sum(row) == 600
    # Per-bucket counts (not cumulative): each bucket holds what fell inside it.
    first = sum(1 for v in step_seconds if v <= STEP_BUCKETS[0])
    assert row[0] == first
    assert all(count >= 0 for count in row)


def test_read_without_the_directory_reads_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    before = pod_metrics.read()[QUERY_COUNTS].get(("lookup", "ok"), [0.0])[0]
    QUERIES.labels("lookup", "ok").inc()
    assert pod_metrics.read()[QUERY_COUNTS][("lookup", "ok")] == [before + 1]


def test_slowest_keeps_the_top_n_and_builds_entries_only_for_them() -> None:
    slowest = SlowestQueries(keep=10, window=600)
    built: list[float] = []

    def entry(seconds: float, now: float) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            built.append(seconds)
            return {"seconds": seconds, "at": now}

        return make

    rng = random.Random(2)
    offered = [rng.random() for _ in range(5000)]
    for i, seconds in enumerate(offered):
        slowest.offer(seconds, 1000.0 + i * 0.01, entry(seconds, 1000.0 + i * 0.01))
    kept = sorted((e["seconds"] for e in slowest.entries(1050.0)), reverse=True)
    assert kept == sorted(offered, reverse=True)[:10]
    assert len(built) < 200  # only candidates were built (~10 * ln(5000/10))


def test_slowest_slides_over_the_window() -> None:
    slowest = SlowestQueries(keep=3, window=600)
    slowest.offer(9.0, 0.0, lambda: {"seconds": 9.0, "at": 0.0})
    slowest.offer(1.0, 400.0, lambda: {"seconds": 1.0, "at": 400.0})  # a new generation
    assert [e["seconds"] for e in slowest.entries(400.0)] == [9.0, 1.0]
    assert [e["seconds"] for e in slowest.entries(650.0)] == [1.0]  # 9.0 is 650 s old
    slowest.offer(0.5, 2000.0, lambda: {"seconds": 0.5, "at": 2000.0})  # long idle
    assert [e["seconds"] for e in slowest.entries(2000.0)] == [0.5]


def test_memory_stays_bounded_after_100k_records() -> None:
    clock = Clock()
    store = PerformanceStore(keep=50, clock=clock)
    rng = random.Random(3)
    statuses = [("ok", 200), ("failed", 404), ("failed", 503), ("invalid", 422), ("error", 500)]

    def feed(count: int) -> None:
        for _ in range(count):
            clock.now += 0.1  # 10k records span 1000 s: both generations fill
            status, http = rng.choice(statuses)
            store.query(query(rng.choice(["lookup", "compare"]), rng.expovariate(50), status, http))
            outcome = rng.choice(["ok", "ok", "error", "timeout"])
            error = {"ok": None, "error": "CompoundNotFound", "timeout": "step_timeout"}[outcome]
            store.step(
                step(rng.choice(["resolve", "properties"]), rng.expovariate(500), outcome, error)
            )

    tracemalloc.start()
    try:
        feed(10_000)  # every structure is full by now
        before, _ = tracemalloc.get_traced_memory()
        feed(90_000)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store.slowest) <= 100
    assert len(store.server_errors) == len(store.client_errors) == 50
    assert set(store.maxima["intents"]) == {"lookup", "compare"}
    assert after - before < 16 * 1024, after - before  # 90k more records, no growth
    summary = store.summary(slowest=50, failures=50)
    assert len(summary["slowest_queries"]) == 50
    assert len(summary["recent_failures"]) == len(summary["recent_client_errors"]) == 50


def test_failures_are_split_by_side_with_codes_and_trace_ids() -> None:
    store = PerformanceStore()
    with local_trace() as trace_id:
        store.query(query("properties", 0.01, "failed", 404))
        store.step(step("resolve", 0.001, "error", "CompoundNotFound"))
        store.step(step("similarity", 10.0, "timeout", "step_timeout"))
        store.step(step("depict", 0.1, "error", "ZeroDivisionError"))
        store.query(query("targets", 0.01, "failed", 503))
    store.query(query("unknown", 0.0, "invalid", 422))
    store.query(query("lookup", 0.5, "cancelled", 499))  # the caller left: not a failure
    summary = store.summary(failures=10)
    server = [(f["kind"], f["name"], f["error"], f["status"]) for f in summary["recent_failures"]]
    assert server == [
        ("query", "targets", "failed", 503),
        ("step", "depict", "internal", 500),
        ("step", "similarity", "step_timeout", 504),
    ]
    client = [
        (f["kind"], f["name"], f["error"], f["status"]) for f in summary["recent_client_errors"]
    ]
    assert client == [
        ("query", "unknown", "invalid", 422),
        ("step", "resolve", "compound_not_found", 404),
        ("query", "properties", "failed", 404),
    ]
    assert {f["trace_id"] for f in summary["recent_failures"]} == {trace_id}
    assert summary["recent_client_errors"][0]["trace_id"] is None  # outside any trace
    assert [q["seconds"] for q in summary["slowest_queries"]] == [0.5, 0.01, 0.01]
    assert store.summary(failures=1)["recent_failures"][0]["name"] == "targets"


def test_error_codes_follow_the_error_hierarchy() -> None:
    assert error_of("InvalidMolecule") == ("invalid_molecule", 422)
    assert error_of("Overloaded") == ("overloaded", 503)
    assert error_of("step_timeout") == ("step_timeout", 504)
    assert error_of("KeyError") == ("internal", 500)
    assert error_of(None) == ("internal", 500)


# -- snapshots: the other workers' recent entries ------------------------------------------


def other_worker_file(directory: Path, pid: int, store: PerformanceStore) -> Path:
    """Write ``store``'s snapshot as if worker ``pid`` had written it."""
    snapshot = store._snapshot()
    snapshot["pid"] = pid
    path = directory / f"performance_{pid}.json"
    path.write_text(json.dumps(snapshot))
    return path


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_snapshots_of_other_workers_are_merged(tmp_path: Path) -> None:
    mine = PerformanceStore(tmp_path)
    assert (tmp_path / f"performance_{os.getpid()}.json").is_file()  # written at start
    mine.query(query("lookup", 0.2))
    other = PerformanceStore()
    with local_trace() as trace_id:
        other.query(query("lookup", 0.9))
        other.step(step("similarity", 3.0, "timeout", "step_timeout"))
    other_worker_file(tmp_path, os.getppid(), other)  # a live process
    gone = PerformanceStore()
    gone.query(query("compare", 0.5))
    other_worker_file(tmp_path, dead_pid(), gone)  # dead: its entries stay, not counted

    summary = mine.summary()
    assert summary["source"] == "multiprocess"
    assert summary["workers"] == 2
    assert summary["worker_pid"] == os.getpid()
    assert [(q["intent"], q["seconds"]) for q in summary["slowest_queries"]] == [
        ("lookup", 0.9),
        ("compare", 0.5),
        ("lookup", 0.2),
    ]
    assert summary["slowest_queries"][0]["trace_id"] == trace_id
    (failure,) = summary["recent_failures"]
    assert (failure["name"], failure["error"], failure["trace_id"]) == (
        "similarity",
        "step_timeout",
        trace_id,
    )
    assert mine.maxima["intents"] == {"lookup": 0.2}  # merged on read, not into memory


def test_unreadable_or_stale_snapshots_are_skipped(tmp_path: Path) -> None:
    mine = PerformanceStore(tmp_path)
    (tmp_path / "performance_1.json").write_text("{not json")
    (tmp_path / "performance_2.json").write_text(json.dumps({"pid": "x"}))
    stale = PerformanceStore()
    stale.started = mine.pod_started - 3600  # left by an earlier run of the pod
    stale.query(query("lookup", 5.0))
    other_worker_file(tmp_path, 3, stale)
    odd = PerformanceStore()
    odd.query(query("lookup", 0.7))
    path = other_worker_file(tmp_path, os.getppid(), odd)
    data = json.loads(path.read_text())
    data["slowest"].append({"intent": "lookup", "seconds": "slow"})  # a bad entry
    data["client_errors"] = "not a list"
    path.write_text(json.dumps(data))

    summary = mine.summary()
    assert [q["seconds"] for q in summary["slowest_queries"]] == [0.7]
    assert summary["recent_client_errors"] == []
    assert summary["workers"] == 2


@pytest.mark.anyio
async def test_snapshot_writes_are_rate_limited(tmp_path: Path) -> None:
    store = PerformanceStore(tmp_path, flush_seconds=0.3)
    path = tmp_path / f"performance_{os.getpid()}.json"
    started = time.monotonic()
    for i in range(50):
        store.query(query("lookup", 0.001 * i, "failed", 500))
    assert json.loads(path.read_text())["server_errors"] == []  # not yet: the last write was now
    while not json.loads(path.read_text())["server_errors"]:
        assert time.monotonic() - started < 5, "the snapshot was never written"
        await asyncio.sleep(0.02)
    assert time.monotonic() - started >= 0.25
    assert len(json.loads(path.read_text())["server_errors"]) == 50  # one write had them all


def test_without_an_event_loop_a_change_is_written_at_once(tmp_path: Path) -> None:
    store = PerformanceStore(tmp_path)
    store.query(query("lookup", 0.1, "error", 500))
    data = json.loads((tmp_path / f"performance_{os.getpid()}.json").read_text())
    assert [e["name"] for e in data["server_errors"]] == ["lookup"]


def test_pod_start_is_the_parent_start_and_never_in_the_future() -> None:
    now = time.time()
    started = pod_start(now)
    assert started <= now
    assert now - started < 7 * 86400  # the test runner's parent started recently
    assert pod_start(0.0) == 0.0  # a parent that started "after" the fallback is ignored


def test_families_match_the_declared_metrics() -> None:
    for family in (QUERY_COUNTS, QUERY_SECONDS, STEP_SECONDS):
        (metric,) = family.metric.describe()
        assert metric.name == family.name
        assert tuple(family.metric._labelnames) == family.labels
