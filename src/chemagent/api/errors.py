"""Map every error to ``{"error", "detail", "trace_id"}`` in one place.

User mistakes are 4xx with a sentence that says what to fix; a 5xx is a bug or a
dependency down, never the caller's input.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chemagent.errors import ChemAgentError, CompoundNotFound, Unauthorized
from chemagent.observability.tracing import current_trace_id

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    detail: str,
    suggestions: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "detail": detail, "trace_id": current_trace_id()}
    if suggestions:
        body["suggestions"] = suggestions
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    """``("body", "query")`` -> ``"query"``: drop only the leading source, since a field may
    itself be called ``query``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _is_json(content_type: str) -> bool:
    """What FastAPI parses as JSON: application/json and application/*+json."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def validation_detail(errors: list[dict[str, Any]]) -> tuple[int, str, str]:
    """(status, code, sentence) for FastAPI validation errors."""
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            return (
                400,
                "malformed_json",
                (
                    f"The request body is not valid JSON ({reason}); send a JSON object "
                    "with Content-Type: application/json."
                ),
            )
    sentences = []
    for err in errors[:5]:
        where = _location(tuple(err.get("loc", ())))
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            sentences.append(f"'{where}' is required")
        elif err.get("type") == "model_attributes_type" and where == "body":
            sentences.append("the body must be a JSON object")
        else:
            sentences.append(f"'{where}': {message}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "invalid_input", "Invalid request: " + "; ".join(sentences) + more + "."


def _headers_of(exc: ChemAgentError) -> dict[str, str] | None:
    """Headers an error's status calls for: when to retry a 503; how to authenticate
    after a 401 (RFC 9110 requires ``WWW-Authenticate`` on every 401)."""
    if exc.status == 503:
        return {"Retry-After": "1"}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return None


def domain_error_response(exc: ChemAgentError) -> JSONResponse:
    """The response for one of our own errors (also used by the compound fast path)."""
    if exc.status >= 500:
        log.warning("service error: %s", exc.detail, extra={"error": exc.code})
    suggestions = exc.suggestions if isinstance(exc, CompoundNotFound) else None
    return error_response(exc.status, exc.code, exc.detail, suggestions, _headers_of(exc))


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """The 500 for a bug: logged with its traceback, the body says only what to report."""
    log.exception("unhandled error", exc_info=exc)
    return error_response(
        500,
        "internal",
        "An internal error occurred; it has been logged. Report the trace_id if it persists.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ChemAgentError)
    async def domain_error(_: Request, exc: ChemAgentError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        content_type = request.headers.get("content-type", "")
        body_error = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)
        if body_error and request.method in ("POST", "PUT", "PATCH") and not _is_json(content_type):
            return error_response(
                415,
                "unsupported_media_type",
                f"The body was sent as '{content_type or 'no content type'}'; send JSON "
                "with Content-Type: application/json.",
            )
        status, code, detail = validation_detail(errors)
        return error_response(status, code, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        if exc.status_code == 404:
            detail = f"No endpoint at {request.url.path}; see /docs for the API."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs."
        elif exc.status_code == 400 and request.method in ("POST", "PUT", "PATCH"):
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8.
            code = "malformed_json"
            detail = (
                "The request body could not be decoded as JSON text (it is not UTF-8); "
                "send a JSON object with Content-Type: application/json."
            )
        elif exc.status_code == 413:
            limit = getattr(request.app.state, "max_body_bytes", None)
            detail = (
                "The request body is too large"
                + (f"; the limit is {limit:,} bytes." if limit else ".")
                + " Send fewer or smaller items."
            )
        else:
            detail = str(exc.detail)
        return error_response(
            exc.status_code, code, detail, headers=dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc)
