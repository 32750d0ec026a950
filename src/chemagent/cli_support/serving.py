"""``chemagent serve``: check what the workers will need, then run uvicorn or gunicorn."""

from __future__ import annotations

import contextlib
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
    """Serve with uvicorn in this process until SIGTERM, then drain and exit 0.

    The server is :class:`~chemagent.api.draining.DrainingServer`, as in each gunicorn
    worker: ``/readyz`` turns 503 and requests are served for ``CHEMAGENT_DRAIN_SECONDS``,
    then uvicorn closes the listener and finishes what is in flight.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from chemagent.api.draining import DrainingServer
    from chemagent.observability.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    # uvicorn re-raises the SIGTERM it drained for (exit 143); a completed drain exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = uvicorn.Config(
        "chemagent.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # the app writes its own access line (logger chemagent.access)
        proxy_headers=True,
    )
    server = DrainingServer(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: re-raised after the shutdown
        server.run()
    if not server.started:  # as uvicorn.run: the app failed to start (the log says why)
        sys.exit(STARTUP_FAILURE)
