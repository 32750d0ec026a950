"""Intent rules: one test per rule of ``chemagent.query.intent`` and ``followup``."""

from __future__ import annotations

import pytest

from chemagent.query.intent import parse
from chemagent.query.model import Condition, EntityKind, IntentKind


def values(query: str) -> list[str]:
    return [str(e.value) for e in parse(query).compounds]


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("What is CHEMBL25?", IntentKind.LOOKUP),
        ("aspirin", IntentKind.LOOKUP),
        ("LogP of aspirin", IntentKind.PROPERTIES),
        ("Calculate properties of aspirin", IntentKind.PROPERTIES),
        ("Which has higher LogP: aspirin or ibuprofen?", IntentKind.COMPARE),
        ("compounds similar to ibuprofen above 0.8", IntentKind.SIMILARITY),
        ("Which drugs contain a sulfonamide?", IntentKind.SUBSTRUCTURE),
        ("MW < 500 AND LogP < 5 AND HBD < 5", IntentKind.FILTER),
        ("properties for CHEMBL25, CHEMBL521 and CHEMBL113", IntentKind.BATCH),
        ("What targets does aspirin bind to?", IntentKind.TARGETS),
        ("What is the weather today?", IntentKind.OUT_OF_SCOPE),
        ("asdkjh qwe zzz", IntentKind.UNKNOWN),
        ("", IntentKind.UNKNOWN),
        ("I like turtles", IntentKind.UNKNOWN),
    ],
)
def test_kinds(query: str, kind: IntentKind) -> None:
    assert parse(query).kind is kind


def test_out_of_scope_and_unknown_never_guess_a_compound() -> None:
    for query in ("What is the weather today?", "asdkjh qwe zzz", "blah blah blah"):
        intent = parse(query)
        assert intent.compounds == []
        assert intent.properties == []


def test_compare_direction_and_property() -> None:
    intent = parse("Which of caffeine, aspirin and paracetamol has the lowest TPSA?")
    assert values(intent.query) == ["caffeine", "aspirin", "paracetamol"]
    assert (intent.properties, intent.direction) == (["psa"], "min")
    heavier = parse("Is ibuprofen heavier than aspirin?")
    assert (heavier.kind, heavier.properties, heavier.direction) == (
        IntentKind.COMPARE,
        ["mw_freebase"],
        "max",
    )


def test_compare_needs_two_compounds() -> None:
    intent = parse("Which has higher LogP: aspirin?")
    assert intent.kind is IntentKind.COMPARE
    assert "at least two compounds" in intent.errors[0]


def test_similarity_parameters_and_query_compound() -> None:
    intent = parse("the 5 most similar drugs to warfarin with Tanimoto between 0.7 and 0.9")
    assert values(intent.query) == ["warfarin"]
    assert (intent.top_k, intent.threshold, intent.threshold_max) == (5, 0.7, 0.9)
    assert values("kinase inhibitors similar to imatinib") == ["imatinib"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("similar to aspirin above 1.5", "threshold 1.5 is above 1; use a value between 0 and 1"),
        ("top 0 compounds similar to aspirin", "top 0 asks for no results"),
        ("find compounds similar to", "which compound?"),
    ],
)
def test_invalid_values_are_explained(query: str, error: str) -> None:
    assert any(error in e for e in parse(query).errors)


def test_substructure_pattern_is_not_a_compound() -> None:
    intent = parse("compounds containing the substructure S(=O)(=O)N")
    assert (intent.substructure, intent.compounds) == ("S(=O)(=O)N", [])
    checked = parse("Does CC(=O)Oc1ccccc1C(=O)O contain c1ccccc1?")
    assert checked.substructure == "c1ccccc1"
    assert values(checked.query) == ["CC(=O)Oc1ccccc1C(=O)O"]
    both = parse("drugs with a carboxylic acid and a benzene ring")
    assert both.substructure == "C(=O)[OH].c1ccccc1"


def test_batch_of_dozens_of_ids() -> None:
    ids = [f"CHEMBL{n}" for n in range(1, 41)]
    intent = parse("properties for " + ", ".join(ids))
    assert intent.kind is IntentKind.BATCH
    assert values(intent.query) == ids


def test_workflow_steps_in_pipeline_order() -> None:
    intent = parse(
        "find compounds similar to ibuprofen, get their properties and keep MW < 300, rank by QED"
    )
    assert intent.kind is IntentKind.WORKFLOW
    assert [s.kind for s in intent.steps] == [
        IntentKind.SIMILARITY,
        IntentKind.PROPERTIES,
        IntentKind.FILTER,
        IntentKind.COMPARE,
    ]
    assert intent.steps[0].compounds[0].value == "ibuprofen"
    assert intent.steps[2].conditions == [Condition("mw_freebase", "<", 300.0)]
    assert (intent.steps[3].rank_by, intent.steps[3].direction) == ("qed_weighted", "max")
    assert (intent.rank_by, intent.conditions) == ("qed_weighted", intent.steps[2].conditions)


def test_filter_ranking_without_conditions() -> None:
    intent = parse("top 10 drugs by lowest molecular weight")
    assert (intent.kind, intent.top_k, intent.rank_by, intent.direction) == (
        IntentKind.FILTER,
        10,
        "mw_freebase",
        "min",
    )


def test_entities_cover_the_query() -> None:
    intent = parse("LogP of CHEMBL25 and CCO")
    kinds = [e.kind for e in intent.entities]
    assert kinds == [EntityKind.PROPERTY, EntityKind.CHEMBL_ID, EntityKind.SMILES]


def test_followup_pronoun_takes_the_previous_compound() -> None:
    intent = parse("what's its logP?", parse("Tell me about warfarin"))
    assert (intent.kind, intent.properties) == (IntentKind.PROPERTIES, ["alogp"])
    assert [e.value for e in intent.compounds] == ["warfarin"]


def test_followup_which_of_them_compares() -> None:
    intent = parse(
        "which of them has more rotatable bonds?", parse("Compare aspirin and ibuprofen")
    )
    assert intent.kind is IntentKind.COMPARE
    assert [e.value for e in intent.compounds] == ["aspirin", "ibuprofen"]
    assert (intent.properties, intent.direction) == (["rtb"], "max")


def test_followup_ellipsis_repeats_the_question() -> None:
    intent = parse("what about theophylline?", parse("similar to caffeine above 0.7"))
    assert intent.kind is IntentKind.SIMILARITY
    assert [e.value for e in intent.compounds] == ["theophylline"]
    assert intent.threshold == 0.7


def test_new_question_ignores_context() -> None:
    context = parse("Tell me about warfarin")
    assert [e.value for e in parse("What is CHEMBL25?", context).compounds] == ["CHEMBL25"]
    library = parse("drugs with MW < 300", context)
    assert (library.kind, library.compounds) == (IntentKind.FILTER, [])


def test_pronoun_without_context_asks_which_compound() -> None:
    intent = parse("what's its logP?")
    assert intent.kind is IntentKind.PROPERTIES
    assert intent.errors
