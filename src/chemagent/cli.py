"""The ``chemagent`` command: serve the API, query the library, build library indexes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from chemagent.cli_support.ask import Question, ask_locally, ask_server
from chemagent.cli_support.ask import sse_events as sse_events
from chemagent.cli_support.cache import CLEAR_HELP as CACHE_CLEAR_HELP
from chemagent.cli_support.cache import STATS_HELP as CACHE_STATS_HELP
from chemagent.cli_support.cache import WARM_HELP as CACHE_WARM_HELP
from chemagent.cli_support.output import console, err_console, print_json
from chemagent.cli_support.report import QUERY_HELP, report
from chemagent.errors import ChemAgentError

if TYPE_CHECKING:
    from chemagent.api.state import AppState
    from chemagent.settings import Settings

app = typer.Typer(
    help="ChemAgent: compound lookup, ChEMBL property panels and similarity search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
library_app = typer.Typer(help="Build and inspect compound library indexes.", no_args_is_help=True)
app.add_typer(library_app, name="library")
cache_app = typer.Typer(
    help="Inspect, clear and warm the step cache of a server (or fill Redis in-process).",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")

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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes. 1: uvicorn in this process; more: gunicorn with "
            "uvicorn workers (metrics summed over all workers).",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API on the configured library (uvicorn, or gunicorn for --workers > 1)."""
    from chemagent.cli_support import serving

    settings = _settings()
    serving.check_tracing_config()
    bind_host, bind_port = host or settings.host, port or settings.port
    if workers > 1:
        serving.exec_gunicorn(bind_host, bind_port, workers)
    serving.run_uvicorn(settings, bind_host, bind_port)


@app.command()
def compound(
    chembl_id: Annotated[str, typer.Argument(help="Compound ID, e.g. CHEMBL25.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one compound and its property panel."""
    record = _run(lambda ops: ops.compound(chembl_id))
    if as_json:
        print_json(record)
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
        print_json(result)
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
        print_json(result)
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
        print_json(manifest)
        return
    console.print(
        _panel_table("Library", {k: v for k, v in manifest.items() if k not in ("attribution",)})
    )


# --- chemagent query --------------------------------------------------------------------


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
            status, body = ask_locally(question, show, _settings(), local_state)
        else:
            status, body = ask_server(url, question, show)
    except KeyboardInterrupt:
        err_console.print("cancelled")
        raise typer.Exit(130) from None
    raise typer.Exit(report(status, body, as_json=as_json, verbose=verbose))


# --- chemagent cache --------------------------------------------------------------------

UrlOption = Annotated[
    str | None,
    typer.Option(
        callback=_http_url,
        help="The server's base URL. \\[default: http://127.0.0.1:8000]",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="CHEMAGENT_ADMIN_TOKEN",
        show_envvar=True,
        show_default=False,
        help="The server's admin token (sent as a bearer token).",
    ),
]


def _admin_token(token: str | None) -> str:
    if not token:
        err_console.print(
            "[red]no_token:[/red] this needs the server's admin token: pass --token or set "
            "CHEMAGENT_ADMIN_TOKEN.",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    return token


def _cache_outcome(
    status: int, body: dict[str, Any], show: Callable[[dict[str, Any]], None], as_json: bool
) -> int:
    """Print a cache call's outcome (errors on stderr) and return its exit code."""
    from chemagent.cli_support import cache as support

    if status >= 400:
        support.print_error(body)
    elif as_json:
        print_json(body)
    else:
        show(body)
    return support.exit_code(status)


@cache_app.command("stats", help=CACHE_STATS_HELP)
def cache_stats(url: UrlOption = None, as_json: JsonFlag = False) -> None:
    from chemagent.cli_support import cache as support

    status, body = support.fetch_stats(url or support.DEFAULT_URL)
    raise typer.Exit(_cache_outcome(status, body, support.print_stats, as_json))


@cache_app.command("clear", help=CACHE_CLEAR_HELP)
def cache_clear(
    everything: Annotated[
        bool, typer.Option("--all", help="Every entry of the server's cache namespace.")
    ] = False,
    kind: Annotated[
        str | None, typer.Option(help="Every entry of one step kind, e.g. properties.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="One cache key, as stored in Redis.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    from chemagent.cli_support import cache as support

    if everything + (kind is not None) + (key is not None) != 1:
        raise typer.BadParameter("give exactly one of --all, --kind KIND or --key KEY")
    status, body = support.clear(
        url or support.DEFAULT_URL, _admin_token(token), key=key, kind=kind, everything=everything
    )
    raise typer.Exit(_cache_outcome(status, body, support.print_invalidation, as_json))


@cache_app.command("warm", help=CACHE_WARM_HELP)
def cache_warm(
    files_or_items: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE_OR_ITEM",
            help="Warm files and/or items (IDs, SMILES, quoted queries).",
            show_default=False,
        ),
    ],
    url: UrlOption = None,
    token: TokenOption = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Compute here, into the Redis of CHEMAGENT_REDIS_URL, instead of on a server.",
        ),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 2 if any item failed.")] = False,
    as_json: JsonFlag = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from chemagent.cli_support import cache as support

    if local and url is not None:
        raise typer.BadParameter("--local computes in this process: leave out --url")
    try:
        items = support.read_items(files_or_items)
    except ChemAgentError as exc:
        err_console.print(f"[red]{exc.code}:[/red] {escape(exc.detail)}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not items:
        err_console.print("[red]no_items:[/red] every item given is blank.")
        raise typer.Exit(2)
    admin_token = None if local else _admin_token(token)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("warming", total=len(items))

        def advance(count: int) -> None:
            progress.advance(task, count)

        if admin_token is None:
            status, body = support.warm_locally(items, _settings(), local_state, advance)
        else:
            status, body = support.warm_server(
                url or support.DEFAULT_URL, admin_token, items, advance
            )
    code = _cache_outcome(status, body, support.print_warm_report, as_json)
    if code == support.EXIT_OK and strict and body["failed"]:
        code = support.EXIT_CALLER
    raise typer.Exit(code)
