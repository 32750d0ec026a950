"""Run a plan: layers of independent nodes concurrently, each node as a step via the runner.

Nodes whose kind is a *binder* choose their step from their inputs once those are known
(a resolved compound in the library becomes a ``compound`` step, a new structure a
``properties`` step). A failed node fails only the nodes that read from it; the others
still run. Events (``step_start``, ``step_complete``) go to an optional callback, with
progress from 0 to 1, for streaming.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from chemagent.errors import ChemAgentError, CompoundNotFound, StepTimeout
from chemagent.execution.resolved import search_smiles, suggestions
from chemagent.execution.runner import StepRunner
from chemagent.execution.step import Step
from chemagent.query.plan import Plan, PlanNode, bind

Binder = Callable[[Any, Mapping[str, Any]], Step]
_CHEMBL_ID = re.compile(r"^CHEMBL\d+$", re.IGNORECASE)
EventSink = Callable[[dict[str, Any]], Awaitable[None]]
CACHED = frozenset({"l1", "l2", "stale"})
"""Where a step's result came from when it was not computed."""


@dataclass
class NodeOutcome:
    """How one node ended: ok, error, skipped (a dependency failed) or timeout."""

    node: str
    status: str
    seconds: float = 0.0
    result: Any = None
    error: dict[str, Any] | None = None
    cache: str | None = None  # l1, l2, miss or stale, once the step has run


@dataclass
class ExecutionMetrics:
    """How the plan ran.

    ``serial_seconds`` sums the nodes' own times (what running them one after another would
    take); ``speedup`` is serial / wall; ``parallelization_ratio`` is the share of node time
    hidden by running nodes together, 1 - wall / serial (0 when serial).
    """

    wall_seconds: float
    serial_seconds: float
    speedup: float
    parallelization_ratio: float
    steps_run: int
    steps_cached: int
    steps_failed: int
    steps_skipped: int
    layers: int
    max_workers: int
    parallel: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    """A step input as text: strings as they are, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def direct(node: PlanNode) -> Binder:
    """The binder of a node whose kind is a step kind: input and params as bound."""

    def make(bound_input: Any, params: Mapping[str, Any]) -> Step:
        return Step.of(node.kind, _text(bound_input), **params)

    return make


def panel_of(resolved: Any, params: Mapping[str, Any]) -> Step:
    """A resolve result -> the step giving that compound's record and property panel."""
    if resolved["matches"]:
        return Step.of("compound", resolved["matches"][0]["chembl_id"])
    if resolved["molecule"]:
        return Step.of("properties", resolved["molecule"]["smiles"])
    return _not_found(resolved)


def similar_to(resolved: Any, params: Mapping[str, Any]) -> Step:
    """A resolve result -> a similarity search from its parent structure."""
    smiles = search_smiles(resolved)
    if smiles is None:
        return _not_found(resolved)
    return Step.of("similarity", smiles, **params)


def _not_found(resolved: Mapping[str, Any]) -> Step:
    """For a resolve result that found nothing: the step that fails saying so.

    An unknown ChEMBL ID becomes the ``compound`` step for that ID, whose error gives the
    hint on where else the compound could be (the step context knows whether the service
    is offline; a binder does not). Anything else raises at once, with any "did you mean".

    Raises:
        CompoundNotFound: the query is not an ID-shaped one.
    """
    query = str(resolved["query"])
    if _CHEMBL_ID.match(query.strip()):
        return Step.of("compound", query.strip().upper())
    names = suggestions(resolved)
    hint = f" Did you mean {', '.join(names)}?" if names else ""
    raise CompoundNotFound(f"'{query}' is not a known compound.{hint}", names)


def _error_of(exc: ChemAgentError) -> dict[str, Any]:
    """A node's error: the stable code, the sentence, the HTTP status it maps to, and the
    "did you mean" names when there are some."""
    error: dict[str, Any] = {"error": exc.code, "detail": exc.detail, "status": exc.status}
    if isinstance(exc, CompoundNotFound) and exc.suggestions:
        error["suggestions"] = list(exc.suggestions)
    return error


BINDERS: dict[str, Binder] = {"panel": panel_of, "similar": similar_to}
"""Binder kinds the planner may use besides the registered step kinds."""


@dataclass
class PlanExecutor:
    """Executes plans through one StepRunner."""

    runner: StepRunner
    binders: Mapping[str, Binder] = field(default_factory=lambda: dict(BINDERS))

    async def execute(
        self,
        plan: Plan,
        *,
        parallel: bool = True,
        max_workers: int = 4,
        deadline: float | None = None,
        on_event: EventSink | None = None,
    ) -> tuple[dict[str, NodeOutcome], ExecutionMetrics]:
        """Run every node of ``plan``; never raises for a node's failure.

        Args:
            parallel: run each layer's nodes concurrently (else one at a time, in order).
            max_workers: most nodes running at once.
            deadline: seconds for the whole plan; nodes unfinished by then end as timeout.
            on_event: awaited with ``step_start``/``step_complete`` events.

        Returns:
            Each node's outcome, and the metrics.
        """
        layers = plan.layers()
        total = len(plan.nodes)
        outcomes: dict[str, NodeOutcome] = {}
        results: dict[str, Any] = {}
        gate = asyncio.Semaphore(max_workers if parallel else 1)
        started = time.perf_counter()

        async def emit(event: dict[str, Any]) -> None:
            if on_event is not None:
                done = sum(o.status != "running" for o in outcomes.values())
                await on_event({**event, "progress": round(done / total, 4) if total else 1.0})

        async def run_node(node: PlanNode) -> None:
            failed = [d for d in node.depends_on if outcomes[d].status != "ok"]
            if failed:
                outcomes[node.id] = NodeOutcome(
                    node.id,
                    "skipped",
                    error={
                        "error": "dependency_failed",
                        "detail": f"Not run: it needs {', '.join(failed)}, which did not succeed.",
                    },
                )
                await emit({"type": "step_complete", "node": node.id, "status": "skipped"})
                return
            async with gate:
                outcomes[node.id] = NodeOutcome(node.id, "running")
                await emit(
                    {"type": "step_start", "node": node.id, "kind": node.kind, "label": node.label}
                )
                node_started = time.perf_counter()
                try:
                    binder = self.binders.get(node.kind) or direct(node)
                    try:
                        bound = bind(node.input, results), bind(dict(node.params), results)
                    except (KeyError, IndexError, TypeError):
                        raise CompoundNotFound(
                            f"Not run: {node.label or node.kind} needs a result the steps "
                            "before it did not find."
                        ) from None
                    step = binder(*bound)
                    results[node.id], tier = await self.runner.run_cached(step)
                    outcome = NodeOutcome(node.id, "ok", result=results[node.id], cache=tier)
                except StepTimeout as exc:
                    outcome = NodeOutcome(node.id, "timeout", error=_error_of(exc))
                except ChemAgentError as exc:
                    outcome = NodeOutcome(node.id, "error", error=_error_of(exc))
                outcome.seconds = time.perf_counter() - node_started
                outcomes[node.id] = outcome
                await emit(
                    {
                        "type": "step_complete",
                        "node": node.id,
                        "status": outcome.status,
                        "seconds": round(outcome.seconds, 6),
                        "cache": outcome.cache,
                    }
                )

        try:
            async with asyncio.timeout(deadline):
                for layer in layers:
                    if parallel:
                        await asyncio.gather(*(run_node(node) for node in layer))
                    else:
                        for node in layer:
                            await run_node(node)
        except TimeoutError:
            for node in plan.nodes:
                if node.id not in outcomes or outcomes[node.id].status == "running":
                    outcomes[node.id] = NodeOutcome(
                        node.id,
                        "timeout",
                        error={
                            "error": "query_timeout",
                            "detail": f"The query took longer than {deadline:g} s; this step "
                            "was stopped.",
                            "status": 504,
                        },
                    )
        wall = time.perf_counter() - started
        serial = sum(o.seconds for o in outcomes.values())
        metrics = ExecutionMetrics(
            wall_seconds=round(wall, 6),
            serial_seconds=round(serial, 6),
            speedup=round(serial / wall, 3) if wall > 0 else 1.0,
            parallelization_ratio=round(max(0.0, 1 - wall / serial), 3) if serial > 0 else 0.0,
            steps_run=sum(o.status in ("ok", "error", "timeout") for o in outcomes.values()),
            steps_cached=sum(o.cache in CACHED for o in outcomes.values()),
            steps_failed=sum(o.status in ("error", "timeout") for o in outcomes.values()),
            steps_skipped=sum(o.status == "skipped" for o in outcomes.values()),
            layers=len(layers),
            max_workers=max_workers if parallel else 1,
            parallel=parallel,
        )
        return outcomes, metrics
