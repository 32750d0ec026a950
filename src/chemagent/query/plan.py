"""A plan: a DAG of nodes, each a step to run once its inputs are known.

A node's input and params may hold :class:`Ref` values pointing into the result of an
earlier node; those references are the edges. ``layers()`` groups the nodes into layers
of mutually independent nodes (Kahn's algorithm): every node of a layer can run at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class PlanError(ValueError):
    """A plan that cannot run: an unknown kind, a reference to a missing node, a cycle."""


@dataclass(frozen=True)
class Ref:
    """The value at ``path`` inside the result of node ``node`` (``()`` is the whole result)."""

    node: str
    path: tuple[str | int, ...] = ()

    def resolve(self, results: Mapping[str, Any]) -> Any:
        """Follow the path into ``results[self.node]``; KeyError/IndexError when absent."""
        value = results[self.node]
        for key in self.path:
            value = value[key]
        return value


def _refs(value: Any) -> Iterable[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _refs(item)


def bind(value: Any, results: Mapping[str, Any]) -> Any:
    """``value`` with every Ref replaced by what it points to in ``results``."""
    if isinstance(value, Ref):
        return value.resolve(results)
    if isinstance(value, Mapping):
        return {key: bind(item, results) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [bind(item, results) for item in value]
    return value


@dataclass(frozen=True)
class PlanNode:
    """One node: a step kind (or a binder that chooses one), its input and params.

    Attributes:
        id: unique within the plan ("n1", "n2", ...).
        kind: a registered step kind, or a binder kind known to the executor.
        input: a string, a Ref, or a list/dict holding Refs.
        params: step params; may hold Refs too.
        label: what the node does, for people ("LogP of aspirin").
    """

    id: str
    kind: str
    input: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        """IDs of the nodes this one reads from, in first-use order."""
        seen: dict[str, None] = {}
        for ref in (*_refs(self.input), *_refs(self.params)):
            seen.setdefault(ref.node, None)
        return tuple(seen)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for responses (Refs shown as ``$node.path``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "input": _show(self.input),
            "params": _show(dict(self.params)),
            "depends_on": list(self.depends_on),
        }


def _show(value: Any) -> Any:
    if isinstance(value, Ref):
        return "$" + ".".join([value.node, *map(str, value.path)])
    if isinstance(value, Mapping):
        return {key: _show(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_show(item) for item in value]
    return value


@dataclass
class Plan:
    """Nodes in creation order; ``output`` names the node whose result answers the query."""

    nodes: list[PlanNode]
    output: str

    def node(self, node_id: str) -> PlanNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise PlanError(f"no node {node_id!r} in the plan")

    def validate(self, known_kinds: Iterable[str]) -> None:
        """Raise PlanError unless every kind is known, every ref exists and there is no cycle."""
        known = set(known_kinds)
        ids = [node.id for node in self.nodes]
        if len(set(ids)) != len(ids):
            raise PlanError("node ids are not unique")
        for node in self.nodes:
            if node.kind not in known:
                raise PlanError(f"node {node.id} has unknown kind {node.kind!r}")
            for dep in node.depends_on:
                if dep not in ids:
                    raise PlanError(f"node {node.id} reads from missing node {dep!r}")
        if self.output not in ids:
            raise PlanError(f"the output node {self.output!r} is not in the plan")
        self.layers()

    def layers(self) -> list[list[PlanNode]]:
        """Layers of independent nodes, in dependency order (a node's inputs are in earlier
        layers). Raises PlanError on a cycle."""
        remaining = {node.id: set(node.depends_on) for node in self.nodes}
        by_id = {node.id: node for node in self.nodes}
        layers: list[list[PlanNode]] = []
        done: set[str] = set()
        while remaining:
            ready = [node_id for node_id, deps in remaining.items() if deps <= done]
            if not ready:
                raise PlanError(f"the plan has a cycle among {sorted(remaining)}")
            layers.append([by_id[node_id] for node_id in ready])
            done.update(ready)
            for node_id in ready:
                del remaining[node_id]
        return layers

    def describe(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "nodes": [node.describe() for node in self.nodes],
            "layers": [[node.id for node in layer] for layer in self.layers()],
        }
