"""What ``GET /metrics`` renders: this process's registry, or every worker's.

Under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set) each scrape builds a fresh registry with
the multiprocess collector, which sums the files all workers write (live gauges only over
live workers). Multiprocess mode cannot export the default process collector's
``process_*`` metrics (each worker would report only itself), so
:class:`WorkerProcessCollector` reads ``/proc`` for the master and every live worker and
exports them with a ``pid`` and a ``role`` label; dashboards sum them per pod.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_PID_IN_NAME = re.compile(r"_(\d+)\.db$")
_PROC = Path("/proc")
try:
    _TICKS = os.sysconf("SC_CLK_TCK")
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
    _TICKS, _PAGE = 100, 4096


def _boot_time() -> float:
    try:
        for line in (_PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:  # pragma: no cover - no /proc
        pass
    return 0.0


_BOOT = _boot_time()


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running (on Linux: has a ``/proc`` entry)."""
    return (_PROC / str(pid)).exists()


def worker_pids(directory: Path) -> set[int]:
    """Pids that wrote metric files to ``directory`` and are still running."""
    pids = set()
    for path in directory.glob("*.db"):
        match = _PID_IN_NAME.search(path.name)
        if match and alive(int(match.group(1))):
            pids.add(int(match.group(1)))
    return pids


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces); field 0 is
    the state, so the man page's field N is index N - 3."""
    return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _started(fields: list[str]) -> float:
    return _BOOT + int(fields[19]) / _TICKS  # starttime: clock ticks after boot


def start_time(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch; None if it is gone."""
    try:
        return _started(_stat_fields(pid))
    except (OSError, IndexError, ValueError):
        return None


def _process_stats(pid: int) -> tuple[float, float, float, int] | None:
    """(cpu seconds, resident bytes, start time, open fds) of ``pid``, None if it is gone."""
    try:
        fields = _stat_fields(pid)
        fds = sum(1 for _ in (_PROC / str(pid) / "fd").iterdir())
    except (OSError, IndexError):
        return None
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    rss = int(fields[21]) * _PAGE
    return cpu, rss, _started(fields), fds


class WorkerProcessCollector(Collector):
    """``process_*`` metrics of the gunicorn master and every live worker, from /proc."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(
            "process_cpu_seconds", "CPU time of the process.", labels=["pid", "role"]
        )
        rss = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory.", labels=["pid", "role"]
        )
        start = GaugeMetricFamily(
            "process_start_time_seconds", "Start time since the epoch.", labels=["pid", "role"]
        )
        fds = GaugeMetricFamily(
            "process_open_fds", "Open file descriptors.", labels=["pid", "role"]
        )
        roles = dict.fromkeys(worker_pids(self.directory), "worker")
        roles.setdefault(os.getpid(), "worker")
        roles[os.getppid()] = "master"
        for pid, role in sorted(roles.items()):
            stats = _process_stats(pid)
            if stats is None:
                continue
            labels = [str(pid), role]
            cpu.add_metric(labels, stats[0])
            rss.add_metric(labels, stats[1])
            start.add_metric(labels, stats[2])
            fds.add_metric(labels, stats[3])
        yield from (cpu, rss, start, fds)


def multiproc_dir() -> Path | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when set (gunicorn sets it for its workers)."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def registry() -> CollectorRegistry:
    """The registry a scrape reads: every worker's metrics, or this process's."""
    directory = multiproc_dir()
    if directory is None:
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    merged.register(WorkerProcessCollector(directory))
    return merged


def render() -> bytes:
    """The Prometheus text exposition of :func:`registry`."""
    return generate_latest(registry())
