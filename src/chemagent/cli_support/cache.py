"""``chemagent cache stats|clear|warm``: the cache endpoints from the command line.

Every call returns ``(HTTP status, JSON body)`` like ``chemagent query`` does, so the
output and exit code do not depend on where the work ran: 0 done, 2 the caller's mistake
(401, 403, 409, 422, a bad warm file), 3 the server or a dependency failed (5xx, no
connection, Redis unreachable for ``--local``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from chemagent.cli_support.output import console, err_console

if TYPE_CHECKING:
    from chemagent.api.state import AppState
    from chemagent.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0  # a warm call waits for its items; the server's own deadline is 30 s
CHUNK = 100
"""Items per ``POST /v1/cache/warm`` (the server takes up to 1,000): small enough that a
chunk of queries finishes well within the server's 30 s request deadline, and that the
progress bar moves."""

EXIT_OK, EXIT_CALLER, EXIT_FAILED = 0, 2, 3

STATS_HELP = "\n\n".join(
    (
        "Show the cache statistics of the server worker that answers.",
        "Each worker process has its own L1 and counters; Redis (L2) is shared. No token needed.",
    )
)

CLEAR_HELP = "\n\n".join(
    (
        "Remove cached results on a server: --all, --kind KIND or --key KEY.",
        "Redis and every worker's L1 are cleared at once (other workers hear of it through "
        "Redis); without Redis, or while it is down, other workers' L1 copies expire within "
        "CHEMAGENT_CACHE_L1_MAX_TTL_SECONDS (300 s by default). Needs the admin token "
        "(--token or CHEMAGENT_ADMIN_TOKEN).",
        "\b\nExit codes:\n"
        "  0  cleared\n"
        "  2  a caller error: no or wrong token, admin endpoints off, unknown kind\n"
        "  3  the server cannot be reached or failed",
    )
)

WARM_HELP = "\n\n".join(
    (
        "Compute compound IDs, SMILES and plain-English queries into the cache.",
        "Each argument is a file (one item per line with # comments, or a JSON list of "
        "strings) or an item itself. An ID (CHEMBL25) warms the compound, a SMILES its "
        "property panel; anything else is answered as a query.",
        "By default the items go to a server, 100 per call, with the admin token (--token "
        "or CHEMAGENT_ADMIN_TOKEN). With --local they are computed in this process into "
        "the Redis of CHEMAGENT_REDIS_URL: a shared Redis filled before a deploy.",
        "\b\nExamples:\n"
        "  chemagent cache warm CHEMBL25 'CC(=O)Oc1ccccc1C(=O)O' \"LogP of ibuprofen\"\n"
        "  chemagent cache warm top_queries.txt --url http://chemagent:8000\n"
        "  CHEMAGENT_REDIS_URL=redis://redis:6379/0 chemagent cache warm ids.txt --local",
        "\b\nExit codes:\n"
        "  0  the warm ran (failed items are listed on stderr; --strict: exit 2)\n"
        "  2  a caller error: bad file, no or wrong token, another warm running\n"
        "  3  the server or Redis cannot be reached or failed",
    )
)

Response = tuple[int, dict[str, Any]]
StateOpener = Callable[["Settings"], AbstractContextManager["AppState"]]
Advance = Callable[[int], None]


# --- talking to a server -------------------------------------------------------------


def fetch_stats(url: str) -> Response:
    """``GET {url}/v1/cache/stats``."""
    return _call("GET", url, "/v1/cache/stats")


def clear(url: str, token: str, *, key: str | None, kind: str | None, everything: bool) -> Response:
    """``DELETE {url}/v1/cache`` with one of ``key``, ``kind``, ``all=true``."""
    params = {"key": key, "kind": kind, "all": "true" if everything else None}
    sent = {name: value for name, value in params.items() if value is not None}
    return _call("DELETE", url, "/v1/cache", token=token, params=sent)


def warm_server(url: str, token: str, items: Sequence[str], advance: Advance) -> Response:
    """Warm ``items`` on the server, :data:`CHUNK` at a time; one report summing them all.

    Stops at the first call that fails and returns its status and error body.
    """
    started = time.perf_counter()
    total: dict[str, Any] | None = None
    for first in range(0, len(items), CHUNK):
        chunk = list(items[first : first + CHUNK])
        status, body = _call(
            "POST", url, "/v1/cache/warm", token=token, json={"items": chunk, "wait": True}
        )
        if status != 200:
            return status, body
        total = body if total is None else _add(total, body)
        advance(len(chunk))
    assert total is not None
    total["seconds"] = time.perf_counter() - started
    return 200, total


def _add(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    summed = {
        key: total[key] + more[key]
        for key in ("items", "ok", "failed", "steps_computed", "steps_cached", "duplicates")
    }
    errors = [*total["errors"], *more["errors"]][:10]
    return {**total, **summed, "errors": errors}


def _call(method: str, url: str, path: str, *, token: str | None = None, **kwargs: Any) -> Response:
    """One request; ``(status, JSON body)``, a made-up 503 body when the server is not
    reached."""
    import httpx

    headers = {"authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout) as http:
            response = http.request(method, f"{url}{path}", headers=headers, **kwargs)
    except httpx.ConnectError as exc:
        return _unreachable(f"cannot connect to {url}: {_reason(exc)}")
    except httpx.TimeoutException:
        return _unreachable(f"no answer from {url} within {READ_TIMEOUT:g} s")
    except httpx.HTTPError as exc:
        return _unreachable(f"the connection to {url} failed: {_reason(exc)}")
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (status < 400 or "error" in body):
        return status, body
    return 502 if status < 400 else status, {
        "error": f"http_{status}",
        "detail": f"{url}{path} answered {status} without a ChemAgent body: {response.text[:200]}",
    }


def _reason(exc: Exception) -> str:
    text = str(exc)
    # httpx passes on the OS error: "[Errno 111] Connection refused" -> "connection refused".
    reason = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return (reason[:1].lower() + reason[1:]) if reason else type(exc).__name__


def _unreachable(detail: str) -> Response:
    return 503, {"error": "server_unreachable", "detail": detail}


# --- warming in this process ---------------------------------------------------------


def warm_locally(
    items: Sequence[str], settings: Settings, open_state: StateOpener, advance: Advance
) -> Response:
    """Warm ``items`` on a library loaded here, into the Redis of ``settings``.

    Without Redis the results would die with this process: that is a caller error.
    """
    if settings.redis_url is None:
        return 400, {
            "error": "no_redis",
            "detail": "--local fills the shared Redis cache, and CHEMAGENT_REDIS_URL is not "
            "set: the results would be lost when this command ends. Set it, or warm a "
            "running server with --url.",
        }
    with open_state(settings) as state:
        return asyncio.run(_warm_in(state, items, advance))


async def _warm_in(state: AppState, items: Sequence[str], advance: Advance) -> Response:
    from chemagent.execution.llm_fallback import LLMFallback
    from chemagent.execution.warm import CacheWarmer

    await state.cache.start()
    try:
        warmer = CacheWarmer(state.operations, state.queries)
        report = await warmer.warm(
            items,
            concurrency=state.settings.max_workers,  # nothing else runs here
            source="cli",
            on_progress=lambda _: advance(1),
        )
        redis = state.cache.l2.state
    finally:
        await state.cache.aclose()
        await state.cache.l2.aclose()
        await state.sessions.aclose()
        if isinstance(state.queries.classifier, LLMFallback):
            await state.queries.classifier.aclose()
    if redis != "ok":
        return 503, {
            "error": "redis_unavailable",
            "detail": f"Redis was {redis} during the warm, so results may not have been "
            "stored; check CHEMAGENT_REDIS_URL and that Redis answers, then run it again.",
        }
    return 200, report.to_dict()


def read_items(arguments: Iterable[str]) -> list[str]:
    """The items named by the arguments: a file's items, or the argument itself.

    Raises:
        InvalidInput: a file cannot be read or is malformed (the sentence names it).
    """
    from chemagent.execution.warm import distinct, read_warm_file

    items: list[str] = []
    for argument in arguments:
        path = Path(argument)
        items.extend(read_warm_file(path) if path.is_file() else [argument])
    return distinct(items)


# --- output ----------------------------------------------------------------------------


def exit_code(status: int) -> int:
    if status < 400:
        return EXIT_OK
    return EXIT_CALLER if status < 500 else EXIT_FAILED


def print_error(body: dict[str, Any]) -> None:
    code = escape(str(body.get("error", "error")))
    detail = escape(str(body.get("detail") or "the call failed"))
    err_console.print(f"[red]{code}:[/red] {detail}", soft_wrap=True, highlight=False)


def print_stats(body: dict[str, Any]) -> None:
    """Tiers, computations, the namespace and the last warm, as tables."""
    l1, l2, counters = body["l1"], body["l2"], body["counters"]
    console.print(
        f"namespace {escape(body['namespace']['prefix'])}; Redis {escape(str(l2['state']))}",
        highlight=False,
    )
    tiers = Table(title="Since this worker started (L1: this worker; L2: Redis, shared)")
    for column in ("tier", "hits", "misses", "hit ratio", "stale", "errors", "entries"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    tiers.add_column("latency", justify="right")
    for name, tier in (("L1", l1), ("L2", l2)):
        tiers.add_row(
            name,
            str(tier["hits"]),
            str(tier["misses"]),
            _ratio(tier["hits"], tier["hits"] + tier["misses"]),
            str(tier["stale"]),
            str(tier.get("errors", "-")),
            f"{tier['entries']}/{tier['maxsize']}" if "entries" in tier else "-",
            _mean_ms(tier["latency_seconds_sum"], tier["latency_count"]),
        )
    console.print(tiers)
    work = Table(title="Computations", show_header=False)
    work.add_column("counter")
    work.add_column("value", justify="right")
    for name in ("computes", "coalesced", "negative_hits", "refreshes", "lock_waits", "in_flight"):
        work.add_row(name.replace("_", " "), str(counters.get(name, 0)))
    work.add_row("mean compute", _mean_ms(counters["compute_seconds_sum"], counters["computes"]))
    console.print(work)
    warm = body.get("warm")
    if warm:
        console.print(f"last warm: {_warm_line(warm)}", highlight=False)


def print_invalidation(body: dict[str, Any]) -> None:
    target = f" {body['target']}" if body.get("target") else ""
    console.print(
        f"removed {body['deleted']} entr{'y' if body['deleted'] == 1 else 'ies'} "
        f"({body['scope']}{escape(target)}); Redis "
        f"{body['l2']}."
        + (
            ""
            if body["l2"] == "ok"
            else " Other workers' L1 copies expire within CHEMAGENT_CACHE_L1_MAX_TTL_SECONDS."
        ),
        soft_wrap=True,
        highlight=False,
    )
    if body.get("l2") == "degraded":
        err_console.print("[yellow]warning:[/yellow] Redis could not be cleared; run it again.")


def print_warm_report(body: dict[str, Any]) -> None:
    """The numbers on stdout; the failed items on stderr."""
    console.print(_warm_line(body), soft_wrap=True, highlight=False)
    if body["errors"]:
        shown = len(body["errors"])
        more = f" (first {shown} of {body['failed']})" if body["failed"] > shown else ""
        err_console.print(f"failed items{more}:", highlight=False)
        for error in body["errors"]:
            err_console.print(
                f"  {escape(error['item'])}: [red]{escape(error['error'])}[/red] "
                f"{escape(error['detail'])}",
                soft_wrap=True,
                highlight=False,
            )


def _warm_line(report: dict[str, Any]) -> str:
    state = " (running)" if report.get("running") else ""
    return (
        f"{report['ok']}/{report['items']} items warmed, {report['failed']} failed{state}; "
        f"{report['steps_computed']} steps computed, {report['steps_cached']} already "
        f"cached; {float(report['seconds']):.1f} s"
    )


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _mean_ms(seconds: float, count: int) -> str:
    return f"{seconds / count * 1000:.3f} ms" if count else "-"
