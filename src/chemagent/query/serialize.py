"""Intents as plain JSON-ready dicts and back: for responses and for session storage.

Sessions cross process boundaries (Redis, shared by every pod), so they hold JSON, never
pickles. ``intent_from_dict(intent_to_dict(i)) == i`` for every intent the parser makes.
"""

from __future__ import annotations

from typing import Any

from chemagent.query.model import Condition, Entity, EntityKind, Intent, IntentKind


def entity_to_dict(entity: Entity) -> dict[str, Any]:
    return {
        "kind": entity.kind.value,
        "text": entity.text,
        "value": entity.value,
        "start": entity.start,
        "end": entity.end,
    }


def entity_from_dict(data: dict[str, Any]) -> Entity:
    return Entity(
        EntityKind(data["kind"]),
        str(data["text"]),
        data["value"],
        int(data.get("start", 0)),
        int(data.get("end", 0)),
    )


def intent_to_dict(intent: Intent, *, with_entities: bool = True) -> dict[str, Any]:
    """The intent as the API shows it (``entities`` may be left out: responses carry them
    once, at the top level)."""
    data: dict[str, Any] = {
        "kind": intent.kind.value,
        "source": intent.source,
        "confidence": intent.confidence,
        "compounds": [entity_to_dict(e) for e in intent.compounds],
        "properties": list(intent.properties),
        "conditions": [{"field": c.field, "op": c.op, "value": c.value} for c in intent.conditions],
        "threshold": intent.threshold,
        "threshold_max": intent.threshold_max,
        "top_k": intent.top_k,
        "direction": intent.direction,
        "rank_by": intent.rank_by,
        "substructure": intent.substructure,
        "steps": [intent_to_dict(step, with_entities=False) for step in intent.steps],
        "errors": list(intent.errors),
    }
    if with_entities:
        data["entities"] = [entity_to_dict(e) for e in intent.entities]
    return data


def intent_from_dict(data: dict[str, Any], query: str = "") -> Intent:
    """Rebuild an intent stored by :func:`intent_to_dict` (workflow steps share ``query``).

    Raises:
        KeyError, ValueError, TypeError: ``data`` is not a stored intent.
    """
    return Intent(
        kind=IntentKind(data["kind"]),
        query=query,
        compounds=[entity_from_dict(e) for e in data.get("compounds", [])],
        properties=[str(p) for p in data.get("properties", [])],
        conditions=[
            Condition(str(c["field"]), str(c["op"]), float(c["value"]))
            for c in data.get("conditions", [])
        ],
        threshold=data.get("threshold"),
        top_k=data.get("top_k"),
        direction=data.get("direction"),
        rank_by=data.get("rank_by"),
        substructure=data.get("substructure"),
        steps=[intent_from_dict(step, query) for step in data.get("steps", [])],
        entities=[entity_from_dict(e) for e in data.get("entities", [])],
        errors=[str(e) for e in data.get("errors", [])],
        confidence=float(data.get("confidence", 1.0)),
        threshold_max=data.get("threshold_max"),
        source=str(data.get("source", "rules")),
    )
