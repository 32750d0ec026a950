"""Step progress of ``chemagent query`` on stderr, drawn from the query's events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from chemagent.cli_support.output import err_console, milliseconds

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

FINAL_EVENTS = ("result", "error", "cancelled")

EventView = Callable[[dict[str, Any]], None]


@contextmanager
def progress_view(show: bool) -> Iterator[EventView]:
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
        elif kind in FINAL_EVENTS:
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
        took = f" [dim]{milliseconds(seconds)}[/dim]" if isinstance(seconds, int | float) else ""
        if status == "ok":
            self.progress.console.print(f"[green]✓[/green] {label}{took}", highlight=False)
        elif status == "skipped":
            self.progress.console.print(f"[dim]- {label} (skipped)[/dim]")
        else:
            self.progress.console.print(
                f"[red]✗[/red] {label} ({escape(str(status))}){took}", highlight=False
            )
