"""Answers of library searches: similarity, substructure and "does X contain Y"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chemagent.query.answers.outcomes import Formatted, Run
from chemagent.query.answers.records import key_of, who
from chemagent.query.answers.words import capped, joined, number
from chemagent.query.model import EntityKind, Intent


def similar_hits(run: Run) -> tuple[Mapping[str, Any], list[dict[str, Any]], int]:
    """The similarity result, its hits and their total (the step applies any upper
    bound: the planner passes ``threshold_max`` to it)."""
    found = run.first("similarity") or run.first("similar") or {}
    hits = list(found.get("hits", []))
    return found, hits, int(found.get("total", len(hits)))


def _search_node_params(run: Run) -> Mapping[str, Any]:
    node = next(iter(run.nodes("similar", "similarity")), None)
    return node.params if node is not None else {}


def _window(run: Run) -> str:
    """The similarity window in words: ``"Tanimoto ≥ 0.7"``, ``"Tanimoto 0.7 to 0.9"``."""
    threshold = float(_search_node_params(run).get("threshold") or 0.0)
    if run.intent.threshold_max is not None:
        return f"Tanimoto {number(threshold)} to {number(run.intent.threshold_max)}"
    return f"Tanimoto ≥ {number(threshold)}" if threshold > 0 else ""


def similar_scope(run: Run, total: int, found: int | None = None) -> str:
    """``"12 library compounds similar to ibuprofen (CHEMBL521) at Tanimoto ≥ 0.7"``, or
    for "top 10": ``"the 10 library compounds most similar to naproxen (CHEMBL154)"``.

    Args:
        total: how many compounds are within the window.
        found: how many of them the search returned (fewer when it stopped at its limit).
    """
    query = run.query_compound()
    target = who(query) if query else "the query"
    window = _window(run)
    found = total if found is None else found
    if not window:
        return f"the {found:,} library compounds most similar to {target}"
    noun = "compound" if total == 1 else "compounds"
    scope = f"{total:,} library {noun} similar to {target} at {window}"
    return f"{scope} (the {found:,} most similar taken)" if found < total else scope


def answer_similarity(run: Run) -> Formatted:
    found, hits, total = similar_hits(run)
    query = run.query_compound()
    target = who(query) if query else "the query"
    own = key_of(query) if query else None
    others = [h for h in hits if key_of(h) != own]
    if not hits:
        text = f"No library compounds are similar to {target} at {_window(run)}."
    elif not others:
        text = (
            f"Only {target} itself is in the library at {_window(run)}; no other compound "
            "is that similar."
        )
    else:
        items = [f"{who(h)} {h['similarity']:.2f}" for h in others]
        itself = ", itself included" if len(others) < len(hits) else ""
        scope = similar_scope(run, total)
        text = f"{scope[:1].upper()}{scope[1:]}{itself}: {capped(items)}."
    if len(run.intent.compounds) > 1:  # the search takes one query compound
        rest = joined([e.text for e in run.intent.compounds[1:]])
        text += f" Only the first compound was searched; ask again for {rest}."
    result = {
        "query": query,
        "threshold": _search_node_params(run).get("threshold"),
        "threshold_max": run.intent.threshold_max,
        "top_k": run.intent.top_k,
        "total": total,
        "hits": hits,
        "query_smiles": found.get("query_smiles"),
    }
    return text, result, []


def pattern_words(intent: Intent) -> str:
    """``"a sulfonamide (S(=O)(=O)N)"`` for a named group, else the SMARTS."""
    pattern = intent.substructure or ""
    groups = [e for e in intent.entities if e.kind is EntityKind.GROUP and e.value == pattern]
    if groups:
        return f"{groups[0].text} ({pattern})"
    whole = [e for e in intent.entities if e.kind is EntityKind.GROUP]
    if whole and ".".join(str(e.value) for e in whole) == pattern:
        return f"{joined([e.text for e in whole])} ({pattern})"
    return pattern


def group_words(intent: Intent) -> str:
    """``"a carboxylic acid"`` for a named group, else ``"the substructure C(=O)[OH]"``."""
    pattern = intent.substructure or ""
    groups = [e for e in intent.entities if e.kind is EntityKind.GROUP]
    if groups and ".".join(str(e.value) for e in groups) == pattern:
        return joined(
            [f"{'an' if e.text[:1].lower() in 'aeiou' else 'a'} {e.text}" for e in groups]
        )
    return f"the substructure {pattern}"


def _contains_line(checked: Mapping[str, Any], group: str) -> str:
    """ "Yes, aspirin (CHEMBL25) contains a carboxylic acid (1 match)." """
    if checked["contains"]:
        count = int(checked["matches"])
        return f"Yes, {who(checked)} contains {group} ({count} match{'' if count == 1 else 'es'})."
    return f"No, {who(checked)} does not contain {group}."


def _contains(run: Run) -> Formatted:
    """Answer "Does aspirin contain a carboxylic acid?" for each compound asked about."""
    group = group_words(run.intent)
    checks = [run.result(n.id) for n in run.nodes("contains") if run.ok(n.id)]
    text = " ".join(_contains_line(c, group) for c in checks)
    return text, {"substructure": run.intent.substructure, "compounds": checks}, []


def answer_substructure(run: Run) -> Formatted:
    if run.nodes("contains"):
        return _contains(run)
    found = run.result(run.plan.output) or {}
    hits, truncated = list(found.get("hits", [])), bool(found.get("truncated"))
    pattern = pattern_words(run.intent)
    if not hits:
        text = f"No library compounds contain {pattern}."
    else:
        count = f"More than {len(hits)}" if truncated else str(len(hits))
        noun = "compound contains" if len(hits) == 1 and not truncated else "compounds contain"
        first = f"the first {len(hits)}" if truncated else "they are"
        text = f"{count} library {noun} {pattern}; {first}: {capped([who(h) for h in hits])}."
        if truncated:
            text += " Ask for more with 'top N'."
    result = {"substructure": run.intent.substructure, "count": len(hits), "hits": hits}
    return text, {**result, "truncated": truncated}, []
