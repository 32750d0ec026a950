"""Graceful stop: on SIGTERM readiness fails first, the worker keeps serving for a drain
delay, then uvicorn stops accepting and finishes what is in flight, and only then does the
lifespan close Redis and the HTTP clients.

One worker's timeline (gunicorn's master forwards its SIGTERM to every worker at once;
``chemagent serve`` with one worker gets it directly):

* ``t = 0``: SIGTERM. Within one 0.1 s tick ``/readyz`` answers 503 ``draining``, so a load
  balancer that probes it stops sending here. Requests are still accepted and served, and
  every response now says ``Connection: close``: a keep-alive client opens its next
  connection through the load balancer, to a pod that is not stopping.
* ``t = D`` (``CHEMAGENT_DRAIN_SECONDS``, 5 s by default): uvicorn's own shutdown. The
  listener closes (connections are refused once every worker has closed its copy), idle
  connections close, requests in flight run to their end.
* then the app's lifespan closes the warmer, the cache, the thread pool, Redis, the
  sessions, the LLM client and tracing, after the last response.

With ``D`` at least the keep-alive timeout (5 s, gunicorn's ``keepalive``) no keep-alive
connection is left idle at ``t = D``: one used during the drain was closed by its
``Connection: close``, one idle since before the SIGTERM by the keep-alive timeout. So the
close at ``t = D`` cannot race a request a client is just sending on a reused connection.

A second SIGTERM ends the drain at once; SIGINT (Ctrl+C) never drains, nor does a worker
still starting (its pod was never ready). Under gunicorn, whose ``graceful_timeout``
(counted from the SIGTERM) ends in a SIGKILL, requests still running :data:`CLOSE_SECONDS`
before that deadline are cancelled, so the lifespan still closes the clients and flushes
the last spans.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

if TYPE_CHECKING:
    # Not at run time: gunicorn's master imports this module (the worker class) before it
    # sets PROMETHEUS_MULTIPROC_DIR, and the state's modules import prometheus_client,
    # which picks its single- or multi-process mode once, at import.
    from chemagent.api.state import AppState

log = logging.getLogger(__name__)

STATE_KEY = "chemagent"
"""The key of :class:`~chemagent.api.state.AppState` in the state the lifespan yields."""

CLOSE_SECONDS = 5.0
"""Kept out of gunicorn's ``graceful_timeout`` for the lifespan's closing: Redis, the HTTP
clients, and the span exporter's last flush."""

CONNECTION_CLOSE = (b"connection", b"close")


class CloseWhileDraining:
    """ASGI wrapper: an HTTP request that starts during the drain is answered with
    ``Connection: close`` (uvicorn then closes the connection after the response).

    Not the server's default headers: those also go into WebSocket handshakes, whose
    ``101`` must say ``Connection: Upgrade``. Outside a drain it adds one check a request.
    """

    def __init__(self, app: Any, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.server.drain_until is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), CONNECTION_CLOSE]}
            await send(message)

        await self.app(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain delay between SIGTERM and its shutdown.

    The delay is the app's ``settings.drain_seconds``, read when the signal comes (an app
    without a ChemAgent state stops at once, as plain uvicorn does).

    Args:
        config: uvicorn's configuration.
        graceful_timeout: seconds from the SIGTERM until the process is killed
            (gunicorn's ``graceful_timeout``); None when nothing kills it (uvicorn alone).
    """

    def __init__(self, config: uvicorn.Config, graceful_timeout: float | None = None) -> None:
        super().__init__(config)
        self.graceful_timeout = graceful_timeout
        self.sigterm_at: float | None = None  # time.monotonic() of the first SIGTERM
        self.drain_until: float | None = None  # set by the first tick after it

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Signal handler: the first SIGTERM of a started server begins a drain."""
        first_term = sig == signal.SIGTERM and self.sigterm_at is None and not self.should_exit
        if not (first_term and self.started):
            super().handle_exit(sig, frame)
            return
        # Only note it: a handler runs between any two bytecodes of the event loop, so the
        # work (and logging, which takes locks) waits for the next tick, at most 0.1 s.
        self.sigterm_at = time.monotonic()
        self._captured_signals.append(sig)  # re-raised after the shutdown, as uvicorn does

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # After config.load(), before the first connection: each connection's protocol
        # takes the app from the config when the connection is made.
        self.config.loaded_app = CloseWhileDraining(self.config.loaded_app, self)
        await super().startup(sockets)

    async def on_tick(self, counter: int) -> bool:
        if self.sigterm_at is not None and self.drain_until is None:
            self.begin_drain(self.sigterm_at)
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)

    def begin_drain(self, sigterm_at: float) -> None:
        """Fail readiness, close connections after their next response, set the deadline."""
        state = self.app_state()
        drain = state.settings.drain_seconds if state is not None else 0.0
        if state is not None:
            state.draining = True  # /readyz answers 503 from now on
        if self.graceful_timeout is not None:
            left = self.graceful_timeout - drain - CLOSE_SECONDS
            self.config.timeout_graceful_shutdown = max(1, math.floor(left))
        self.drain_until = sigterm_at + drain
        log.info(
            "SIGTERM: /readyz answers 503; serving %.1f s more before closing the listener",
            drain,
        )

    def app_state(self) -> AppState | None:
        """The state the app's lifespan yielded, once it has started."""
        lifespan_state = getattr(getattr(self, "lifespan", None), "state", None) or {}
        state: AppState | None = lifespan_state.get(STATE_KEY)
        return state


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    """gunicorn's uvicorn worker serving with :class:`DrainingServer`.

    The ``worker_class`` of :mod:`chemagent.gunicorn_config`. ``_serve`` is uvicorn-worker
    0.4.0's (pinned in pyproject.toml), the one place that names the server class.
    """

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(self.config, graceful_timeout=self.cfg.graceful_timeout)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
