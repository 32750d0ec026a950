"""The property panel in words: field labels and units, numbers, conditions and lists.

Pure Python: the panel's field names are repeated here rather than imported from
``chemagent.chem.properties``, which imports RDKit (a unit test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chemagent.query.model import Condition

LIST_CAP = 10
"""Most compounds named in a text; the rest are counted ("and 12 more")."""


@dataclass(frozen=True)
class Field:
    label: str  # "ALogP"; for counts the singular noun ("H-bond donor")
    unit: str = ""
    plural: str | None = None  # set for counts: "H-bond donors"


FIELDS: dict[str, Field] = {
    "full_mwt": Field("MW (with salts)", "Da"),
    "full_molformula": Field("formula"),
    "mw_freebase": Field("MW", "Da"),
    "mw_monoisotopic": Field("monoisotopic mass", "Da"),
    "alogp": Field("ALogP"),
    "psa": Field("TPSA", "Å²"),
    "hba": Field("H-bond acceptor", plural="H-bond acceptors"),
    "hbd": Field("H-bond donor", plural="H-bond donors"),
    "hba_lipinski": Field("Lipinski acceptor (N+O)", plural="Lipinski acceptors (N+O)"),
    "hbd_lipinski": Field("Lipinski donor (NH+OH)", plural="Lipinski donors (NH+OH)"),
    "rtb": Field("rotatable bond", plural="rotatable bonds"),
    "aromatic_rings": Field("aromatic ring", plural="aromatic rings"),
    "aliphatic_rings": Field("aliphatic ring", plural="aliphatic rings"),
    "num_rings": Field("ring", plural="rings"),
    "heavy_atoms": Field("heavy atom", plural="heavy atoms"),
    "qed_weighted": Field("QED"),
    "num_ro5_violations": Field("rule-of-five violation", plural="rule-of-five violations"),
    "num_lipinski_ro5_violations": Field(
        "Lipinski (N/O count) rule-of-five violation",
        plural="Lipinski (N/O count) rule-of-five violations",
    ),
    "fraction_csp3": Field("Fsp3"),
    "ro3_pass": Field("rule of three (Ro3)"),
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
    spec = FIELDS.get(field, Field(field))
    if field == "ro3_pass":
        return "a rule-of-three pass" if value == "Y" else "a rule-of-three fail"
    if spec.plural is not None and isinstance(value, int | float):
        noun = spec.label if value == 1 else spec.plural
        return f"{number(value)} {noun}"
    return f"{spec.label} {value_text(field, value)}"


def field_name(field: str) -> str:
    """The field as a noun: ``"ALogP"``, ``"H-bond donors"``."""
    spec = FIELDS.get(field, Field(field))
    return spec.plural or spec.label


_COUNT_OPS = {"<": "fewer than", "<=": "at most", ">": "more than", ">=": "at least"}
_COUNT_OPS |= {"==": "exactly", "!=": "other than"}


def condition_text(condition: Condition) -> str:
    """``Condition("mw_freebase", "<", 300)`` -> ``"MW below 300 Da"``; counts read as
    counts: ``Condition("hbd", "<", 3)`` -> ``"fewer than 3 H-bond donors"``."""
    field, op = condition.field, condition.op
    spec = FIELDS.get(field, Field(field))
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
        spec = FIELDS.get(c.field, Field(c.field))
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


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
