"""Entity extraction rules: identifiers, SMILES by shape, properties, groups, quantities, names."""

from __future__ import annotations

import pytest

from chemagent.query.entities import (
    Extraction,
    consume_properties,
    extract_groups_and_properties,
    extract_structures,
    structure_kind,
)
from chemagent.query.model import Condition, EntityKind
from chemagent.query.names import extract_names, is_gibberish
from chemagent.query.quantities import (
    extract_conditions,
    extract_threshold,
    extract_top_k,
    extract_unknown_fields,
    threshold_errors,
)
from chemagent.query.vocabulary import list_groups, list_properties


def extracted(text: str) -> Extraction:
    ex = Extraction(text, text)
    extract_structures(ex)
    extract_groups_and_properties(ex)
    extract_conditions(ex)
    consume_properties(ex)
    return ex


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("CCO", EntityKind.SMILES),
        ("c1ccccc1", EntityKind.SMILES),
        ("CC(=O)Oc1ccccc1C(=O)O", EntityKind.SMILES),
        ("CN1CCC[C@H]1c1cccnc1", EntityKind.SMILES),
        ("ClCCl", EntityKind.SMILES),
        ("C1CC(", EntityKind.SMILES),  # broken, still a SMILES: the parse step says why
        ("C[Xx]C=O", EntityKind.SMILES),
        ("[#6]C(=O)[O;H1]", EntityKind.SMARTS),
        ("[N,O]CC", EntityKind.SMARTS),
        ("COX", None),
        ("I", None),
        ("NO", None),
        ("CO", None),
        ("CNS", None),
        ("no", None),
        ("con", None),
        ("sp3", None),
        ("aspirin", None),
        ("0.8", None),
        ("and/or", None),
        ("Tylenol", None),
    ],
)
def test_structure_kind_by_shape(token: str, kind: EntityKind | None) -> None:
    assert structure_kind(token) == kind


def test_identifiers_are_normalised_and_ordered() -> None:
    ex = extracted("compare chembl25, CHEMBL 521 and BSYNRYMUTXBXSQ-UHFFFAOYSA-N with CCO.")
    assert [(e.kind, e.value) for e in ex.structures] == [
        (EntityKind.CHEMBL_ID, "CHEMBL25"),
        (EntityKind.CHEMBL_ID, "CHEMBL521"),
        (EntityKind.INCHIKEY, "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"),
        (EntityKind.SMILES, "CCO"),
    ]
    first = ex.structures[0]
    assert ex.text[first.start : first.end] == "chembl25"


def test_sentence_punctuation_is_not_part_of_a_smiles() -> None:
    ex = extracted("What is c1ccccc1O? Or (CCN), maybe")
    assert [e.value for e in ex.structures] == ["c1ccccc1O", "CCN"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("logP", "alogp"),
        ("ALogP", "alogp"),
        ("lipophilicity", "alogp"),
        ("molecular weight", "mw_freebase"),
        ("MW", "mw_freebase"),
        ("mass", "mw_freebase"),
        ("monoisotopic mass", "mw_monoisotopic"),
        ("TPSA", "psa"),
        ("polar surface area", "psa"),
        ("H-bond donors", "hbd"),
        ("hydrogen bond acceptors", "hba"),
        ("rotatable bonds", "rtb"),
        ("QED", "qed_weighted"),
        ("drug-likeness", "qed_weighted"),
        ("formula", "full_molformula"),
        ("aromatic rings", "aromatic_rings"),
        ("heavy atoms", "heavy_atoms"),
        ("fraction sp3", "fraction_csp3"),
        ("rule of five", "num_ro5_violations"),
        ("Lipinski", "num_ro5_violations"),
        ("rule of three", "ro3_pass"),
    ],
)
def test_property_synonyms(text: str, field: str) -> None:
    ex = extracted(f"the {text} of it")
    assert [p.value for p in ex.properties] == [field]


def test_groups_take_precedence_over_ring_counts() -> None:
    ex = extracted("drugs with a benzene ring and a morpholine ring")
    assert [g.value for g in ex.groups] == ["c1ccccc1", "C1COCCN1"]
    assert ex.properties == []


@pytest.mark.parametrize(
    ("text", "conditions"),
    [
        (
            "MW < 500 AND LogP < 5 AND HBD < 5",
            [("mw_freebase", "<", 500), ("alogp", "<", 5), ("hbd", "<", 5)],
        ),
        ("LogP under 5", [("alogp", "<", 5)]),
        ("TPSA between 90 and 60 Å²", [("psa", ">=", 60), ("psa", "<=", 90)]),
        ("MW of 300 or less", [("mw_freebase", "<=", 300)]),
        ("fewer than 5 H-bond donors", [("hbd", "<", 5)]),
        ("at least 2 aromatic rings", [("aromatic_rings", ">=", 2)]),
        ("with 3 rings", [("num_rings", "==", 3)]),
        ("no Lipinski violations", [("num_ro5_violations", "==", 0)]),
        ("Lipinski compliant", [("num_ro5_violations", "==", 0)]),
        ("QED above 50%", [("qed_weighted", ">", 0.5)]),
        ("mw<=0.3 kDa", [("mw_freebase", "<=", 300)]),
        ("HBD ≤ 5", [("hbd", "<=", 5)]),
    ],
)
def test_conditions(text: str, conditions: list[tuple[str, str, float]]) -> None:
    assert extracted(text).conditions == [Condition(*c) for c in conditions]


def test_out_of_range_condition_is_an_error_sentence() -> None:
    ex = extracted("QED > 1.5")
    assert ex.conditions == [Condition("qed_weighted", ">", 1.5)]
    assert "between 0 and 1" in ex.errors[0]


def test_unknown_property_is_reported() -> None:
    ex = extracted("drugs with foo < 5")
    extract_unknown_fields(ex)
    assert ex.conditions == []
    assert "'foo' is not a property" in ex.errors[0]


@pytest.mark.parametrize(
    ("text", "k"),
    [
        ("top 10", 10),
        ("the 5 most similar", 5),
        ("first 3 hits", 3),
        ("ten closest", 10),
        ("find 20 analogs", 20),
        ("top 0", 0),
        ("similar to aspirin", None),
    ],
)
def test_top_k(text: str, k: int | None) -> None:
    assert extract_top_k(extracted(text)) == k


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("> 0.8", 0.8, None),
        ("at least 85%", 0.85, None),
        ("between 0.7 and 0.9", 0.7, 0.9),
        ("between 90% and 70%", 0.7, 0.9),
        ("Tanimoto above 0.5", 0.5, None),
        ("threshold 0.75", 0.75, None),
        ("similarity of 0.6", 0.6, None),
        ("90% similar", 0.9, None),
        ("below 0.3", None, 0.3),
    ],
)
def test_threshold_phrasings(text: str, low: float | None, high: float | None) -> None:
    found = extract_threshold(extracted(text))
    assert found is not None
    assert (found.low, found.high) == pytest.approx((low, high))


def test_threshold_errors_say_what_to_use() -> None:
    found = extract_threshold(extracted("above 1.5"))
    assert found is not None
    assert threshold_errors(found) == [
        "threshold 1.5 is above 1; use a value between 0 and 1 (or a percentage up to 100%)"
    ]
    negative = extract_threshold(extracted("threshold -0.2"))
    assert negative is not None
    assert "below 0" in threshold_errors(negative)[0]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Tell me about Tylenol", ["Tylenol"]),
        ("LogP of aspirin", ["aspirin"]),
        ("compare caffeine, aspirin and paracetamol", ["caffeine", "aspirin", "paracetamol"]),
        ("what is acetylsalicylic acid?", ["acetylsalicylic acid"]),
        ("valproic acid vs ibuprofen's MW", ["valproic acid", "ibuprofen"]),
        ("what is 5-fluorouracil", ["5-fluorouracil"]),
        ("What targets does aspirin bind to?", ["aspirin"]),
        ("how are you?", []),
    ],
)
def test_names_are_what_is_left_in_a_compound_slot(text: str, names: list[str]) -> None:
    ex = extracted(text)
    extract_names(ex)
    assert [n.value for n in ex.names] == names
    assert all(n.kind is EntityKind.NAME for n in ex.names)


def test_gibberish_is_never_a_name() -> None:
    ex = extracted("asdkjh zzz")
    assert extract_names(ex) == ["asdkjh", "zzz"]
    assert ex.names == []
    assert is_gibberish("qwrtplk")
    assert not is_gibberish("ibuprofen")
    assert not is_gibberish("chlorpromazine")


def test_registries_list_their_entries() -> None:
    assert {"alogp", "mw_freebase", "psa", "hbd", "hba", "rtb", "qed_weighted"} <= set(
        list_properties()
    )
    assert "sulfonamide" in list_groups()
