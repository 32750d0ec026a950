"""Reading a plan's outcomes: the answer type, the run and its failed steps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chemagent.query.model import Intent, IntentKind
from chemagent.query.plan import Plan, PlanNode


class OutcomeLike(Protocol):
    """What the formatter reads of a node's outcome (``NodeOutcome`` satisfies it)."""

    @property
    def status(self) -> str: ...  # "ok" | "error" | "skipped" | "timeout"

    @property
    def result(self) -> Any: ...

    @property
    def error(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Answer:
    """The answer to one query.

    Attributes:
        text: readable answer: values with units, compound names and ChEMBL IDs.
        status: ``ok``, ``partial`` (answered, but something could not be done),
            ``failed`` (the question could not be answered) or ``rejected`` (nothing ran).
        result: the structured, JSON-ready result for the intent kind (None unless answered).
        problems: one sentence for each thing that could not be done, without repeats.
    """

    text: str
    status: str
    result: Any
    problems: list[str]


Formatted = tuple[str, Any, list[str]]
"""(text, result, extra problems) from a kind's formatter."""


YES_NO = re.compile(r"^\s*(?:is|are|does|do|has|have|can)\b", re.IGNORECASE)


_STRUCTURE_LIKE = re.compile(r"[()=#\[\]@/\\]")


@dataclass(frozen=True)
class Run:
    """A plan with its outcomes, and helpers to read them."""

    intent: Intent
    plan: Plan
    outcomes: Mapping[str, OutcomeLike]

    def ok(self, node_id: str) -> bool:
        outcome = self.outcomes.get(node_id)
        return outcome is not None and outcome.status == "ok"

    def result(self, node_id: str) -> Any:
        return self.outcomes[node_id].result if self.ok(node_id) else None

    def nodes(self, *kinds: str) -> list[PlanNode]:
        return [node for node in self.plan.nodes if node.kind in kinds]

    def first(self, kind: str) -> Any:
        """The result of the first ok node of ``kind`` (None if there is none)."""
        return next((self.result(n.id) for n in self.nodes(kind) if self.ok(n.id)), None)

    def panels(self) -> list[dict[str, Any]]:
        """The records of every ok ``panel`` node, in plan (= query) order."""
        return [self.result(n.id) for n in self.nodes("panel") if self.ok(n.id)]

    def query_compound(self) -> Mapping[str, Any] | None:
        """The resolved query compound of a search (the first ``resolve`` node's)."""
        resolved = self.first("resolve")
        if not resolved:
            return None
        if resolved["matches"]:
            return dict(resolved["matches"][0])
        molecule = resolved.get("molecule") or {}
        return {"canonical_smiles": molecule.get("smiles")} if molecule else None


def output_nodes(run: Run) -> list[str]:
    """The nodes whose results answer the query: every panel (or ``contains`` check) when
    several compounds are asked about side by side (the plan's ``output`` is only the
    first of them)."""
    for kind in ("panel", "contains"):
        nodes = [n.id for n in run.nodes(kind)]
        if run.plan.output in nodes or (kind == "panel" and nodes and is_check(run)):
            return nodes
    return [run.plan.output]


_ACTIONS = {
    "resolve": "{label}",
    "panel": "get the {label}",
    "similar": "find {label}",
    "substructure": "run the {label}",
    "contains": "{label}",
    "filter": "apply the {label}",
    "panels": "get the {label}",
    "targets": "get the {label}",
}


def node_action(node: PlanNode) -> str:
    """What a node does, as a verb phrase: ``"get the properties of asprin"``."""
    return _ACTIONS.get(node.kind, "{label}").format(label=node.label or node.kind)


def failed_nodes(run: Run) -> list[tuple[PlanNode, str]]:
    """Failed (not skipped) nodes and their error sentences, in plan order."""
    failed = []
    for node in run.plan.nodes:
        outcome = run.outcomes.get(node.id)
        if outcome is not None and outcome.status in ("error", "timeout"):
            error = outcome.error or {}
            detail = str(error.get("detail") or error.get("error") or "failed")
            if detail.startswith("Not run:"):  # its input was never found: say which
                detail = _unresolved(run, node) or detail
            failed.append((node, detail))
    return failed


def _unresolved(run: Run, node: PlanNode) -> str | None:
    """The "not a known compound" sentence when ``node`` failed because the compound it
    reads was not found (a step reading ``matches[0]`` of an empty resolve result)."""
    for dep in node.depends_on:
        dep_node = run.plan.node(dep)
        resolved = run.result(dep)
        if dep_node.kind != "resolve" or not isinstance(resolved, Mapping):
            continue
        if not resolved.get("matches") and not resolved.get("molecule"):
            names = [f"{s['pref_name']} ({s['chembl_id']})" for s in resolved["suggestions"]]
            hint = f" Did you mean {', '.join(names)}?" if names else ""
            return f"'{resolved['query']}' is not a known compound.{hint}"
    return None


def smiles_hint(detail: str) -> str:
    """A structure-looking query that is not a known compound is most likely a SMILES
    that does not parse ("C1CC(" resolves as an unknown name)."""
    quoted = re.match(r"'([^' ]+)' is not a known compound\.$", detail)
    if quoted and _STRUCTURE_LIKE.search(quoted.group(1)):
        return f"{detail} It is not a valid SMILES either: check its brackets and ring digits."
    return detail


def is_check(run: Run) -> bool:
    """A yes/no question about named compounds ("Are aspirin and ibuprofen Lipinski
    compliant?"): answered compound by compound, not as a list of the kept ones."""
    intent = run.intent
    named = bool(run.nodes("panel")) or (
        bool(run.plan.nodes) and run.plan.nodes[0].kind == "panels"
    )
    return (
        intent.kind is IntentKind.WORKFLOW
        and named
        and bool(intent.conditions)
        and not intent.rank_by
        and YES_NO.match(intent.query) is not None
    )
