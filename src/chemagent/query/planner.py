"""Intent -> Plan: the steps that answer a parsed query, as a DAG.

Compounds are resolved first (one ``resolve`` node each, all in the first layer), then
looked up or searched, then combined (``compare``, ``keep``, ``rank``). Independent
branches, such as the compounds of a comparison, share a layer and run concurrently.

Where ``top_k`` applies: to the last ordering of the answer. A ranking ("rank by QED, top
5") is cut after everything was ranked: a ranked library filter sorts every match before
cutting, and a workflow's search is not cut by the plan (it returns up to the search
step's own maximum), so the whole kept set is ranked. A workflow without a ranking has only
the search's order, so its ``top_k`` cuts the search: "find the 5 compounds most similar
to X with MW < 300" reads as the 5 nearest neighbours of X, then those with MW < 300 kept
(the answer says how many were kept; it can be fewer than 5). The other reading, the 5
nearest among all compounds with MW < 300, would need ``keep`` to cut its output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from chemagent.query.model import Condition, Entity, EntityKind, Intent, IntentKind
from chemagent.query.plan import Plan, PlanError, PlanNode, Ref

DEFAULT_THRESHOLD = 0.7
DEFAULT_LIMIT = 20


def conditions_text(conditions: list[Condition]) -> str:
    """``[Condition("mw_freebase", "<", 500)]`` -> ``"mw_freebase<500.0"`` (the filter syntax)."""
    return ";".join(f"{c.field}{c.op}{c.value!r}" for c in conditions)


class _Ids:
    def __init__(self) -> None:
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"n{self._count}"


def _resolve_all(compounds: list[Entity], new_id: _Ids) -> Iterator[tuple[Entity, PlanNode]]:
    for entity in compounds:
        # A structure the parser read as SMILES is resolved as one: a broken SMILES then
        # fails with RDKit's reason (422), not as an unknown name (404).
        params = {"as": "smiles"} if entity.kind is EntityKind.SMILES else {}
        yield (
            entity,
            PlanNode(new_id(), "resolve", str(entity.value), params, label=f"find {entity.text}"),
        )


def plan(intent: Intent) -> Plan:
    """Plan the steps that answer ``intent``.

    Raises:
        PlanError: the intent cannot be executed (out of scope, unknown, has errors, or
            lacks what it needs, such as a compound to compare).
    """
    if intent.errors:
        raise PlanError("; ".join(intent.errors))
    planner = _PLANNERS.get(intent.kind)
    if planner is None:
        raise PlanError(f"nothing to run for a {intent.kind.value} query")
    return planner(intent, _Ids())


def _need_compounds(intent: Intent, at_least: int) -> None:
    if len(intent.compounds) < at_least:
        what = "a compound" if at_least == 1 else f"{at_least} compounds"
        raise PlanError(f"this question needs {what}; name one by ID, name or SMILES")


def _panels(intent: Intent, new_id: _Ids) -> Plan:
    _need_compounds(intent, 1)
    nodes: list[PlanNode] = []
    outputs: list[str] = []
    for entity, resolve in _resolve_all(intent.compounds, new_id):
        nodes.append(resolve)
        panel = PlanNode(new_id(), "panel", Ref(resolve.id), label=f"properties of {entity.text}")
        nodes.append(panel)
        outputs.append(panel.id)
    return Plan(nodes, outputs[0])


def _compare(intent: Intent, new_id: _Ids) -> Plan:
    _need_compounds(intent, 2)
    base = _panels(intent, new_id)
    if not intent.properties:  # "compare aspirin and ibuprofen": their panels side by side
        return base
    panels = [node for node in base.nodes if node.kind == "panel"]
    compare = PlanNode(
        new_id(),
        "compare",
        [Ref(node.id) for node in panels],
        {"property": intent.properties[0], "direction": intent.direction or "max"},
        label=f"compare {intent.properties[0]}",
    )
    return Plan([*base.nodes, compare], compare.id)


def _similarity(intent: Intent, new_id: _Ids) -> Plan:
    return _similarity_search(intent, intent.top_k, new_id)


def _similarity_search(intent: Intent, top_k: int | None, new_id: _Ids) -> Plan:
    """Resolve the query compound, then search; ``top_k`` cuts the search (None: every hit
    up to the step's maximum). Asking for a top k without a threshold means the nearest
    neighbours, however similar (threshold 0), else the default threshold applies."""
    _need_compounds(intent, 1)
    (entity, resolve), *_ = _resolve_all(intent.compounds[:1], new_id)
    threshold = (
        intent.threshold
        if intent.threshold is not None
        else (0.0 if intent.top_k else DEFAULT_THRESHOLD)
    )
    params: dict[str, Any] = {"threshold": threshold}
    if top_k is not None:
        params["top_k"] = top_k
    if intent.threshold_max is not None:
        params["threshold_max"] = intent.threshold_max
    search = PlanNode(
        new_id(), "similar", Ref(resolve.id), params, label=f"compounds similar to {entity.text}"
    )
    return Plan([resolve, search], search.id)


def _substructure(intent: Intent, new_id: _Ids) -> Plan:
    """A library search, or for "Does aspirin contain a carboxylic acid?" (compounds
    named) one ``contains`` check per compound."""
    if not intent.substructure:
        raise PlanError("say which substructure to look for, as SMARTS or a group name")
    if intent.compounds:
        return _contains(intent, intent.substructure, new_id)
    return _substructure_search(intent.substructure, intent.top_k or DEFAULT_LIMIT, new_id)


def _substructure_search(pattern: str, limit: int | None, new_id: _Ids) -> Plan:
    """The library search; ``limit`` None searches up to the step's own maximum."""
    params = {"limit": limit} if limit is not None else {}
    node = PlanNode(new_id(), "substructure", pattern, params, label="substructure search")
    return Plan([node], node.id)


def _contains(intent: Intent, pattern: str, new_id: _Ids) -> Plan:
    nodes: list[PlanNode] = []
    outputs: list[str] = []
    for entity, resolve in _resolve_all(intent.compounds, new_id):
        check = PlanNode(
            new_id(),
            "contains",
            Ref(resolve.id),
            {"pattern": pattern},
            label=f"check {entity.text} for {pattern}",
        )
        nodes += [resolve, check]
        outputs.append(check.id)
    return Plan(nodes, outputs[0])


def _filter(intent: Intent, new_id: _Ids) -> Plan:
    if not intent.conditions and intent.rank_by:
        # "Which drug has the highest QED?": rank the whole library (every compound has
        # at least one heavy atom, so this condition keeps them all).
        intent = replace(intent, conditions=[Condition("heavy_atoms", ">=", 1.0)])
    if not intent.conditions:
        raise PlanError("give at least one condition, e.g. 'MW < 500'")
    if not intent.rank_by:
        node = PlanNode(
            new_id(),
            "filter",
            conditions_text(intent.conditions),
            {"limit": intent.top_k or DEFAULT_LIMIT},
            label="property filter",
        )
        return Plan([node], node.id)
    # Ranked: the filter step sorts every match by the field before it cuts to top_k; the
    # panels of those few hits are what the answer shows.
    node = PlanNode(
        new_id(),
        "filter",
        conditions_text(intent.conditions),
        {
            "order_by": intent.rank_by,
            "direction": intent.direction or "max",
            "limit": intent.top_k or DEFAULT_LIMIT,
        },
        label=f"property filter ranked by {intent.rank_by}",
    )
    panels = PlanNode(new_id(), "panels", Ref(node.id, ("hits",)), label="properties of hits")
    return Plan([node, panels], panels.id)


def _workflow(intent: Intent, new_id: _Ids) -> Plan:
    """search -> panels of the hits -> keep conditions -> rank (each optional but the first).

    The search is the first sub-intent's: similarity (the default), substructure, or a
    batch of named compounds (IDs through one ``panels`` step; names, SMILES and InChIKeys
    resolved one by one, then their ``panel`` results as one list). ``top_k`` cuts the
    ranking when there is one, else the search (see the module docstring).
    """
    source, records = _workflow_source(intent, new_id)
    nodes, last = list(source.nodes), source.output
    if intent.conditions:
        keep = PlanNode(
            new_id(),
            "keep",
            records,
            {"conditions": conditions_text(intent.conditions)},
            label="keep " + conditions_text(intent.conditions),
        )
        nodes.append(keep)
        records, last = Ref(keep.id), keep.id
    if intent.rank_by:
        rank = PlanNode(
            new_id(),
            "rank",
            records,
            {"property": intent.rank_by, "direction": intent.direction or "max"}
            | ({"top_k": intent.top_k} if intent.top_k else {}),
            label=f"rank by {intent.rank_by}",
        )
        nodes.append(rank)
        last = rank.id
    return Plan(nodes, last)


def _workflow_source(intent: Intent, new_id: _Ids) -> tuple[Plan, Ref | list[Ref]]:
    """The records a workflow starts from: the plan giving them, and what reads them."""
    first = intent.steps[0].kind if intent.steps else IntentKind.SIMILARITY
    if first == IntentKind.BATCH:
        return _batch_records(intent, new_id)
    search_top_k = None if intent.rank_by else intent.top_k  # a ranking takes the top_k
    if first == IntentKind.SUBSTRUCTURE:
        if not intent.substructure:
            raise PlanError("say which substructure to look for, as SMARTS or a group name")
        base = _substructure_search(intent.substructure, search_top_k, new_id)
    else:
        base = _similarity_search(intent, search_top_k, new_id)
    panels = PlanNode(new_id(), "panels", Ref(base.output, ("hits",)), label="properties of hits")
    return Plan([*base.nodes, panels], panels.id), Ref(panels.id)


def _batch_records(intent: Intent, new_id: _Ids) -> tuple[Plan, Ref | list[Ref]]:
    """The records of a workflow's named compounds: their plan, and what reads them."""
    _need_compounds(intent, 1)
    if all(entity.kind is EntityKind.CHEMBL_ID for entity in intent.compounds):
        ids = [str(entity.value) for entity in intent.compounds]
        panels = PlanNode(new_id(), "panels", ids, label="properties of the compounds")
        return Plan([panels], panels.id), Ref(panels.id)
    base = _panels(intent, new_id)
    return base, [Ref(node.id) for node in base.nodes if node.kind == "panel"]


def _targets(intent: Intent, new_id: _Ids) -> Plan:
    _need_compounds(intent, 1)
    (entity, resolve), *_ = _resolve_all(intent.compounds[:1], new_id)
    node = PlanNode(
        new_id(),
        "targets",
        Ref(resolve.id, ("matches", 0, "chembl_id")),
        label=f"targets of {entity.text}",
    )
    return Plan([resolve, node], node.id)


_PLANNERS = {
    IntentKind.LOOKUP: _panels,
    IntentKind.PROPERTIES: _panels,
    IntentKind.BATCH: _panels,
    IntentKind.COMPARE: _compare,
    IntentKind.SIMILARITY: _similarity,
    IntentKind.SUBSTRUCTURE: _substructure,
    IntentKind.FILTER: _filter,
    IntentKind.WORKFLOW: _workflow,
    IntentKind.TARGETS: _targets,
}
