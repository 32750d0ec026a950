"""Answers: a parsed query, its plan and the nodes' outcomes -> readable text + JSON result.

One function per intent kind (``_FORMATTERS``), each returning the text and the
structured result; ``format_answer`` adds the status and the problems. Numbers carry
their units (MW in Da, TPSA in Å², logP and QED unitless, counts as counts), compounds
their names and ChEMBL IDs. Lists in the text stop at ``LIST_CAP`` items ("and N more");
the result holds them all.

Pure Python: the panel's field names are repeated here rather than imported from
``chemagent.chem.properties``, which imports RDKit (a unit test keeps the two in step).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chemagent.query.model import Condition, EntityKind, Intent, IntentKind
from chemagent.query.plan import Plan, PlanNode, Ref

LIST_CAP = 10
"""Most compounds named in a text; the rest are counted ("and 12 more")."""

CAPABILITIES = (
    "ChemAgent answers questions about small molecules in its compound library (the ChEMBL "
    "approved drugs): look up a compound by name, ChEMBL ID, InChIKey or SMILES; compute "
    "and compare properties (MW, logP, TPSA, H-bond donors and acceptors, QED, Lipinski); "
    "find similar compounds or substructures; filter and rank the library by properties; "
    'and chain these into workflows. For example: "What is CHEMBL25?", "Which has '
    'higher LogP: aspirin or ibuprofen?", "Find compounds similar to ibuprofen above '
    '0.5", "Drugs with MW < 300 and LogP < 3 ranked by QED".'
)


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


# --- the property panel in words ------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    label: str  # "ALogP"; for counts the singular noun ("H-bond donor")
    unit: str = ""
    plural: str | None = None  # set for counts: "H-bond donors"


FIELDS: dict[str, _Field] = {
    "full_mwt": _Field("MW (with salts)", "Da"),
    "full_molformula": _Field("formula"),
    "mw_freebase": _Field("MW", "Da"),
    "mw_monoisotopic": _Field("monoisotopic mass", "Da"),
    "alogp": _Field("ALogP"),
    "psa": _Field("TPSA", "Å²"),
    "hba": _Field("H-bond acceptor", plural="H-bond acceptors"),
    "hbd": _Field("H-bond donor", plural="H-bond donors"),
    "hba_lipinski": _Field("Lipinski acceptor (N+O)", plural="Lipinski acceptors (N+O)"),
    "hbd_lipinski": _Field("Lipinski donor (NH+OH)", plural="Lipinski donors (NH+OH)"),
    "rtb": _Field("rotatable bond", plural="rotatable bonds"),
    "aromatic_rings": _Field("aromatic ring", plural="aromatic rings"),
    "aliphatic_rings": _Field("aliphatic ring", plural="aliphatic rings"),
    "num_rings": _Field("ring", plural="rings"),
    "heavy_atoms": _Field("heavy atom", plural="heavy atoms"),
    "qed_weighted": _Field("QED"),
    "num_ro5_violations": _Field("rule-of-five violation", plural="rule-of-five violations"),
    "num_lipinski_ro5_violations": _Field(
        "Lipinski (N/O count) rule-of-five violation",
        plural="Lipinski (N/O count) rule-of-five violations",
    ),
    "fraction_csp3": _Field("Fsp3"),
    "ro3_pass": _Field("rule of three (Ro3)"),
}
"""Panel field -> words and unit (the fields of ``chemagent.chem.properties``)."""

SUMMARY_FIELDS: tuple[str, ...] = (
    "full_molformula",
    "mw_freebase",
    "alogp",
    "psa",
    "hbd",
    "hba",
    "rtb",
    "qed_weighted",
    "num_ro5_violations",
)
"""The key fields of a compound's summary line."""

_OP_WORDS = {"<": "below", "<=": "at most", ">": "above", ">=": "at least"}
_OP_WORDS |= {"==": "equal to", "!=": "not equal to"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_RO5_RULES: tuple[tuple[str, float, str], ...] = (
    ("mw_freebase", 500, "MW > 500 Da"),
    ("alogp", 5, "ALogP > 5"),
    ("hba", 10, "more than 10 H-bond acceptors"),
    ("hbd", 5, "more than 5 H-bond donors"),
)
_YES_NO = re.compile(r"^\s*(?:is|are|does|do|has|have|can)\b", re.IGNORECASE)
_STRUCTURE_LIKE = re.compile(r"[()=#\[\]@/\\]")


def number(value: Any) -> str:
    """``180.16`` -> ``"180.16"``, ``500.0`` -> ``"500"``, ``2`` -> ``"2"`` (no float noise)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def value_text(field: str, value: Any) -> str:
    """A value with its unit: ``"180.16 Da"``, ``"63.6 Å²"``, ``"1.31"``, ``"3"``."""
    if value is None:
        return "n/a"
    unit = FIELDS[field].unit if field in FIELDS else ""
    return f"{number(value)} {unit}".rstrip()


def phrase(field: str, value: Any) -> str:
    """A field and its value in words: ``"ALogP 1.31"``, ``"3 H-bond acceptors"``."""
    spec = FIELDS.get(field, _Field(field))
    if field == "ro3_pass":
        return "a rule-of-three pass" if value == "Y" else "a rule-of-three fail"
    if spec.plural is not None and isinstance(value, int | float):
        noun = spec.label if value == 1 else spec.plural
        return f"{number(value)} {noun}"
    return f"{spec.label} {value_text(field, value)}"


def field_name(field: str) -> str:
    """The field as a noun: ``"ALogP"``, ``"H-bond donors"``."""
    spec = FIELDS.get(field, _Field(field))
    return spec.plural or spec.label


_COUNT_OPS = {"<": "fewer than", "<=": "at most", ">": "more than", ">=": "at least"}
_COUNT_OPS |= {"==": "exactly", "!=": "other than"}


def condition_text(condition: Condition) -> str:
    """``Condition("mw_freebase", "<", 300)`` -> ``"MW below 300 Da"``; counts read as
    counts: ``Condition("hbd", "<", 3)`` -> ``"fewer than 3 H-bond donors"``."""
    field, op = condition.field, condition.op
    spec = FIELDS.get(field, _Field(field))
    if spec.plural is not None:
        return f"{_COUNT_OPS.get(op, op)} {number(condition.value)} {spec.plural}"
    return f"{spec.label} {_OP_WORDS.get(op, op)} {value_text(field, condition.value)}"


def conditions_text(conditions: Sequence[Condition]) -> str:
    """Conditions in words; a range on one measurement reads as one:
    ``MW >= 200 and MW <= 350`` -> ``"MW from 200 to 350 Da"``."""
    parts: list[str] = []
    rest = list(conditions)
    while rest:
        c = rest.pop(0)
        upper = next((u for u in rest if u.field == c.field and u.op == "<="), None)
        spec = FIELDS.get(c.field, _Field(c.field))
        if c.op == ">=" and upper is not None and spec.plural is None:
            rest.remove(upper)
            span = f"{number(c.value)} to {value_text(c.field, upper.value)}"
            parts.append(f"{spec.label} from {span}")
        else:
            parts.append(condition_text(c))
    return joined(parts)


def joined(items: Sequence[str], last: str = "and") -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def capped(items: Sequence[str], cap: int = LIST_CAP, sep: str = ", ") -> str:
    """Items joined, the first ``cap`` only, then ``"and N more"``."""
    shown = sep.join(items[:cap])
    return f"{shown}{sep}and {len(items) - cap} more" if len(items) > cap else shown


# --- records ----------------------------------------------------------------------------


def panel_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """A record's property panel (``molecule_properties``, or the record itself if flat)."""
    panel = record.get("molecule_properties")
    return panel if isinstance(panel, Mapping) else record


def smiles_of(record: Mapping[str, Any]) -> str | None:
    structures = record.get("molecule_structures") or {}
    smiles = structures.get("canonical_smiles") or record.get("canonical_smiles")
    return str(smiles) if smiles else None


def who(record: Mapping[str, Any], start: bool = False) -> str:
    """``"aspirin (CHEMBL25)"``; a structure outside the library is shown by its SMILES.

    Args:
        start: the words begin a sentence (the name is capitalised, never a SMILES).
    """
    name, ident = record.get("pref_name"), record.get("chembl_id")
    if name:
        text = str(name).lower()
        text = text[:1].upper() + text[1:] if start else text
        return f"{text} ({ident})" if ident else text
    return str(ident or smiles_of(record) or "the compound")


def key_of(record: Mapping[str, Any]) -> str:
    return str(record.get("chembl_id") or smiles_of(record))


def compact(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its heavy structure fields: ID, name, SMILES, panel, extras."""
    out = {k: v for k, v in record.items() if k != "molecule_structures"}
    out["canonical_smiles"] = smiles_of(record)
    return out


def hit_text(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """``"ibuprofen (CHEMBL521) QED 0.82, MW 206.28 Da"``."""
    panel = panel_of(record)
    values = [phrase(f, panel[f]) for f in fields if panel.get(f) is not None]
    return f"{who(record)} {', '.join(values)}".rstrip()


# --- reading a plan's outcomes -----------------------------------------------------------


@dataclass(frozen=True)
class _Run:
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


def _outputs(run: _Run) -> list[str]:
    """The nodes whose results answer the query: every panel (or ``contains`` check) when
    several compounds are asked about side by side (the plan's ``output`` is only the
    first of them)."""
    for kind in ("panel", "contains"):
        nodes = [n.id for n in run.nodes(kind)]
        if run.plan.output in nodes or (kind == "panel" and nodes and _is_check(run)):
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


def _action(node: PlanNode) -> str:
    """What a node does, as a verb phrase: ``"get the properties of asprin"``."""
    return _ACTIONS.get(node.kind, "{label}").format(label=node.label or node.kind)


def _failures(run: _Run) -> list[tuple[PlanNode, str]]:
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


def _unresolved(run: _Run, node: PlanNode) -> str | None:
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


def _hint(detail: str) -> str:
    """A structure-looking query that is not a known compound is most likely a SMILES
    that does not parse ("C1CC(" resolves as an unknown name)."""
    quoted = re.match(r"'([^' ]+)' is not a known compound\.$", detail)
    if quoted and _STRUCTURE_LIKE.search(quoted.group(1)):
        return f"{detail} It is not a valid SMILES either: check its brackets and ring digits."
    return detail


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- one formatter per intent kind --------------------------------------------------------

Formatted = tuple[str, Any, list[str]]
"""(text, result, extra problems) from a kind's formatter."""


def _summary(record: Mapping[str, Any]) -> str:
    """The key fields; a salt's MW is its parent's, so the full MW is added when it differs."""
    panel = panel_of(record)
    parts = [phrase(f, panel[f]) for f in SUMMARY_FIELDS if panel.get(f) is not None]
    full, parent = panel.get("full_mwt"), panel.get("mw_freebase")
    if full is not None and parent is not None and abs(float(full) - float(parent)) > 0.01:
        mw = phrase("mw_freebase", parent)
        parts = [
            f"{p} (parent; {value_text('full_mwt', full)} with counterions)" if p == mw else p
            for p in parts
        ]
    return ", ".join(parts)


def _lookup_line(record: Mapping[str, Any], also: Sequence[Mapping[str, Any]]) -> str:
    """ "Aspirin (CHEMBL25) is a small molecule, first approved in 1950: formula ..."."""
    head = who(record, start=True)
    if not record.get("chembl_id"):
        head += " is not in the library; computed"
    else:
        year = record.get("first_approval")
        head += f" is a {str(record.get('molecule_type') or 'compound').lower()}"
        head += f", first approved in {year}" if year else ""
    line = f"{head}: {_summary(record)}."
    if smiles := smiles_of(record):
        line += f" SMILES {smiles}."
    if also:
        line += f" Also matching: {joined([who(r) for r in also])}."
    return line


def _lookup(run: _Run) -> Formatted:
    lines = []
    for node in run.nodes("panel"):
        record = run.result(node.id)
        if record is None:
            continue
        resolved = run.result(node.input.node) if isinstance(node.input, Ref) else None
        also = (resolved or {}).get("matches", [])[1:4]
        lines.append(_lookup_line(record, [m for m in also if key_of(m) != key_of(record)]))
    return " ".join(lines), {"compounds": run.panels()}, []


def _checks(record: Mapping[str, Any], conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    panel = panel_of(record)
    checks = []
    for c in conditions:
        actual = panel.get(c.field)
        passed = actual is not None and _OPS[c.op](float(actual), c.value)
        checks.append(
            {"field": c.field, "op": c.op, "value": c.value, "actual": actual, "passed": passed}
        )
    return checks


def _ro5_reasons(panel: Mapping[str, Any]) -> list[str]:
    return [text for f, limit, text in _RO5_RULES if (panel.get(f) or 0) > limit]


_RO3_FIELDS = ("mw_freebase", "alogp", "hbd", "hba", "rtb", "psa")
_RO5_FIELDS = ("mw_freebase", "alogp", "hba", "hbd")


def _values(panel: Mapping[str, Any], fields: Iterable[str]) -> str:
    return ", ".join(phrase(f, panel.get(f)) for f in fields)


def _ro3_verdict(record: Mapping[str, Any]) -> str:
    """Answer "rule of three for X": ChEMBL's ro3_pass and the values it is made of."""
    panel = panel_of(record)
    passes = panel.get("ro3_pass") == "Y"
    verb = "passes" if passes else "does not pass"
    values = _values(panel, _RO3_FIELDS)
    return f"{'Yes' if passes else 'No'}: {who(record)} {verb} the rule of three ({values})."


def _ro5_verdict(record: Mapping[str, Any], passed: bool) -> str:
    """Answer "Is metformin Lipinski compliant?": yes/no, violations, the four values."""
    panel = panel_of(record)
    violations = panel.get("num_ro5_violations")
    reasons = _ro5_reasons(panel)
    why = f": {joined(reasons)}" if reasons else ""
    verb = "meets" if violations == 0 else "does not meet"
    return (
        f"{'Yes' if passed else 'No'}: {who(record)} {verb} Lipinski's rule of five "
        f"({phrase('num_ro5_violations', violations)}{why}; {_values(panel, _RO5_FIELDS)})."
    )


def _verdict(record: Mapping[str, Any], intent: Intent) -> str:
    """A yes/no line for a question with conditions on one compound."""
    if intent.properties == ["ro3_pass"]:
        return _ro3_verdict(record)
    passed = all(c["passed"] for c in _checks(record, intent.conditions))
    if all(c.field == "num_ro5_violations" for c in intent.conditions):
        return _ro5_verdict(record, passed)
    values = _values(panel_of(record), (c.field for c in intent.conditions))
    wanted = conditions_text(intent.conditions)
    return f"{'Yes' if passed else 'No'}: {who(record)} has {values} (asked: {wanted})."


def _properties_line(record: Mapping[str, Any], intent: Intent) -> str:
    if intent.conditions or intent.properties == ["ro3_pass"]:
        return _verdict(record, intent)
    panel = panel_of(record)
    if not intent.properties:
        return f"{who(record, start=True)}: {_summary(record)}."
    values = [phrase(f, panel.get(f)) for f in intent.properties]
    if intent.properties == ["num_ro5_violations"] and (reasons := _ro5_reasons(panel)):
        values[0] += f" ({joined(reasons)})"
    return f"{who(record, start=True)} has {joined(values)}."


def _properties(run: _Run) -> Formatted:
    records = run.panels()
    intent = run.intent
    lines = [_properties_line(r, intent) for r in records]
    text = " ".join(lines[:LIST_CAP])
    if len(lines) > LIST_CAP:
        text += f" And {len(lines) - LIST_CAP} more compounds (in the result)."
    result: dict[str, Any] = {"properties": list(intent.properties), "compounds": records}
    if intent.conditions:
        result["checks"] = [
            {"chembl_id": r.get("chembl_id"), "checks": _checks(r, intent.conditions)}
            for r in records
        ]
    return text, result, []


def _superlative(field: str, direction: str, n: int) -> str:
    counted = FIELDS.get(field, _Field(field)).plural is not None
    words = {
        (True, "max"): ("more", "the most"),
        (True, "min"): ("fewer", "the fewest"),
        (False, "max"): ("the higher", "the highest"),
        (False, "min"): ("the lower", "the lowest"),
    }[(counted, direction)]
    return f"{words[0] if n == 2 else words[1]} {field_name(field)}"


def _compare_sentence(result: Mapping[str, Any], intent: Intent, first: str | None) -> str:
    field, direction = str(result["property"]), str(result["direction"])
    ranking: list[Mapping[str, Any]] = list(result["ranking"])
    best, rest = ranking[0], ranking[1:]
    if result.get("tie"):
        tied = [r for r in ranking if r["value"] == best["value"]]
        text = (
            f"{joined([who(r) for r in tied])} tie on {field_name(field)}: "
            f"{value_text(field, best['value'])} each"
        )
        others = [r for r in ranking if r["value"] != best["value"]]
        if others:
            text += "; " + ", ".join(f"{who(r)} {value_text(field, r['value'])}" for r in others)
        return text + "."
    yes_no = first is not None and _YES_NO.match(intent.query) is not None
    text = f"{who(best, start=not yes_no)} has {_superlative(field, direction, len(ranking))}: "
    text += value_text(field, best["value"])
    if len(rest) == 1:
        text += f" vs {value_text(field, rest[0]['value'])} for {who(rest[0])}."
    else:
        text += "; then " + ", ".join(f"{who(r)} {value_text(field, r['value'])}" for r in rest)
        text += "."
    if yes_no:  # "Is aspirin more lipophilic than ibuprofen?": about the first compound
        text = f"{'Yes' if key_of(best) == first else 'No'}: {text}"
    return text


def _side_by_side(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    if len(records) == 2:
        a, b = (panel_of(r) for r in records)
        parts = [
            f"{field_name(f)} {value_text(f, a.get(f))} vs {value_text(f, b.get(f))}"
            for f in fields
        ]
        return f"{who(records[0], start=True)} vs {who(records[1])}: {'; '.join(parts)}."
    return " ".join(
        f"{who(r, start=True)}: {', '.join(phrase(f, panel_of(r).get(f)) for f in fields)}."
        for r in records
    )


def _compare(run: _Run) -> Formatted:
    records = run.panels()
    intent = run.intent
    output = run.plan.node(run.plan.output)
    compared = run.result(output.id) if output.kind == "compare" else None
    if not isinstance(compared, Mapping) or "ranking" not in compared:
        fields = intent.properties or [f for f in SUMMARY_FIELDS if f != "full_molformula"]
        return _side_by_side(records, fields), {"compounds": records}, []
    first = key_of(records[0]) if records else None
    text = _compare_sentence(compared, intent, first)
    extra = [f for f in intent.properties if f != compared["property"]]
    if extra and records:
        text += " " + _side_by_side(records, extra)
    return text, {**compared, "compounds": records}, []


def _similar_hits(run: _Run) -> tuple[Mapping[str, Any], list[dict[str, Any]], int]:
    """The similarity result, its hits and their total (the step applies any upper
    bound: the planner passes ``threshold_max`` to it)."""
    found = run.first("similarity") or run.first("similar") or {}
    hits = list(found.get("hits", []))
    return found, hits, int(found.get("total", len(hits)))


def _search_node_params(run: _Run) -> Mapping[str, Any]:
    node = next(iter(run.nodes("similar", "similarity")), None)
    return node.params if node is not None else {}


def _window(run: _Run) -> str:
    """The similarity window in words: ``"Tanimoto ≥ 0.7"``, ``"Tanimoto 0.7 to 0.9"``."""
    threshold = float(_search_node_params(run).get("threshold") or 0.0)
    if run.intent.threshold_max is not None:
        return f"Tanimoto {number(threshold)} to {number(run.intent.threshold_max)}"
    return f"Tanimoto ≥ {number(threshold)}" if threshold > 0 else ""


def _similar_scope(run: _Run, total: int, found: int | None = None) -> str:
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


def _similarity(run: _Run) -> Formatted:
    found, hits, total = _similar_hits(run)
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
        scope = _similar_scope(run, total)
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


def _pattern_words(intent: Intent) -> str:
    """``"a sulfonamide (S(=O)(=O)N)"`` for a named group, else the SMARTS."""
    pattern = intent.substructure or ""
    groups = [e for e in intent.entities if e.kind is EntityKind.GROUP and e.value == pattern]
    if groups:
        return f"{groups[0].text} ({pattern})"
    whole = [e for e in intent.entities if e.kind is EntityKind.GROUP]
    if whole and ".".join(str(e.value) for e in whole) == pattern:
        return f"{joined([e.text for e in whole])} ({pattern})"
    return pattern


def _group_words(intent: Intent) -> str:
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


def _contains(run: _Run) -> Formatted:
    """Answer "Does aspirin contain a carboxylic acid?" for each compound asked about."""
    group = _group_words(run.intent)
    checks = [run.result(n.id) for n in run.nodes("contains") if run.ok(n.id)]
    text = " ".join(_contains_line(c, group) for c in checks)
    return text, {"substructure": run.intent.substructure, "compounds": checks}, []


def _substructure(run: _Run) -> Formatted:
    if run.nodes("contains"):
        return _contains(run)
    found = run.result(run.plan.output) or {}
    hits, truncated = list(found.get("hits", [])), bool(found.get("truncated"))
    pattern = _pattern_words(run.intent)
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


def _ranked_list(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    return capped([hit_text(r, fields) for r in records], sep="; ")


_WORKFLOW_FIELDS = ("mw_freebase", "alogp", "psa", "qed_weighted")
"""Shown next to each compound of a workflow that names no field ("show their properties")."""


def _list_fields(intent: Intent, default: Sequence[str] = ()) -> list[str]:
    """The fields shown next to each listed compound: rank, conditions, asked properties."""
    fields = [intent.rank_by] if intent.rank_by else []
    fields += [c.field for c in intent.conditions] + list(intent.properties)
    return _dedupe(f for f in fields or default if f in FIELDS)


def _filter(run: _Run) -> Formatted:
    intent = run.intent
    found = run.first("filter") or {}
    total = int(found.get("total", 0))
    where = conditions_text(intent.conditions)
    if intent.rank_by:
        return _ranked(run, total, where)
    hits = list(found.get("hits", []))
    result = {**found, "conditions": where}
    if not total:
        return f"No library compounds have {where}.", result, []
    shown = f"; the first {len(hits)}" if len(hits) < total else ""
    text = f"{total:,} library compounds have {where}{shown}: {capped([who(h) for h in hits])}."
    return text, result, []


def _ranked(run: _Run, total: int, where: str) -> Formatted:
    """Answer "Which drug has the highest QED?", "MW < 400 ranked by QED": best first.

    The filter step ranked every match before cutting to the top k; the output (the
    panels of those hits) keeps its order.
    """
    intent = run.intent
    found = run.first("filter") or {}
    records = [compact(r) for r in (run.result(run.plan.output) or {}).get("records", [])]
    field = str(found.get("order_by") or intent.rank_by)
    direction = str(found.get("direction") or intent.direction or "max")
    scope = f"the {total:,} library compounds" + (f" with {where}" if where else "")
    if not records:
        return f"No library compounds have {where}.", {"total": 0, "records": []}, []
    best, rest = records[0], records[1:]
    value = value_text(field, panel_of(best).get(field))
    text = f"{who(best, start=True)} has {_superlative(field, direction, 3)} of {scope}: {value}."
    if rest:
        text += f" Next: {_ranked_list(rest, _list_fields(intent))}."
    if intent.top_k and len(records) < min(intent.top_k, total):
        text += f" (Only the top {len(records):,} are listed: the most one search returns.)"
    result = {
        "total": total,
        "conditions": where,
        "property": field,
        "direction": direction,
        "records": records,
    }
    return text, result, []


def _stage_source(run: _Run) -> str:
    """What the workflow started from: a similarity search, a substructure search or the
    named compounds."""
    if run.nodes("similar"):
        _, hits, total = _similar_hits(run)
        return _similar_scope(run, total, len(hits))
    if run.nodes("substructure"):
        found = run.first("substructure") or {}
        hits = found.get("hits", [])
        pattern = _pattern_words(run.intent)
        if found.get("truncated"):  # the search stopped at its limit: say so
            return f"the first {len(hits)} compounds containing {pattern} (more match)"
        return f"{len(hits)} compounds containing {pattern}"
    found = len((run.first("panels") or {}).get("records", [])) + len(run.panels())
    return f"{found} of {len(run.intent.compounds)} compounds found"


def _workflow(run: _Run) -> Formatted:
    """Answer a pipeline: "12 compounds similar to X, 5 kept with MW below 300 Da, ..."."""
    intent = run.intent
    if _is_check(run):
        return _batch_verdicts(run)
    stages = [_stage_source(run)]
    kept = run.first("keep")
    if kept is not None:
        count = len(kept["records"])
        stages.append(f"{count or 'none'} kept with {conditions_text(intent.conditions)}")
    ranked = run.first("rank")
    if ranked is not None:
        order = "highest" if ranked.get("direction") != "min" else "lowest"
        stages.append(f"ranked by {field_name(ranked['property'])} ({order} first)")
    if run.plan.node(run.plan.output).kind == "panel":  # named compounds, nothing after
        final_records = _batch_records(run)
    else:
        final_records = (run.result(run.plan.output) or {}).get("records", [])
    records = [compact(r) for r in final_records]
    text = ", ".join(stages)
    text = text[:1].upper() + text[1:]
    fields = _list_fields(intent, default=_WORKFLOW_FIELDS)
    text += f": {_ranked_list(records, fields)}." if records else "."
    return text, {"stages": stages, "records": records}, _missing_ids(run)


def _missing_ids(run: _Run) -> list[str]:
    """The problem of a workflow over IDs: those not in the library."""
    missing = (run.first("panels") or {}).get("missing", [])
    if missing and run.plan.nodes and run.plan.nodes[0].kind == "panels":
        return [f"Not found in the library by ID: {joined(missing)}."]
    return []


def _batch_records(run: _Run) -> list[dict[str, Any]]:
    """Every record of the named compounds of a batch workflow, in query order."""
    return list((run.first("panels") or {}).get("records", [])) + run.panels()


def _is_check(run: _Run) -> bool:
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
        and _YES_NO.match(intent.query) is not None
    )


def _batch_verdicts(run: _Run) -> Formatted:
    """One yes/no line per compound found; ``records`` holds those that pass (what the
    ``keep`` step keeps, also when a compound not found stopped it)."""
    records = _batch_records(run)
    checks = [_checks(r, run.intent.conditions) for r in records]
    result = {
        "records": [compact(r) for r, done in zip(records, checks, strict=True) if _passed(done)],
        "checks": [
            {"chembl_id": r.get("chembl_id"), "checks": done}
            for r, done in zip(records, checks, strict=True)
        ],
    }
    text = " ".join(_verdict(r, run.intent) for r in records)
    return text, result, _missing_ids(run)


def _passed(checks: Sequence[Mapping[str, Any]]) -> bool:
    return all(check["passed"] for check in checks)


def _targets(run: _Run) -> Formatted:
    found = run.result(run.plan.output)
    query = run.query_compound()
    if isinstance(found, Mapping):
        items = found.get("targets") or found.get("mechanisms") or []
    else:
        items = found if isinstance(found, list) else []
    names = []
    for item in items:
        name = item.get("pref_name") or item.get("target_name") or item.get("target_chembl_id")
        action = item.get("mechanism_of_action") or item.get("action_type")
        names.append(f"{name} ({action})" if action else str(name))
    target = who(query) if query else "the compound"
    if not names:
        return f"No targets are recorded for {target}.", found, []
    return f"Targets of {target}: {capped(names)}.", found, []


_FORMATTERS: dict[IntentKind, Callable[[_Run], Formatted]] = {
    IntentKind.LOOKUP: _lookup,
    IntentKind.PROPERTIES: _properties,
    IntentKind.BATCH: _properties,
    IntentKind.COMPARE: _compare,
    IntentKind.SIMILARITY: _similarity,
    IntentKind.SUBSTRUCTURE: _substructure,
    IntentKind.FILTER: _filter,
    IntentKind.WORKFLOW: _workflow,
    IntentKind.TARGETS: _targets,
}


# --- the public functions -------------------------------------------------------------------


def _compound_words(intent: Intent) -> str:
    return joined([e.text for e in intent.compounds]) or "the compound"


def _what(intent: Intent) -> str:
    """What the query asked, as a verb phrase for "Could not ..."."""
    names = _compound_words(intent)
    fields = joined([field_name(f) for f in intent.properties])
    phrases = {
        IntentKind.LOOKUP: f"look up {names}",
        IntentKind.PROPERTIES: f"get the {fields or 'properties'} of {names}",
        IntentKind.BATCH: f"get the {fields or 'properties'} of {names}",
        IntentKind.COMPARE: f"compare {names}",
        IntentKind.SIMILARITY: f"search for compounds similar to {names}",
        IntentKind.SUBSTRUCTURE: (
            f"check whether {names} contain{'s' if len(intent.compounds) == 1 else ''} "
            f"{_group_words(intent)}"
            if intent.compounds
            else f"search for {_pattern_words(intent)}"
        ),
        IntentKind.FILTER: "filter the library",
        IntentKind.WORKFLOW: f"run the workflow{' on ' + names if intent.compounds else ''}",
        IntentKind.TARGETS: f"get the targets of {names}",
    }
    return phrases.get(intent.kind, "answer this")


def format_answer(intent: Intent, plan: Plan, outcomes: Mapping[str, OutcomeLike]) -> Answer:
    """Turn the outcomes of ``plan`` into the answer to ``intent``.

    Args:
        intent: the parsed query.
        plan: the plan that ran for it.
        outcomes: node id -> outcome (``NodeOutcome`` or anything with status, result, error).

    Returns:
        The answer: ``failed`` when the output could not be computed (the text says what
        and why, with any "did you mean"), ``partial`` when it could but something else
        failed (the text adds "Could not ...: <why>"), else ``ok``.
    """
    formatter = _FORMATTERS.get(intent.kind)
    if intent.errors or formatter is None:
        return format_rejection(intent)
    run = _Run(intent, plan, outcomes)
    failures = [(node, _hint(detail)) for node, detail in _failures(run)]
    problems = _dedupe(detail for _, detail in failures)
    if not any(run.ok(node_id) for node_id in _outputs(run)):
        why = " ".join(problems) or _output_error(run)
        return Answer(f"Could not {_what(intent)}: {why}", "failed", None, problems or [why])
    text, result, extra = formatter(run)
    problems = _dedupe([*problems, *extra])
    seen: set[str] = set()
    for node, detail in failures:
        if detail not in seen:
            seen.add(detail)
            text += f" Could not {_action(node)}: {detail}"
    text += "".join(f" {p}" for p in extra)
    return Answer(text, "partial" if problems else "ok", result, problems)


def _output_error(run: _Run) -> str:
    outcome = run.outcomes.get(run.plan.output)
    error = (outcome.error if outcome is not None else None) or {}
    return str(error.get("detail") or "it did not run.")


def format_rejection(intent: Intent, reason: str | None = None) -> Answer:
    """The answer to a query that was not run.

    Args:
        intent: the parsed query.
        reason: why it could not be planned (a ``PlanError`` message), if it was tried.

    Returns:
        A ``rejected`` answer: the intent's errors, else a note on what ChemAgent can do
        for out-of-scope and unreadable queries, else ``reason``. Never a guessed compound.
    """
    if intent.errors:
        errors = _dedupe(intent.errors)
        return Answer(f"I can't run this query: {'; '.join(errors)}.", "rejected", None, errors)
    if intent.kind is IntentKind.OUT_OF_SCOPE:
        text = "That is outside what I can help with: I only answer chemistry questions."
        return Answer(f"{text} {CAPABILITIES}", "rejected", None, [])
    if intent.kind is IntentKind.UNKNOWN or reason is None:
        text = "I could not find a question about a compound in that."
        return Answer(f"{text} {CAPABILITIES}", "rejected", None, [])
    return Answer(f"I can't run this query: {reason.rstrip('.')}.", "rejected", None, [reason])
