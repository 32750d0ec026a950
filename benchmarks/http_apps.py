"""The baseline apps of ``bench_http`` and its OTLP sink, one uvicorn process each.

Apps (``uvicorn --factory --app-dir benchmarks http_apps:<name>``), all serving the same
bare route ``GET /items/{item_id}`` that returns a small JSON dict:

* :func:`bare`: FastAPI with its native telemetry switched off: the baseline.
* :func:`native`: FastAPI's native telemetry (tracing + metrics; operation spans on, its
  default). FastAPI's own ``auto_configure`` builds the global SDK ``TracerProvider``
  (sampler from ``OTEL_TRACES_SAMPLER``) and ``MeterProvider`` with OTLP/HTTP exporters
  to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the sink below) at start-up.
* :func:`ours`: the bare app wrapped in chemagent's ``TelemetryMiddleware`` (Prometheus
  HTTP metrics, server span, JSON access log to stderr), with tracing configured by
  chemagent's ``configure_tracing`` from the same ``OTEL_*`` variables (off without them).
* :func:`service_without_middleware`: the real app (``create_app``) with its
  ``TelemetryMiddleware`` left out of the stack (an experiment: what the cached lookup
  costs without the request telemetry; the step and cache recorders stay).

Sink (``python benchmarks/http_apps.py sink``): answers 200 to every POST (OTLP/HTTP
``/v1/traces``, ``/v1/metrics``), counts requests and bytes per path, and reports them on
``GET /stats``. It prints its port on the first line of stdout.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

ROUTE = "/items/{item_id}"
OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _add_route(app: FastAPI) -> FastAPI:
    @app.get(ROUTE)
    async def item(item_id: str) -> dict[str, Any]:
        return {"id": item_id, "name": "aspirin", "mw": 180.16, "ok": True}

    return app


def bare() -> FastAPI:
    """(a) The baseline: a bare FastAPI route, native telemetry off."""
    return _add_route(FastAPI(telemetry=OFF))


def native() -> FastAPI:
    """(b) FastAPI's native OpenTelemetry: tracing + metrics, exporters from ``OTEL_*``."""
    return _add_route(FastAPI(telemetry={"logs": False, "auto_configure": True}))


def ours() -> FastAPI:
    """(c) The bare route inside chemagent's own pure-ASGI ``TelemetryMiddleware``."""
    from chemagent.observability.logging import configure_logging
    from chemagent.observability.middleware import TelemetryMiddleware
    from chemagent.observability.tracing import configure_tracing, shutdown_tracing

    class OursAPI(FastAPI):
        def build_middleware_stack(self) -> Any:
            return TelemetryMiddleware(super().build_middleware_stack(), access_log=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging("INFO", "json")  # as the service's lifespan does
        configure_tracing("bench")
        try:
            yield
        finally:
            shutdown_tracing()

    return _add_route(OursAPI(telemetry=OFF, lifespan=lifespan))


def service_without_middleware() -> FastAPI:
    """(d0) ``chemagent.app:create_app`` minus ``TelemetryMiddleware``: the layers under it
    (``ChemAgentAPI.service_stack``)."""
    from chemagent.app import create_app

    app = create_app()
    app.build_middleware_stack = app.service_stack  # type: ignore[method-assign]
    return app


# --------------------------------------------------------------------------- OTLP sink


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' sessions expect
    counts: ClassVar[Counter[str]] = Counter()  # one sink per process
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        self.rfile.read(size)
        with self.lock:
            self.counts[f"{self.path} requests"] += 1
            self.counts[f"{self.path} bytes"] += size
        self._answer(b"", "application/x-protobuf")

    def do_GET(self) -> None:
        with self.lock:
            body = json.dumps(dict(self.counts)).encode()
        self._answer(body, "application/json")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_sink() -> None:
    """Serve the sink on a free loopback port until killed; print the port first."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] != ["sink"]:
        sys.exit("usage: python benchmarks/http_apps.py sink")
    run_sink()
