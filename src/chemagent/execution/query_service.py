"""Plain-English queries end to end: parse -> plan -> execute -> format, with sessions.

One :class:`QueryService` per worker serves ``POST /v1/query``, the SSE stream, the
WebSocket and ``chemagent query`` alike; the transports differ only in how they deliver
the events (``parsing``, ``planning``, ``step_start``, ``step_complete``, ``result``,
``error``) that :meth:`QueryService.run` emits through its ``on_event`` callback.

HTTP status of an answer:

* 200: answered (``status`` ``ok`` or ``partial``), or politely declined (``rejected``:
  out of scope or gibberish, with what ChemAgent can do).
* 4xx: the query cannot be run as written (a threshold of 1.5, a broken SMILES, an
  unknown compound): the status of the error that stopped it, with the answer text.
* 503/504: a dependency or a deadline stopped the step the answer needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chemagent.cache.sessions import SESSION_ID, Exchange, SessionStore
from chemagent.errors import InvalidInput
from chemagent.execution.plan_runner import BINDERS, NodeOutcome, PlanExecutor
from chemagent.observability import tracing
from chemagent.query.formatter import Answer, format_answer, format_rejection
from chemagent.query.intent import parse
from chemagent.query.model import Intent, IntentKind
from chemagent.query.plan import Plan, PlanError
from chemagent.query.planner import plan as make_plan
from chemagent.query.serialize import entity_to_dict, intent_from_dict, intent_to_dict
from chemagent.steps.registry import list_step_kinds

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], Awaitable[None]]

# Progress: parsing and planning take the first 5%; the plan's steps the next 90%.
_PLANNING = 0.05
_STEPS = 0.9


class IntentClassifier(Protocol):
    """The optional LLM fallback: an intent for a query the rules cannot read, or None."""

    async def classify(self, query: str) -> Intent | None: ...


@dataclass(frozen=True)
class QueryOptions:
    """How to run one query (validated by the transport)."""

    session_id: str | None = None
    parallel: bool = True
    max_workers: int | None = None
    verbose: bool = False
    remember: bool = True
    """Store the exchange in the session (False for cache warming: no session is wanted)."""


@dataclass(frozen=True)
class QueryRecord:
    """What happened to one query: handed to every observer when it ends.

    ``status`` is the answer's (ok, partial, failed, rejected), or ``invalid`` (refused
    before anything ran), ``cancelled`` (the caller went away) or ``error`` (a bug).
    ``intent`` is the intent kind, ``unknown`` until the query was parsed.
    """

    intent: str
    status: str
    seconds: float
    http_status: int
    steps: int = 0


QueryObserver = Callable[[QueryRecord], None]


@dataclass
class QueryOutcome:
    """The response body and its HTTP status."""

    status_code: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status_code < 400


@dataclass
class QueryService:
    """Answers queries with one plan executor; remembers sessions in ``sessions``.

    Args:
        executor: runs plans through the step runner.
        sessions: where follow-up context lives.
        max_workers: the default and the ceiling of a query's concurrent steps.
        deadline: seconds for a whole query (CHEMAGENT_REQUEST_TIMEOUT_SECONDS).
        max_query_length: longest accepted query text.
        classifier: the optional LLM fallback for queries the rules cannot parse.
    """

    executor: PlanExecutor
    sessions: SessionStore
    max_workers: int
    deadline: float
    max_query_length: int = 2000
    classifier: IntentClassifier | None = None
    active: int = 0
    """Queries running now (a cancelled or disconnected query leaves this count at once)."""
    observers: list[QueryObserver] = field(default_factory=list)
    """Called with a :class:`QueryRecord` when each query ends (metrics, /v1/performance)."""
    _known_kinds: frozenset[str] = field(
        default_factory=lambda: frozenset({k.name for k in list_step_kinds()} | set(BINDERS))
    )

    def check(self, query: str, options: QueryOptions) -> None:
        """Reject what cannot be a query before anything runs.

        Raises:
            InvalidInput: an empty or too long query, a malformed session id, or
                ``max_workers`` outside 1..the configured ceiling.
        """
        if not query.strip():
            raise InvalidInput("The query is empty; ask a question, e.g. 'LogP of aspirin'.")
        if len(query) > self.max_query_length:
            raise InvalidInput(
                f"The query is {len(query)} characters long; the limit is "
                f"{self.max_query_length}. Ask a shorter question, or use POST /v1/batch "
                "for many compounds."
            )
        if options.session_id is not None and not SESSION_ID.match(options.session_id):
            raise InvalidInput(
                "session_id must be 1-128 characters of letters, digits and _ . : - "
                "(omit it to start a new session)."
            )
        if options.max_workers is not None and not 1 <= options.max_workers <= self.max_workers:
            raise InvalidInput(
                f"max_workers must be between 1 and {self.max_workers} (this server's "
                "CHEMAGENT_MAX_WORKERS)."
            )

    async def run(
        self, query: str, options: QueryOptions, on_event: EventSink | None = None
    ) -> QueryOutcome:
        """Answer ``query``; every problem becomes part of the outcome, never an exception.

        Raises:
            InvalidInput: see :meth:`check` (nothing has run then).
            asyncio.CancelledError: the caller cancelled; pending steps do not start.
        """
        started = time.perf_counter()
        intent_kind, status, http_status, steps = "unknown", "error", 500, 0
        try:
            self.check(query, options)
        except InvalidInput as exc:
            self._observe(QueryRecord("unknown", "invalid", 0.0, exc.status))
            raise
        session_id = options.session_id or uuid.uuid4().hex
        emitter = _Emitter(on_event)
        self.active += 1
        try:
            await emitter.emit("parsing", 0.0, query=query)
            with tracing.child_span("query.parse") as span:
                context = await self._context(session_id) if options.session_id else None
                intent = parse(query, context)
                if intent.kind is IntentKind.UNKNOWN and self.classifier is not None:
                    intent = await self._classify(query, intent)
                if span is not None:
                    _describe_intent(span, intent)
            intent_kind = intent.kind.value
            with tracing.child_span("query.plan") as span:
                outcome = await self._answer(intent, options, session_id, emitter)
                status = str(outcome.body.get("status") or ("ok" if outcome.ok else "failed"))
                http_status, steps = outcome.status_code, len(outcome.body.get("steps") or ())
                if span is not None:
                    _describe_answer(span, intent, outcome, status)
            if options.remember and intent.kind not in (
                IntentKind.UNKNOWN,
                IntentKind.OUT_OF_SCOPE,
            ):
                await self._remember(session_id, query, intent, outcome)
            if outcome.ok:
                await emitter.emit("result", 1.0, response=outcome.body)
            else:
                await emitter.emit(
                    "error",
                    emitter.progress,
                    error=outcome.body["error"],
                    detail=outcome.body["detail"],
                    status=outcome.status_code,
                    answer=outcome.body.get("answer"),
                    response=outcome.body,
                )
            return outcome
        except asyncio.CancelledError:
            status, http_status = "cancelled", 499
            raise
        finally:
            self.active -= 1
            seconds = time.perf_counter() - started
            self._observe(QueryRecord(intent_kind, status, seconds, http_status, steps))

    def _observe(self, record: QueryRecord) -> None:
        for observer in self.observers:
            try:
                observer(record)
            except Exception:  # telemetry must never fail a query
                log.exception("query observer failed")

    async def _context(self, session_id: str) -> Intent | None:
        history = await self.sessions.history(session_id)
        if not history:
            return None
        last = history[-1]
        try:
            return intent_from_dict(last["intent"], str(last.get("query", "")))
        except (KeyError, TypeError, ValueError):
            log.warning("session %s holds an unreadable exchange; ignoring it", session_id[:8])
            return None

    async def _classify(self, query: str, rules: Intent) -> Intent:
        assert self.classifier is not None
        llm = await self.classifier.classify(query)
        if llm is None or llm.kind is IntentKind.UNKNOWN:
            return rules
        llm.source = "llm"
        return llm

    async def _remember(
        self, session_id: str, query: str, intent: Intent, outcome: QueryOutcome
    ) -> None:
        exchange: Exchange = {
            "query": query,
            "intent": intent_to_dict(intent),
            "answer": outcome.body.get("answer"),
            "status": outcome.body.get("status"),
            "at": time.time(),
        }
        await self.sessions.append(session_id, exchange)

    async def _answer(
        self, intent: Intent, options: QueryOptions, session_id: str, emitter: _Emitter
    ) -> QueryOutcome:
        base = {
            "query": intent.query,
            "session_id": session_id,
            "intent": intent_to_dict(intent, with_entities=False),
            "entities": [entity_to_dict(e) for e in intent.entities],
        }
        if intent.kind in (IntentKind.OUT_OF_SCOPE, IntentKind.UNKNOWN):
            await emitter.emit("planning", _PLANNING, intent=base["intent"], plan=None)
            return _respond(200, base, None, format_rejection(intent), [], None)
        if intent.errors:
            await emitter.emit("planning", _PLANNING, intent=base["intent"], plan=None)
            return _rejected_422(base, format_rejection(intent), "; ".join(intent.errors))
        try:
            plan = make_plan(intent)
            plan.validate(self._known_kinds)
        except PlanError as exc:
            await emitter.emit("planning", _PLANNING, intent=base["intent"], plan=None)
            return _rejected_422(base, format_rejection(intent, str(exc)), str(exc))
        described = plan.describe()
        await emitter.emit("planning", _PLANNING, intent=base["intent"], plan=described)

        async def on_step(event: dict[str, Any]) -> None:
            progress = _PLANNING + _STEPS * float(event.pop("progress"))
            event_type = str(event.pop("type"))
            await emitter.emit(event_type, progress, **event)

        workers = options.max_workers or self.max_workers
        outcomes, metrics = await self.executor.execute(
            plan,
            parallel=options.parallel,
            max_workers=workers,
            deadline=self.deadline,
            on_event=on_step,
        )
        answer = format_answer(intent, plan, outcomes)
        steps = _steps(plan, outcomes)
        body = {**base, "plan": described}
        shown_metrics = metrics.to_dict() if options.verbose else None
        if answer.status != "failed":
            return _respond(200, body, described, answer, steps, shown_metrics)
        cause = _cause(plan, outcomes)
        status = int(cause.get("status", 500))
        failed = _respond(status, body, described, answer, steps, shown_metrics)
        failed.body = {
            "error": cause.get("error", "internal"),
            "detail": cause.get("detail", answer.text),
            **({"suggestions": cause["suggestions"]} if cause.get("suggestions") else {}),
            **failed.body,
        }
        return failed


class _Emitter:
    """Sends events with a progress that never goes down, and a timestamp."""

    def __init__(self, sink: EventSink | None) -> None:
        self._sink = sink
        self.progress = 0.0

    async def emit(self, event_type: str, progress: float, **fields: Any) -> None:
        self.progress = max(self.progress, min(1.0, round(progress, 4)))
        if self._sink is not None:
            await self._sink(
                {"type": event_type, "progress": self.progress, "ts": time.time(), **fields}
            )


def _respond(
    status: int,
    base: dict[str, Any],
    plan: dict[str, Any] | None,
    answer: Answer,
    steps: list[dict[str, Any]],
    metrics: dict[str, Any] | None,
) -> QueryOutcome:
    body = {
        **base,
        "plan": plan,
        "status": answer.status,
        "answer": answer.text,
        "result": answer.result,
        "problems": list(answer.problems),
        "steps": steps,
    }
    if metrics is not None:
        body["metrics"] = metrics
    return QueryOutcome(status, body)


def _describe_intent(span: Span, intent: Intent) -> None:
    """``query.parse``'s attributes: what was asked, by whom read; never the text."""
    span.set_attribute(tracing.INTENT, intent.kind.value)
    span.set_attribute(tracing.INTENT_SOURCE, intent.source)
    span.set_attribute(tracing.ENTITY_COUNT, len(intent.entities))


def _describe_answer(span: Span, intent: Intent, outcome: QueryOutcome, status: str) -> None:
    """``query.plan``'s attributes: the intent, the answer's status, the plan's size."""
    span.set_attribute(tracing.INTENT, intent.kind.value)
    span.set_attribute(tracing.QUERY_STATUS, status)
    plan = outcome.body.get("plan") or {}
    span.set_attribute(tracing.PLAN_NODES, len(plan.get("nodes") or ()))
    span.set_attribute(tracing.PLAN_LAYERS, len(plan.get("layers") or ()))
    if outcome.status_code >= 500:
        tracing.mark_failed(span, str(outcome.body.get("error", "internal")))


def _rejected_422(base: dict[str, Any], answer: Answer, detail: str) -> QueryOutcome:
    outcome = _respond(422, base, None, answer, [], None)
    outcome.body = {"error": "invalid_query", "detail": answer.text or detail, **outcome.body}
    return outcome


def _steps(plan: Plan, outcomes: dict[str, NodeOutcome]) -> list[dict[str, Any]]:
    shown = []
    for node in plan.nodes:
        outcome = outcomes.get(node.id)
        if outcome is None:
            continue
        step: dict[str, Any] = {
            "node": node.id,
            "kind": node.kind,
            "label": node.label,
            "status": outcome.status,
            "seconds": round(outcome.seconds, 6),
            "cache": outcome.cache,
        }
        if outcome.error is not None:
            step["error"] = outcome.error
        shown.append(step)
    return shown


def _cause(plan: Plan, outcomes: dict[str, NodeOutcome]) -> dict[str, Any]:
    """The error that stopped the answer: the first failed node in plan order (a skipped
    node only says that something before it failed)."""
    for node in plan.nodes:
        outcome = outcomes.get(node.id)
        if outcome is not None and outcome.status in ("error", "timeout") and outcome.error:
            return outcome.error
    return {"error": "internal", "detail": "The query failed.", "status": 500}


async def cancel_quietly(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended (its own error, if any, is dropped; a
    cancellation of the caller still propagates)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
