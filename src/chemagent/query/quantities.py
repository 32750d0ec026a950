"""Quantities: property conditions, "top N" and similarity thresholds, with units.

Conditions are read around each property mention: after it ("MW < 500 Da", "LogP under
5", "TPSA between 60 and 90", "MW of 300 or less") or before it ("fewer than 5 H-bond
donors", "at least 2 aromatic rings", "no Lipinski violations"). What is left of the
numbers can be a "top N" or a similarity threshold ("> 0.8", "at least 85%", "between 0.7
and 0.9", "Tanimoto above 0.5"). Percentages become fractions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chemagent.query.entities import Extraction
from chemagent.query.model import Condition, Entity, EntityKind
from chemagent.query.vocabulary import (
    COMPARATOR_RE,
    COMPARATORS,
    NUMBER_WORDS,
    TRAILING_COMPARATORS,
    UNITS,
    row_index,
)

_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
_PCT = r"\s*(?P<{0}>%|percent)?"
_UNIT = r"(?:\s*(?P<unit>" + "|".join(f"(?:{u})" for u, _ in UNITS) + r"))?(?![\w-])"
_OPS = "|".join(f"(?:{pattern})" for pattern, _ in COMPARATORS)
_TRAIL = "|".join(f"(?P<t{i}>{p})" for i, (p, _) in enumerate(TRAILING_COMPARATORS))
# One leading \s* per filler word (none after it): no two ways to split the blanks.
_FILLER = r"(?:\s*(?:is|are|of|be|values?|should\s+be|must\s+be|to\s+be|:|-)(?![a-z]))*"

_AFTER_RANGE_RE = re.compile(
    rf"{_FILLER}\s*(?:between|from|in\s+the\s+range(?:\s+of)?)\s+(?P<lo>{_NUM}){_PCT.format('p1')}"
    rf"\s*(?:and|to|-)\s*(?P<hi>{_NUM}){_PCT.format('p2')}{_UNIT}",
    re.IGNORECASE,
)
_AFTER_OP_RE = re.compile(
    rf"{_FILLER}\s*(?P<op>{_OPS})(?![a-z])\s*(?P<num>{_NUM}){_PCT.format('p1')}{_UNIT}",
    re.IGNORECASE,
)
_AFTER_TRAIL_RE = re.compile(
    rf"{_FILLER}\s*(?P<num>{_NUM}){_PCT.format('p1')}{_UNIT}\s+(?:{_TRAIL})(?![\w-])",
    re.IGNORECASE,
)
_BEFORE_RANGE_RE = re.compile(
    rf"between\s+(?P<lo>{_NUM})\s*(?:and|to|-)\s*(?P<hi>{_NUM})\s*$", re.IGNORECASE
)
_BEFORE_RE = re.compile(
    rf"(?:(?P<op>{_OPS})(?![a-z])\s*|(?P<with>with|having|has|have|of)\s+)?"
    rf"(?P<num>{_NUM}|no|zero|{'|'.join(NUMBER_WORDS)})"
    rf"(?:\s+(?:{_TRAIL}))?\s*$",
    re.IGNORECASE,
)
_COMPLIANT_RE = re.compile(r"\s*[-\s]?(?:compliant|compliance|pass(?:es|ing)?)(?![\w-])", re.I)
_PASSING_RE = re.compile(
    r"(?:pass(?:es|ing)?|obey(?:s|ing)?|satisf(?:y|ies|ying)|"
    r"meet(?:s|ing)?|follow(?:s|ing)?)\s+(?:the\s+)?$",
    re.I,
)
_UNKNOWN_FIELD_RE = re.compile(
    rf"(?<![\w\x00])(?P<word>[A-Za-z][\w-]*)\s*(?P<op><=|>=|<|>|==|=)\s*{_NUM}", re.IGNORECASE
)
_NUMBER_WORD = "|".join(NUMBER_WORDS)
_TOP_RE = re.compile(
    rf"\btop[-\s]*(?P<a>\d+|{_NUMBER_WORD})\b"
    rf"|\b(?:first|best|limit(?:ed)?(?:\s+to)?|at\s+most|up\s+to)\s+(?P<b>\d+|{_NUMBER_WORD})\b"
    rf"|\b(?P<c>\d+|{_NUMBER_WORD})\s+(?:most\s+similar|closest|nearest|best|most|"
    r"compounds|molecules|drugs|analogs|analogues|hits|results|matches|neighbou?rs|structures"
    r"|similar)\b",
    re.IGNORECASE,
)
_THRESHOLD_RE = re.compile(
    rf"between\s+(?P<lo>{_NUM}){_PCT.format('p1')}\s*(?:and|to|-)\s*(?P<hi>{_NUM})"
    rf"{_PCT.format('p2')}"
    rf"|(?P<op>{_OPS})(?![a-z])\s*(?P<num>{_NUM}){_PCT.format('p3')}"
    rf"|(?:threshold|cut-?off|tanimoto|similarity|score|sim)\s*(?:of|=|:|is|at|to)?\s*"
    rf"(?P<kw>{_NUM}){_PCT.format('p4')}"
    rf"(?:\s*(?:-|\u2013|to)\s*(?P<kwhi>{_NUM}){_PCT.format('p8')}(?![\w.]))?"
    rf"|(?<![\w.])(?P<dlo>{_NUM}){_PCT.format('p6')}\s*(?:-|\u2013|to)\s*(?P<dhi>{_NUM})"
    rf"{_PCT.format('p7')}(?![\w.])"
    rf"|(?<![\w.])(?P<bare>{_NUM})(?P<p5>\s*%|\s*percent)?",
    re.IGNORECASE,
)
_COUNTS_AND_SIZES = (
    "mw_freebase",
    "full_mwt",
    "mw_monoisotopic",
    "psa",
    "hba",
    "hbd",
    "rtb",
    "aromatic_rings",
    "aliphatic_rings",
    "num_rings",
    "heavy_atoms",
    "num_ro5_violations",
)
# Where a property's values live: fractions and counts cannot be negative.
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "qed_weighted": (0.0, 1.0),
    "fraction_csp3": (0.0, 1.0),
} | dict.fromkeys(_COUNTS_AND_SIZES, (0.0, None))
_NON_NUMERIC = frozenset({"full_molformula", "ro3_pass"})


@dataclass(frozen=True)
class Threshold:
    """A similarity bound as written: ``value`` is already a fraction when ``percent``."""

    low: float | None
    high: float | None
    text: str


def _number(text: str) -> float:
    word = text.lower()
    if word in {"no", "zero"}:
        return 0.0
    return float(NUMBER_WORDS[word]) if word in NUMBER_WORDS else float(text)


def _scaled(value: float, percent: str | None, unit: str | None) -> float:
    if percent:
        return value / 100.0
    if unit:
        for pattern, factor in UNITS:
            if re.fullmatch(pattern, unit, re.IGNORECASE):
                return value * factor
    return value


def _op(text: str) -> str:
    m = COMPARATOR_RE.fullmatch(text.strip())
    return COMPARATORS[row_index(m)][1] if m else "=="


def _trailing_op(m: re.Match[str]) -> str | None:
    for i, (_, op) in enumerate(TRAILING_COMPARATORS):
        if m.groupdict().get(f"t{i}"):
            return op
    return None


def _add(ex: Extraction, prop: Entity, op: str, value: float, start: int, end: int) -> None:
    field_name = str(prop.value)
    low, high = _BOUNDS.get(field_name, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        ex.errors.append(
            f"{prop.text} {op} {value:g} is out of range: {prop.text} is {span}; "
            "use a value in that range"
        )
    ex.conditions.append(Condition(field_name, op, value))
    ex.condition_properties.add(prop.start)
    ex.numbers.append(Entity(EntityKind.NUMBER, ex.text[start:end], value, start, end))
    ex.consume(start, end)


def extract_conditions(ex: Extraction) -> None:
    """Read ``field op value`` conditions around each property mention; consume them.

    Args:
        ex: an extraction whose properties are found but not yet consumed.
    """
    for prop in ex.properties:
        if prop.value in _NON_NUMERIC:
            continue
        rest = ex.masked[prop.end :]
        if m := _AFTER_RANGE_RE.match(rest):
            lo = _scaled(float(m["lo"]), m["p1"], m["unit"])
            hi = _scaled(float(m["hi"]), m["p2"], m["unit"])
            lo, hi = min(lo, hi), max(lo, hi)
            _add(ex, prop, ">=", lo, prop.end + m.start("lo"), prop.end + m.end("lo"))
            _add(ex, prop, "<=", hi, prop.end + m.start("hi"), prop.end + m.end())
            continue
        if m := _AFTER_OP_RE.match(rest):
            value = _scaled(float(m["num"]), m["p1"], m["unit"])
            _add(ex, prop, _op(m["op"]), value, prop.end + m.start("op"), prop.end + m.end())
            continue
        if (m := _AFTER_TRAIL_RE.match(rest)) and (op := _trailing_op(m)):
            value = _scaled(float(m["num"]), m["p1"], m["unit"])
            _add(ex, prop, op, value, prop.end + m.start("num"), prop.end + m.end())
            continue
        before = ex.masked[max(0, prop.start - 48) : prop.start]
        offset = prop.start - len(before)
        if m := _BEFORE_RANGE_RE.search(before):
            lo, hi = sorted((float(m["lo"]), float(m["hi"])))
            _add(ex, prop, ">=", lo, offset + m.start(), offset + m.end("lo"))
            _add(ex, prop, "<=", hi, offset + m.start("hi"), offset + m.end())
            continue
        if (m := _BEFORE_RE.search(before)) and (
            m["op"] or m["with"] or m["num"].lower() in {"no", "zero"} or _trailing_op(m)
        ):
            op = _trailing_op(m) or (_op(m["op"]) if m["op"] else "==")
            start = offset + m.start("num") if m["with"] else offset + m.start()
            _add(ex, prop, op, _number(m["num"]), start, offset + m.end())
            continue
        if prop.value == "num_ro5_violations" and (
            _COMPLIANT_RE.match(rest) or _PASSING_RE.search(before)
        ):
            ex.conditions.append(Condition("num_ro5_violations", "==", 0.0))
            ex.condition_properties.add(prop.start)


def extract_unknown_fields(ex: Extraction) -> None:
    """Report ``word op number`` where the word is no property ("foo < 5"); consume it.

    Args:
        ex: the extraction, with known properties already consumed.
    """
    for m in _UNKNOWN_FIELD_RE.finditer(ex.masked):
        word = m["word"]
        if word.lower() not in {"threshold", "tanimoto", "similarity", "score", "sim", "cutoff"}:
            ex.errors.append(
                f"'{word}' is not a property I know; use one such as MW, LogP, TPSA, HBD, "
                "HBA, rotatable bonds, aromatic rings or QED"
            )
            ex.consume(m.start(), m.end())


def extract_top_k(ex: Extraction) -> int | None:
    """Find "top 10", "the 5 most similar", "first 3 hits"; consume it.

    Args:
        ex: the extraction (conditions already consumed).

    Returns:
        The count as written (0 included: the caller reports it), or ``None``.
    """
    m = _TOP_RE.search(ex.masked)
    if m is None:
        return None
    text = m["a"] or m["b"] or m["c"]
    value = int(_number(text))
    start = m.start("a") if m["a"] else m.start("b") if m["b"] else m.start("c")
    ex.numbers.append(Entity(EntityKind.NUMBER, m.group(0), value, m.start(), m.end()))
    ex.consume(start, start + len(text))
    return value


def extract_threshold(ex: Extraction) -> Threshold | None:
    """Find a similarity bound in what is left of the numbers; consume it.

    Args:
        ex: the extraction (conditions and top N already consumed).

    Returns:
        Lower and upper bounds as fractions when written as percentages, or ``None``.
    """
    for m in _THRESHOLD_RE.finditer(ex.masked):
        if m["lo"] is not None:
            lo = _scaled(float(m["lo"]), m["p1"] or m["p2"], None)
            hi = _scaled(float(m["hi"]), m["p2"] or m["p1"], None)
            found = Threshold(min(lo, hi), max(lo, hi), m.group(0))
        elif m["dlo"] is not None:  # "0.7-0.9", "70-90%", "0.7 to 0.9"
            lo = _scaled(float(m["dlo"]), m["p6"] or m["p7"], None)
            hi = _scaled(float(m["dhi"]), m["p7"] or m["p6"], None)
            found = Threshold(min(lo, hi), max(lo, hi), m.group(0))
        elif m["num"] is not None:
            value = _scaled(float(m["num"]), m["p3"], None)
            upper = _op(m["op"]) in {"<", "<="}
            found = Threshold(None if upper else value, value if upper else None, m.group(0))
        elif m["kw"] is not None and m["kwhi"] is not None:  # "similarity 70-90%"
            lo = _scaled(float(m["kw"]), m["p4"] or m["p8"], None)
            hi = _scaled(float(m["kwhi"]), m["p8"] or m["p4"], None)
            found = Threshold(min(lo, hi), max(lo, hi), m.group(0))
        elif m["kw"] is not None:
            found = Threshold(_scaled(float(m["kw"]), m["p4"], None), None, m.group(0))
        elif m["p5"] or "." in m["bare"]:
            found = Threshold(_scaled(float(m["bare"]), m["p5"], None), None, m.group(0))
        else:
            continue
        shown = found.low if found.low is not None else found.high
        ex.numbers.append(Entity(EntityKind.NUMBER, m.group(0), shown, m.start(), m.end()))
        ex.consume(m.start(), m.end())
        return found
    return None


def threshold_errors(threshold: Threshold) -> list[str]:
    """Sentences for bounds outside [0, 1]."""
    errors: list[str] = []
    for value in (threshold.low, threshold.high):
        if value is not None and value > 1:
            errors.append(
                f"threshold {value:g} is above 1; use a value between 0 and 1 "
                "(or a percentage up to 100%)"
            )
        elif value is not None and value < 0:
            errors.append(f"threshold {value:g} is below 0; use a value between 0 and 1")
    return errors
