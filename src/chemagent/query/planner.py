"""Intent -> Plan: the steps that answer a parsed query, as a DAG.

Compounds are resolved first (one ``resolve`` node each, all in the first layer), then
looked up or searched, then combined (``compare``, ``keep``, ``rank``). Independent
branches, such as the compounds of a comparison, share a layer and run concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

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
    _need_compounds(intent, 1)
    (entity, resolve), *_ = _resolve_all(intent.compounds[:1], new_id)
    threshold = (
        intent.threshold
        if intent.threshold is not None
        else (0.0 if intent.top_k else DEFAULT_THRESHOLD)
    )
    search = PlanNode(
        new_id(),
        "similar",
        Ref(resolve.id),
        {"threshold": threshold, "top_k": intent.top_k}
        | ({"threshold_max": intent.threshold_max} if intent.threshold_max is not None else {}),
        label=f"compounds similar to {entity.text}",
    )
    return Plan([resolve, search], search.id)


def _substructure(intent: Intent, new_id: _Ids) -> Plan:
    if not intent.substructure:
        raise PlanError("say which substructure to look for, as SMARTS or a group name")
    node = PlanNode(
        new_id(),
        "substructure",
        intent.substructure,
        {"limit": intent.top_k or DEFAULT_LIMIT},
        label="substructure search",
    )
    return Plan([node], node.id)


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
    # Ranked: filter everything (the step caps at max_results), then rank, then cut.
    node = PlanNode(new_id(), "filter", conditions_text(intent.conditions), label="property filter")
    panels = PlanNode(new_id(), "panels", Ref(node.id, ("hits",)), label="properties of hits")
    ranked = PlanNode(
        new_id(),
        "rank",
        Ref(panels.id),
        {
            "property": intent.rank_by,
            "direction": intent.direction or "max",
            "top_k": intent.top_k or DEFAULT_LIMIT,
        },
        label=f"rank by {intent.rank_by}",
    )
    return Plan([node, panels, ranked], ranked.id)


def _workflow(intent: Intent, new_id: _Ids) -> Plan:
    """search -> panels of the hits -> keep conditions -> rank (each optional but the first).

    The search is the first sub-intent's: similarity (the default), substructure, or a
    batch of named compounds.
    """
    first = intent.steps[0].kind if intent.steps else IntentKind.SIMILARITY
    if first == IntentKind.BATCH:
        _need_compounds(intent, 1)
        ids = [str(entity.value) for entity in intent.compounds]
        panels = PlanNode(new_id(), "panels", ids, label="properties of the compounds")
        nodes = [panels]
    else:
        base = (_substructure if first == IntentKind.SUBSTRUCTURE else _similarity)(intent, new_id)
        nodes = list(base.nodes)
        panels = PlanNode(
            new_id(), "panels", Ref(base.output, ("hits",)), label="properties of hits"
        )
        nodes.append(panels)
    last = panels
    if intent.conditions:
        last = PlanNode(
            new_id(),
            "keep",
            Ref(last.id),
            {"conditions": conditions_text(intent.conditions)},
            label="keep " + conditions_text(intent.conditions),
        )
        nodes.append(last)
    if intent.rank_by:
        last = PlanNode(
            new_id(),
            "rank",
            Ref(last.id),
            {"property": intent.rank_by, "direction": intent.direction or "max"},
            label=f"rank by {intent.rank_by}",
        )
        nodes.append(last)
    return Plan(nodes, last.id)


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
