"""The query page: ``GET /`` and its static files under ``/static/`` (no build step).

The page is plain HTML, CSS and JavaScript shipped as package data (``api/static``). It
talks only to this service (the stream, the depictions, ``/version``), which the
Content-Security-Policy enforces: nothing inline, nothing from another origin.
Responses carry ``Cache-Control: no-cache`` with an ETag, so a browser revalidates (a
304, no body) and never runs a stale script after an upgrade.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""Where the page's files are (package data of ``chemagent.api``)."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class PageFiles(StaticFiles):
    """Starlette's static files (ETag, 304, HEAD, no path escapes) plus the page headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def install_page(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve the query page at ``/`` and its files at ``/static/`` on ``app``.

    Args:
        app: the application (call from ``create_app``).
        directory: where ``index.html``, ``app.js`` and ``style.css`` are.

    Raises:
        RuntimeError: the directory or ``index.html`` is missing (a broken install).
    """
    index = directory / "index.html"
    if not index.is_file():
        raise RuntimeError(f"The query page is missing: {index} does not exist.")
    body = index.read_bytes()  # 2 kB, read once: the page never changes while serving
    etag = _etag(body)

    async def page(request: Request) -> Response:
        """The query page."""
        headers = {**PAGE_HEADERS, "ETag": etag}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return HTMLResponse(body, headers=headers)

    app.add_api_route(
        "/",
        page,
        methods=["GET", "HEAD"],
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    app.mount("/static", PageFiles(directory=directory), name="static")
