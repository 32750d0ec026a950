"""``chemagent serve``: check what the workers will need, then run uvicorn or gunicorn."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from chemagent.settings import Settings


def check_tracing_config() -> None:
    """Stop with one line naming the variable when an ``OTEL_*`` value is unusable, before
    any worker starts (each worker's lifespan would fail with a traceback instead)."""
    from chemagent.observability.tracing_config import TracingConfigError, read_config

    try:
        read_config()
    except TracingConfigError as exc:
        sys.stderr.write(f"invalid configuration: {exc}\n")
        raise typer.Exit(2) from None


def exec_gunicorn(host: str, port: int, workers: int) -> None:
    """Replace this process with gunicorn and ``workers`` uvicorn workers.

    Same pid, so SIGTERM reaches gunicorn's master. The caller has validated the
    settings, so a bad variable fails once here, not in every worker.
    """
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:chemagent.gunicorn_config",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "chemagent.app:create_app()",
    ]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module


def run_uvicorn(settings: Settings, host: str, port: int) -> None:
    """Serve with uvicorn in this process until SIGTERM (then drain and exit 0)."""
    import uvicorn

    from chemagent.observability.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    # uvicorn drains on SIGTERM, then re-raises it (exit 143); a completed drain exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "chemagent.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # the app writes its own access line (logger chemagent.access)
        proxy_headers=True,
    )
