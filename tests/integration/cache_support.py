"""Helpers for the cache's HTTP tests (tests/integration/test_cache_http.py).

- :func:`metric` reads one number from a Prometheus text scrape (summing the samples
  whose labels match), so a test can count computations or L2 hits per process.
- :func:`wait_for` polls a condition until a deadline instead of sleeping a fixed time.
- :class:`Traffic` keeps a mix of requests flowing from a background thread and records
  every response's status and latency, tagged with the phase it was sent in.
- :func:`fresh_smiles` gives valid SMILES no earlier request has used (cold cache keys).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

POLL_SECONDS = 0.05


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none).

    Args:
        text: a ``/metrics`` body.
        name: the sample name, e.g. ``chemagent_cache_requests_total``.
        labels: label values the sample must have; other labels are summed over.
    """
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def scrape(http: httpx.Client, name: str, **labels: str) -> float:
    """:func:`metric` of a fresh ``GET /metrics``."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    return metric(response.text, name, **labels)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, poll: float = POLL_SECONDS
) -> float:
    """Poll ``condition`` until true; the seconds it took. Fails the test after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout:g} s: {what}")
        time.sleep(poll)
    return time.monotonic() - started


def fresh_smiles() -> Iterator[str]:
    """Endless distinct valid SMILES (alkyl chains with varied end groups), none in use."""
    ends = ("O", "N", "C(=O)O", "C#N", "Cl", "S", "OC", "C(N)=O")
    for length in itertools.count(3):
        for end in ends:
            yield "C" * length + end


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


Request = tuple[str, str, Mapping[str, Any] | None]
"""(method, path, JSON body or None)."""


@dataclass
class Sample:
    phase: str
    request: Request
    status: int
    seconds: float
    body: str = ""


@dataclass
class Traffic:
    """Sends ``next_request()`` in a loop from ``threads`` threads until :meth:`stop`.

    ``phase`` is read when each request is sent, so samples say whether Redis was up,
    down or back. A transport error (no response) is recorded with status 0.
    """

    base_url: str
    next_request: Callable[[], Request]
    threads: int = 2
    phase: str = "warm"
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        for n in range(self.threads):
            worker = threading.Thread(target=self._loop, name=f"traffic-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(s.phase == phase for s in self.samples)

    def of(self, phase: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.phase == phase]

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=30.0) as http:
            while not self._stop.is_set():
                with self._lock:
                    request = self.next_request()
                phase = self.phase
                method, path, body = request
                started = time.perf_counter()
                try:
                    response = http.request(method, path, json=body)
                    status, text = response.status_code, response.text
                except httpx.HTTPError as exc:
                    status, text = 0, repr(exc)
                seconds = time.perf_counter() - started
                with self._lock:
                    self.samples.append(Sample(phase, request, status, seconds, text[:300]))


async def assert_cancels_stick(
    traffic: Callable[[int], Awaitable[None]], *, rounds: int, what: str
) -> None:
    """Run 8 looping ``traffic`` tasks, cancel them mid-call, ``rounds`` times: every task
    must end cancelled (Python 3.11's wait_for, inside redis-py, can swallow a cancel)."""
    for _ in range(rounds):
        workers = [asyncio.create_task(traffic(w)) for w in range(8)]
        await asyncio.sleep(0.03)
        for worker in workers:
            worker.cancel()
        done, pending = await asyncio.wait(workers, timeout=2)
        for worker in pending:
            worker.cancel()
        assert not pending, f"a cancelled {what} kept running"
        assert all(worker.cancelled() for worker in done)
