"""The outcome of ``chemagent query``: the answer or JSON body, errors, exit codes."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chemagent.cli_support.output import console, err_console, milliseconds, print_json

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


def report(status: int, body: dict[str, Any], *, as_json: bool, verbose: bool) -> int:
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
        print_json(body)
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
            _status(step),
            milliseconds(step.get("seconds")),
        )
    return table


def _status(step: dict[str, Any]) -> str:
    """``ok``, or ``ok l1``/``ok l2`` when the result came from a cache tier."""
    status = str(step.get("status", "not run"))
    tier = step.get("cache")
    return f"{status} {tier}" if tier in ("l1", "l2", "stale") else status


def _metrics_table(metrics: dict[str, Any]) -> Table:
    rows = {
        "wall": milliseconds(metrics.get("wall_seconds")),
        "serial": milliseconds(metrics.get("serial_seconds")),
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
