"""The ``chemagent`` command: serve the API, query the library, build library indexes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chemagent.errors import ChemAgentError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from chemagent.api.state import AppState
    from chemagent.execution.query_service import QueryOptions
    from chemagent.settings import Settings

app = typer.Typer(
    help="ChemAgent: compound lookup, ChEMBL property panels and similarity search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
library_app = typer.Typer(help="Build and inspect compound library indexes.", no_args_is_help=True)
app.add_typer(library_app, name="library")
console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings() -> Any:
    from pydantic import ValidationError

    from chemagent.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        # One line naming each bad variable; plain text, as values may contain "[...]" that
        # rich would read as markup. Input values are not echoed: they may be secrets.
        problems = "; ".join(
            f"CHEMAGENT_{'_'.join(map(str, e['loc'])).upper()} "
            f"({'.'.join(map(str, e['loc']))}): {e['msg']}"
            for e in exc.errors()
        )
        sys.stderr.write(f"invalid configuration: {problems}\n")
        raise typer.Exit(2) from None


@contextmanager
def local_state(settings: Settings) -> Iterator[AppState]:
    """Load the library in this process; shut its thread pool down on the way out."""
    from chemagent.app import build_state

    state = build_state(settings)
    try:
        yield state
    except BaseException:
        # Interrupted: do not wait for a step still running in a thread (up to its timeout).
        state.executor.shutdown(wait=False, cancel_futures=True)
        raise
    state.executor.shutdown(wait=True, cancel_futures=True)


def _run(use: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    """Load the library in-process, run ``use(operations)`` and shut down."""
    try:
        with local_state(_settings()) as state:
            return asyncio.run(use(state.operations))
    except ChemAgentError as exc:
        err_console.print(f"[red]{exc.code}:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _panel_table(title: str, panel: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("property")
    table.add_column("value", justify="right")
    for key, value in panel.items():
        table.add_row(key, str(value))
    return table


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env CHEMAGENT_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env CHEMAGENT_PORT].")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (uvicorn) on the configured library."""
    import uvicorn

    settings = _settings()
    from chemagent.observability.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    # uvicorn drains on SIGTERM, then re-raises it (exit 143); a completed drain exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "chemagent.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
    )


@app.command()
def compound(
    chembl_id: Annotated[str, typer.Argument(help="Compound ID, e.g. CHEMBL25.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one compound and its property panel."""
    record = _run(lambda ops: ops.compound(chembl_id))
    if as_json:
        _print_json(record)
        return
    structures = record["molecule_structures"]
    console.print(f"[bold]{record['chembl_id']}[/bold] {record.get('pref_name') or ''}")
    console.print(f"SMILES    {structures['canonical_smiles']}")
    console.print(f"InChIKey  {structures['standard_inchi_key']}")
    console.print(_panel_table("Properties (ChEMBL definitions)", record["molecule_properties"]))


@app.command()
def properties(
    smiles: Annotated[str, typer.Argument(help="A SMILES string (quote it in the shell).")],
    as_json: JsonFlag = False,
) -> None:
    """Compute the ChEMBL property panel of any molecule."""
    result = _run(lambda ops: ops.properties_of_smiles(smiles))
    if as_json:
        _print_json(result)
        return
    console.print(f"parent  {result['molecule_structures']['parent_smiles']}")
    console.print(_panel_table("Properties (ChEMBL definitions)", result["molecule_properties"]))


@app.command()
def similar(
    query: Annotated[str, typer.Argument(help="A compound ID, name or SMILES.")],
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Minimum Tanimoto.")] = 0.7,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Most results.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Find library compounds similar to a query (Tanimoto, Morgan r=2, 2048 bits)."""
    result = _run(lambda ops: ops.similarity(query, threshold, top_k, top_k, 0))
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"Similar to {query} (>= {threshold})")
    for column in ("chembl_id", "pref_name", "similarity", "canonical_smiles"):
        table.add_column(column, justify="right" if column == "similarity" else "left")
    for hit in result["results"]:
        table.add_row(
            hit["chembl_id"],
            hit.get("pref_name") or "",
            f"{hit['similarity']:.3f}",
            hit["canonical_smiles"],
        )
    console.print(table)
    console.print(f"{result['total']} above the threshold; showing {len(result['results'])}.")


@library_app.command("build")
def library_build(
    input_file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Compounds: .smi, .csv, .tsv or .sdf (.gz)."
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Index directory to write.")],
    name: Annotated[str | None, typer.Option(help="Library name (default: file name).")] = None,
    fast: Annotated[
        bool,
        typer.Option(
            help="Canonicalize only: no ChEMBL standardization, InChI or property panel "
            "(about 50x faster; panels are then computed on request)."
        ),
    ] = False,
    processes: Annotated[
        int, typer.Option(min=0, max=64, help="Worker processes (0: one per CPU, at most 8).")
    ] = 0,
) -> None:
    """Standardize, compute and index a compound file for CHEMAGENT_LIBRARY."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from chemagent.library.build import build_index, default_name, default_processes, read_rows

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("indexing", total=None)
        try:
            manifest = build_index(
                read_rows(input_file),
                out,
                name=name or default_name(input_file),
                source=str(input_file),
                full=not fast,
                processes=processes or default_processes(),
                progress=lambda n: progress.advance(task, n),
            )
        except ChemAgentError as exc:
            err_console.print(f"[red]{exc.code}:[/red] {escape(exc.detail)}")
            raise typer.Exit(1) from None
    console.print(f"{manifest.count} compounds indexed, {manifest.skipped} skipped -> {out}")


@library_app.command("info")
def library_info(
    path: Annotated[Path | None, typer.Argument(help="Index directory (default: bundled).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a library index's manifest."""
    from dataclasses import asdict

    from chemagent.library.index import Manifest
    from chemagent.library.load import bundled_path

    manifest = asdict(Manifest.read(path or bundled_path()))
    if as_json:
        _print_json(manifest)
        return
    console.print(
        _panel_table("Library", {k: v for k, v in manifest.items() if k not in ("attribution",)})
    )


# --- chemagent query --------------------------------------------------------------------

QUERY_HELP = "\n\n".join(
    (
        "Answer a plain-English question about molecules.",
        "Runs in this process on the configured library (CHEMAGENT_* settings; loading "
        "takes about 1.5 s), or against a running server with --url. While the query runs, "
        "its steps are shown on stderr (when stderr is a terminal, or with --progress); "
        "the answer goes to stdout.",
        "Follow-ups: --verbose shows the answer's session id; pass it back with "
        '--session-id to ask e.g. "what\'s its TPSA?". In-process sessions end with the '
        "command, so follow-ups across invocations need --url (a server keeps them), or "
        "CHEMAGENT_REDIS_URL.",
        "\b\nExamples:\n"
        '  chemagent query "What is CHEMBL25?"\n'
        '  chemagent query "Which has higher LogP: aspirin or ibuprofen?" --verbose\n'
        '  chemagent query "compounds similar to ibuprofen above 0.7" --json\n'
        '  chemagent query "Tell me about warfarin" --url http://localhost:8000 -v\n'
        '  chemagent query "what\'s its logP?" --url http://localhost:8000 --session-id ID',
        "\b\nExit codes:\n"
        "  0  answered: ok, partial, or declined as out of scope\n"
        "  2  cannot be answered as written: unknown compound, invalid value (a 4xx)\n"
        "  3  the server or a dependency failed: a 5xx, connection refused, timeout",
    )
)

EXIT_ANSWERED = 0
EXIT_UNANSWERABLE = 2
EXIT_FAILED = 3
# Seconds to wait for the server: to connect, and between two stream events (the server
# sends a keep-alive comment every 15 s and ends a query at its own deadline, 30 s).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_FINAL_EVENTS = ("result", "error", "cancelled")

EventView = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Question:
    """One ``chemagent query``: the text and how to run it (QueryOptions without the
    half-second import of the query service, which --url does not need)."""

    text: str
    session_id: str | None = None
    parallel: bool = True
    max_workers: int | None = None
    verbose: bool = False


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise typer.BadParameter("give the server's base URL, e.g. http://localhost:8000")
    return value.rstrip("/") if value else value


@app.command("query", help=QUERY_HELP)
def query_command(
    text: Annotated[
        str, typer.Argument(metavar="QUERY", help="The question (quote it in the shell).")
    ],
    url: Annotated[
        str | None,
        typer.Option(
            callback=_http_url,
            help="Ask the server at this base URL (e.g. http://host:8000) instead "
            "of loading the library here.",
        ),
    ] = None,
    session_id: Annotated[
        str | None,
        typer.Option(
            "--session-id",
            help="Continue a conversation: the session id of an earlier answer (shown "
            "with --verbose). Across invocations this needs --url (see above).",
        ),
    ] = None,
    no_parallel: Annotated[
        bool, typer.Option("--no-parallel", help="Run the steps one at a time.")
    ] = False,
    max_workers: Annotated[
        int | None,
        typer.Option(
            "--max-workers",
            min=1,
            max=256,
            help="Most steps running at once. Default and ceiling: the server's "
            "max workers setting; in-process, the thread pool grows to N.",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also print the plan, step timings and execution metrics, and the "
            "session id (on stderr).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the full response body (an error body on failure) as JSON, and "
            "nothing else, on stdout.",
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show step progress on stderr. \\[default: when stderr is a terminal]",
            show_default=False,
        ),
    ] = None,
) -> None:
    question = Question(text, session_id, not no_parallel, max_workers, verbose)
    show = err_console.is_terminal if progress is None else progress
    try:
        if url is None:
            status, body = _ask_locally(question, show)
        else:
            status, body = _ask_server(url, question, show)
    except KeyboardInterrupt:
        err_console.print("cancelled")
        raise typer.Exit(130) from None
    raise typer.Exit(_report(status, body, as_json=as_json, verbose=verbose))


def _ask_locally(question: Question, show: bool) -> tuple[int, dict[str, Any]]:
    """Run the query on the library loaded in this process: (HTTP-like status, body)."""
    from chemagent.execution.query_service import QueryOptions

    settings = _settings()
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
                state = stack.enter_context(local_state(settings))
        except ChemAgentError as exc:  # e.g. CHEMAGENT_LIBRARY names no library
            return exc.status, {"error": exc.code, "detail": exc.detail}
        view = stack.enter_context(_progress_view(show))
        return asyncio.run(_answer(state, question.text, options, view))


async def _answer(
    state: AppState, text: str, options: QueryOptions, view: EventView
) -> tuple[int, dict[str, Any]]:
    """One query through ``state.queries`` with a fresh trace id; closes the sessions and
    the LLM client (they live on this event loop)."""
    from chemagent.execution.llm_fallback import LLMFallback
    from chemagent.observability.context import request_id_var

    async def on_event(event: dict[str, Any]) -> None:
        view(event)

    trace_id = uuid.uuid4().hex
    token = request_id_var.set(trace_id)
    try:
        outcome = await state.queries.run(text, options, on_event)
        return outcome.status_code, {**outcome.body, "trace_id": trace_id}
    except ChemAgentError as exc:
        return exc.status, {"error": exc.code, "detail": exc.detail, "trace_id": trace_id}
    finally:
        request_id_var.reset(token)
        await state.sessions.aclose()
        if isinstance(state.queries.classifier, LLMFallback):
            await state.queries.classifier.aclose()


def _ask_server(url: str, question: Question, show: bool) -> tuple[int, dict[str, Any]]:
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
            with _progress_view(show) as view:
                final = None
                for event in sse_events(response.iter_lines()):
                    view(event)
                    if event.get("type") in _FINAL_EVENTS:
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


@contextmanager
def _progress_view(show: bool) -> Iterator[EventView]:
    """An event handler drawing step progress on stderr, or one that draws nothing."""
    if not show:
        yield lambda _event: None
        return
    view = StepProgress(err_console)
    # Not a terminal (--progress into a file or pipe): only the lines of finished steps.
    with view.progress if err_console.is_terminal else nullcontext():
        yield view


class StepProgress:
    """Step progress of one query: a live row per running step and a bar for the whole
    query; every finished step leaves a line (``✓`` ok, ``✗`` failed, ``-`` skipped)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.overall: TaskID = self.progress.add_task("parsing", total=1.0)
        self.labels: dict[str, str] = {}
        self.running: dict[str, TaskID] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "planning":
            self._planned(event.get("plan"))
        elif kind == "step_start":
            node = str(event.get("node"))
            label = str(event.get("label") or self.labels.get(node, node))
            self.running[node] = self.progress.add_task(f"  {escape(label)}", total=None)
        elif kind == "step_complete":
            self._completed(event)
        elif kind in _FINAL_EVENTS:
            self.progress.update(self.overall, description="done")
        if isinstance(event.get("progress"), int | float):
            self.progress.update(self.overall, completed=float(event["progress"]))

    def _planned(self, plan: dict[str, Any] | None) -> None:
        if not plan:
            self.progress.update(self.overall, description="answering")
            return
        nodes = plan.get("nodes", [])
        self.labels = {str(n["id"]): str(n.get("label") or n["id"]) for n in nodes}
        layers = len(plan.get("layers", []))
        self.progress.update(self.overall, description=f"{len(nodes)} steps in {layers} layers")

    def _completed(self, event: dict[str, Any]) -> None:
        node = str(event.get("node"))
        task = self.running.pop(node, None)
        if task is not None:
            self.progress.remove_task(task)
        label = escape(self.labels.get(node, node))
        status = event.get("status")
        seconds = event.get("seconds")
        took = f" [dim]{_ms(seconds)}[/dim]" if isinstance(seconds, int | float) else ""
        if status == "ok":
            self.progress.console.print(f"[green]✓[/green] {label}{took}", highlight=False)
        elif status == "skipped":
            self.progress.console.print(f"[dim]- {label} (skipped)[/dim]")
        else:
            self.progress.console.print(
                f"[red]✗[/red] {label} ({escape(str(status))}){took}", highlight=False
            )


def _ms(seconds: Any) -> str:
    return f"{float(seconds) * 1000:.1f} ms" if isinstance(seconds, int | float) else "-"


def _report(status: int, body: dict[str, Any], *, as_json: bool, verbose: bool) -> int:
    """Print the outcome (stdout: the answer or the JSON body; stderr: errors) and return
    the exit code."""
    if verbose and body.get("session_id"):
        err_console.print(
            f"session {body['session_id']} (continue with --session-id {body['session_id']})",
            soft_wrap=True,
            highlight=False,
        )
    answered = status < 400
    if as_json:
        _print_json(body)
    elif answered:
        sys.stdout.write(str(body.get("answer", "")).rstrip() + "\n")
        if verbose:
            _print_details(body, console)
    elif verbose:
        _print_details(body, err_console)
    if not answered:
        _print_error(body)
    if answered:
        return EXIT_ANSWERED
    return EXIT_UNANSWERABLE if status < 500 else EXIT_FAILED


def _print_error(body: dict[str, Any]) -> None:
    code = escape(str(body.get("error", "error")))
    detail = str(body.get("detail") or body.get("answer") or "the query failed")
    err_console.print(f"[red]{code}:[/red] {escape(detail)}", soft_wrap=True, highlight=False)
    suggestions = [str(s) for s in body.get("suggestions") or []]
    if suggestions and suggestions[0] not in detail:
        err_console.print(f"did you mean: {escape(', '.join(suggestions))}", soft_wrap=True)


def _print_details(body: dict[str, Any], out: Console) -> None:
    """The plan with each step's outcome and time, then the execution metrics."""
    plan = body.get("plan")
    if plan:
        out.print(_plan_table(plan, body.get("steps") or []))
    metrics = body.get("metrics")
    if metrics:
        out.print(_metrics_table(metrics))


def _plan_table(plan: dict[str, Any], steps: list[dict[str, Any]]) -> Table:
    layer_of = {node: i for i, layer in enumerate(plan.get("layers", []), 1) for node in layer}
    ran = {str(step["node"]): step for step in steps}
    table = Table(title=f"Plan (answer from {plan.get('output')})")
    for column in ("layer", "step", "kind", "label", "after", "status"):
        table.add_column(column)
    table.add_column("time", justify="right")
    for node in plan.get("nodes", []):
        step = ran.get(str(node["id"]), {})
        table.add_row(
            str(layer_of.get(node["id"], "")),
            str(node["id"]),
            str(node["kind"]),
            escape(str(node.get("label") or "")),
            ", ".join(node.get("depends_on") or []),
            str(step.get("status", "not run")),
            _ms(step.get("seconds")),
        )
    return table


def _metrics_table(metrics: dict[str, Any]) -> Table:
    rows = {
        "wall": _ms(metrics.get("wall_seconds")),
        "serial": _ms(metrics.get("serial_seconds")),
        "speedup": f"{metrics.get('speedup', 0):.2f}x",
        "parallelization ratio": f"{metrics.get('parallelization_ratio', 0):.2f}",
        "steps run / cached / failed / skipped": " / ".join(
            str(metrics.get(k, 0))
            for k in ("steps_run", "steps_cached", "steps_failed", "steps_skipped")
        ),
        "layers": str(metrics.get("layers", "")),
        "max workers": str(metrics.get("max_workers", "")),
        "parallel": "yes" if metrics.get("parallel") else "no",
    }
    table = Table(title="Execution", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(key, value)
    return table
