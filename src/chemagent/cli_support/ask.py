"""Running ``chemagent query``: in this process, or streamed from a server (SSE).

Both return ``(HTTP status, body)``: the status the server would answer with and its
JSON body, so the report and exit code do not depend on where the query ran.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chemagent.cli_support.output import err_console
from chemagent.cli_support.progress import FINAL_EVENTS, EventView, progress_view
from chemagent.errors import ChemAgentError

if TYPE_CHECKING:
    from chemagent.api.state import AppState
    from chemagent.execution.query_service import QueryOptions
    from chemagent.settings import Settings

StateOpener = Callable[["Settings"], AbstractContextManager["AppState"]]
"""Loads the library into an ``AppState`` (``chemagent.cli.local_state``)."""

# Seconds to wait for the server: to connect, and between two stream events (the server
# sends a keep-alive comment every 15 s and ends a query at its own deadline, 30 s).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class Question:
    """One ``chemagent query``: the text and how to run it (QueryOptions without the
    half-second import of the query service, which --url does not need)."""

    text: str
    session_id: str | None = None
    parallel: bool = True
    max_workers: int | None = None
    verbose: bool = False


def ask_locally(
    question: Question, show: bool, settings: Settings, open_state: StateOpener
) -> tuple[int, dict[str, Any]]:
    """Run the query on the library loaded in this process: (HTTP-like status, body).

    Args:
        question: the query and how to run it.
        show: draw step progress on stderr.
        settings: the validated settings (``max_workers`` grows to the question's).
        open_state: loads the library into an ``AppState`` and shuts it down on exit.
    """
    from chemagent.execution.query_service import QueryOptions

    if question.max_workers and question.max_workers > settings.max_workers:
        settings = settings.model_copy(update={"max_workers": question.max_workers})
    options = QueryOptions(
        session_id=question.session_id,
        parallel=question.parallel,
        max_workers=question.max_workers,
        verbose=question.verbose,
    )
    loading = err_console.status("loading library") if show else nullcontext()
    with ExitStack() as stack:
        try:
            with loading:
                state = stack.enter_context(open_state(settings))
        except ChemAgentError as exc:  # e.g. CHEMAGENT_LIBRARY names no library
            return exc.status, {"error": exc.code, "detail": exc.detail}
        view = stack.enter_context(progress_view(show))
        return asyncio.run(_answer(state, question.text, options, view))


async def _answer(
    state: AppState, text: str, options: QueryOptions, view: EventView
) -> tuple[int, dict[str, Any]]:
    """One query through ``state.queries`` in a fresh trace; closes the sessions and the
    LLM client (they live on this event loop)."""
    from chemagent.execution.llm_fallback import LLMFallback
    from chemagent.observability.tracing import local_trace

    async def on_event(event: dict[str, Any]) -> None:
        view(event)

    with local_trace() as trace_id:
        try:
            outcome = await state.queries.run(text, options, on_event)
            return outcome.status_code, {**outcome.body, "trace_id": trace_id}
        except ChemAgentError as exc:
            return exc.status, {"error": exc.code, "detail": exc.detail, "trace_id": trace_id}
        finally:
            await state.sessions.aclose()
            if isinstance(state.queries.classifier, LLMFallback):
                await state.queries.classifier.aclose()


def ask_server(url: str, question: Question, show: bool) -> tuple[int, dict[str, Any]]:
    """Stream the query from ``GET {url}/v1/query/stream``: (HTTP status, body)."""
    import httpx

    params: dict[str, str | int] = {
        "q": question.text,
        "parallel": str(question.parallel).lower(),
        "verbose": str(question.verbose).lower(),
    }
    if question.session_id is not None:
        params["session_id"] = question.session_id
    if question.max_workers is not None:
        params["max_workers"] = question.max_workers
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        with (
            httpx.Client(timeout=timeout) as http,
            http.stream(
                "GET",
                f"{url}/v1/query/stream",
                params=params,
                headers={"accept": "text/event-stream"},
            ) as response,
        ):
            if response.status_code != 200:
                response.read()
                return response.status_code, _error_body(response)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                return _unreachable(f"{url} is not a ChemAgent server (no event stream)")
            with progress_view(show) as view:
                final = None
                for event in sse_events(response.iter_lines()):
                    view(event)
                    if event.get("type") in FINAL_EVENTS:
                        final = event
                        break
    except httpx.ConnectError as exc:
        return _unreachable(f"cannot connect to {url}: {_reason(exc)}")
    except httpx.ConnectTimeout:
        return _unreachable(f"cannot connect to {url} within {CONNECT_TIMEOUT:g} s")
    except httpx.TimeoutException:
        return _unreachable(f"no answer from {url} within {READ_TIMEOUT:g} s")
    except httpx.HTTPError as exc:
        return _unreachable(f"the connection to {url} failed: {_reason(exc)}")
    except ValueError as exc:  # an event whose data is not JSON
        return _unreachable(f"{url} sent an unreadable event: {exc}")
    if final is None:
        return _unreachable(f"the stream from {url} ended before the answer")
    return _final(final)


def _reason(exc: Exception) -> str:
    text = str(exc)
    # httpx passes on the OS error: "[Errno 111] Connection refused" -> "connection refused".
    reason = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return (reason[:1].lower() + reason[1:]) if reason else type(exc).__name__


def _unreachable(detail: str) -> tuple[int, dict[str, Any]]:
    return 503, {"error": "server_unreachable", "detail": detail}


def _error_body(response: Any) -> dict[str, Any]:
    """The JSON error body of a non-200 response, or one made from its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return body
    return {
        "error": f"http_{response.status_code}",
        "detail": f"{response.url} answered {response.status_code}: {response.text[:200]}",
    }


def _final(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The status and body a ``result``, ``error`` or ``cancelled`` event stands for."""
    if event["type"] == "result":
        return 200, event["response"]
    if event["type"] == "cancelled":
        return 503, {"error": "cancelled", "detail": event.get("detail", "cancelled")}
    body = event.get("response") or {
        key: event[key] for key in ("error", "detail", "answer") if event.get(key) is not None
    }
    return int(event.get("status", 500)), body


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Parse Server-Sent Events: one JSON object per event.

    ``event:`` names the type (kept in ``type`` when the data has none), ``data:`` lines
    are joined with newlines, a blank line ends an event, lines starting with ``:`` are
    comments (keep-alives) and other fields (``id``, ``retry``) are ignored.

    Raises:
        ValueError: an event's data is not a JSON object.
    """
    name = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                event = json.loads("\n".join(data))
                if not isinstance(event, dict):
                    raise ValueError(f"expected a JSON object, got {type(event).__name__}")
                if name:
                    event.setdefault("type", name)
                yield event
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
