"""gunicorn settings: uvicorn workers that drain on SIGTERM, Prometheus multiprocess mode,
logs in our format.

Used by ``chemagent serve --workers N`` (N > 1) as ``gunicorn -c
python:chemagent.gunicorn_config``, and by the repository's ``gunicorn.conf.py``. Every
value can be overridden on gunicorn's command line or with ``GUNICORN_CMD_ARGS``; the
``GUNICORN_*`` variables below are read here, at gunicorn's start.

Stopping (SIGTERM to the master, as Kubernetes sends it after the preStop hook): the master
forwards it to every worker; each worker (:class:`chemagent.api.draining.DrainingUvicornWorker`)
answers ``/readyz`` with 503 and keeps serving for ``CHEMAGENT_DRAIN_SECONDS``, then closes
its listener, finishes its requests and closes Redis and the HTTP clients. The master kills
a worker still alive ``graceful_timeout`` after the SIGTERM; by default that is the drain,
plus the request deadline, plus :data:`~chemagent.api.draining.CLOSE_SECONDS` for closing.

Metrics: each worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and a
scrape of any worker sums them all (``/metrics``). The directory must be set before a
worker imports prometheus_client: :func:`on_starting` (in the master, before the first
fork) sets it to a private directory when the environment does not, and empties it,
since files left by an earlier run would be counted again; :func:`child_exit` retires
a dead worker's live gauges (its counters are kept: a counter never goes down).

Tracing: no ``post_fork`` hook is needed. Each worker's app lifespan calls
``configure_tracing`` when it starts, after the fork, so every worker has its own span
processor and exporter thread (a BatchSpanProcessor thread does not survive ``fork``), and
the master never creates one.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from chemagent.api.draining import CLOSE_SECONDS
from chemagent.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _cpu_max(directory: Path) -> float | None:
    """CPUs granted by cgroup v2 ``cpu.max`` (``"200000 100000"``) in ``directory``."""
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _cfs_quota(directory: Path) -> float | None:
    """CPUs granted by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none)."""
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup and its ancestors (the smallest), in CPUs.

    A container's CPU limit (Kubernetes ``resources.limits.cpu``, ``docker --cpus``) is a
    quota, not an affinity: ``sched_getaffinity`` still shows every host CPU. None when no
    quota is set or the files cannot be read.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    limits: list[float] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: "0::/kubepods/..." ("0::/" inside a cgroupns)
            readers, mounts = [_cpu_max], [root]
        elif "cpu" in controllers.split(","):  # cgroup v1: "4:cpu,cpuacct:/docker/..."
            readers, mounts = [_cfs_quota], [root / "cpu", root / controllers]
        else:
            continue
        for mount in mounts:
            # Inside a container the cgroup's own directory is often the mount's root.
            directory = mount / path.lstrip("/")
            for candidate in (directory, *directory.parents):
                for read in readers:
                    if (limit := read(candidate)) is not None:
                        limits.append(limit)
                if candidate == mount:
                    break
    return min(limits) if limits else None


def default_workers(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """One worker per CPU this process may use: affinity, capped by a cgroup CPU quota.

    A fractional quota rounds down (1.5 CPUs: 1 worker): a worker's RDKit threads release
    the GIL and use the rest, while one more Python process would push the pod into CFS
    throttling (requests stall for the rest of each 100 ms period). At least 1. Each
    worker also holds its own library (~180 MB bundled, 1.6 GB for MOSES).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    return max(1, cpus)


def _env_number(name: str, default: float) -> float:
    """A number from the environment; the default when unset or not a number (the
    workers' Settings then stop the start with a message naming the variable)."""
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def default_graceful_timeout() -> int:
    """Seconds from SIGTERM to SIGKILL: the drain, the longest request, then closing."""
    fields = Settings.model_fields
    drain = _env_number("CHEMAGENT_DRAIN_SECONDS", fields["drain_seconds"].default)
    request = _env_number(
        "CHEMAGENT_REQUEST_TIMEOUT_SECONDS", fields["request_timeout_seconds"].default
    )
    return math.ceil(drain + request + CLOSE_SECONDS)


def multiproc_dir() -> Path:
    """``PROMETHEUS_MULTIPROC_DIR``, set to a new private directory when unset."""
    value = os.environ.get(MULTIPROC_ENV)
    if not value:
        value = tempfile.mkdtemp(prefix="chemagent-metrics-")
        os.environ[MULTIPROC_ENV] = value
    return Path(value)


def empty_multiproc_dir(directory: Path) -> None:
    """Create ``directory`` if needed and delete the files of earlier runs."""
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in ("*.db", "performance_*.json"):  # metric files; /v1/performance snapshots
        for stale in directory.glob(pattern):
            stale.unlink(missing_ok=True)


def _log_config(log_format: str, level: str) -> dict[str, Any]:
    """gunicorn's own loggers (the master's lines) in the service's log format."""
    formatter = (
        {"()": "chemagent.observability.logging.JsonFormatter"}
        if log_format == "json"
        else {"()": "chemagent.observability.logging.ConsoleFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["stderr"]},
        "formatters": {"service": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "service",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


# --- settings (names are gunicorn's) ---------------------------------------------------

worker_class = "chemagent.api.draining.DrainingUvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers())
bind = [
    f"{os.environ.get('CHEMAGENT_HOST', '127.0.0.1')}:{os.environ.get('CHEMAGENT_PORT', '8000')}"
]
# A worker loads the library (~3 s) before its lifespan finishes; 60 s of silence means
# it is stuck. Requests have their own deadline (CHEMAGENT_REQUEST_TIMEOUT_SECONDS, 30 s).
timeout = 60
# 5 + 30 + 5 = 40 s by default. Kubernetes' terminationGracePeriodSeconds must be longer
# than the preStop sleep plus this.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or default_graceful_timeout())
# Idle keep-alive connections close after 5 s. A proxy that reuses connections to the pods
# must close idle ones sooner (nginx upstream keepalive_timeout 4s), or it may send on a
# connection the worker is closing. CHEMAGENT_DRAIN_SECONDS >= this leaves no idle
# connection to close when the drain ends (chemagent.api.draining).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or 5)
# Recycling is a safety net for a leak in a code path we have not exercised, not routine:
# a recycled worker starts with a cold L1 and loads the library again (~3 s of a CPU), its
# Prometheus files (~250 KB: counters, histograms, maxima) stay in PROMETHEUS_MULTIPROC_DIR
# until the pod restarts and every scrape reads them, and its idle keep-alive connections
# close without a drain. Measured
# (L1 off, lookups, property panels of new molecules, similarity, NL queries): RSS did not
# move over 40,000 requests (157.3 MB before and after, < 3 B a request). So 5,000,000:
# every 31 min at worst (the ~2,700 req/s a worker serves cached lookups flat out,
# docs/BENCHMARKS.md), every 5-14 hours at a typical 100-300 req/s per worker. The 10%
# jitter keeps the workers of a pod, which started together, from restarting together.
# GUNICORN_MAX_REQUESTS=0 turns recycling off.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 5_000_000)
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER") or max_requests // 10)
accesslog = None  # the app writes one access line per request (logger chemagent.access)
# gunicorn's control socket defaults to $HOME/.gunicorn: not writable on the container's
# read-only root (an error line at every start), and shared by every gunicorn of a user.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logconfig_dict = _log_config(
    os.environ.get("CHEMAGENT_LOG_FORMAT", "console").lower(),
    os.environ.get("CHEMAGENT_LOG_LEVEL", "INFO").upper(),
)


# --- hooks -------------------------------------------------------------------------------


def on_starting(server: Any) -> None:
    """Master, before any worker forks (they inherit the variable): metrics from zero."""
    empty_multiproc_dir(multiproc_dir())


def child_exit(server: Any, worker: Any) -> None:
    """Master, after a worker died: drop its live gauges (in-flight, L1 size, ...)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
