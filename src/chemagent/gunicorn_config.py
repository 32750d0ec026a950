"""gunicorn settings: uvicorn workers, Prometheus multiprocess mode, logs in our format.

Used by ``chemagent serve --workers N`` (N > 1) as ``gunicorn -c
python:chemagent.gunicorn_config``, and by the repository's ``gunicorn.conf.py``. Every
value can be overridden on gunicorn's command line or with ``GUNICORN_CMD_ARGS``.

Metrics: each worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and a
scrape of any worker sums them all (``/metrics``). The directory must be set before a
worker imports prometheus_client: :func:`on_starting` (in the master, before the first
fork) sets it to a private directory when the environment does not, and empties it,
since files left by an earlier run would be counted again; :func:`child_exit` retires
a dead worker's live gauges (its counters are kept: a counter never goes down).

Tracing: nothing here. Each worker's app lifespan creates its own span processor after
the fork (a BatchSpanProcessor thread does not survive ``fork``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_workers() -> int:
    """One worker per CPU this process may use (cgroup/affinity aware), at least 1.

    Each worker also runs ``CHEMAGENT_MAX_WORKERS`` threads for RDKit, which releases
    the GIL; more processes than CPUs only adds memory (~300 MB each with the library).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus)


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

worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers())
bind = [
    f"{os.environ.get('CHEMAGENT_HOST', '127.0.0.1')}:{os.environ.get('CHEMAGENT_PORT', '8000')}"
]
# A worker loads the library (~3 s) before its lifespan finishes; 60 s of silence means
# it is stuck. Requests have their own deadline (CHEMAGENT_REQUEST_TIMEOUT_SECONDS, 30 s).
timeout = 60
graceful_timeout = 30
keepalive = 5  # longer than most load balancers' idle probe, shorter than their idle timeout
accesslog = None  # the app writes one access line per request (logger chemagent.access)
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
