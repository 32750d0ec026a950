"""Every registered step kind through its function, on the bundled library."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from rdkit import Chem

from chemagent.chem.molecule import MoleculeLimits
from chemagent.errors import CompoundNotFound, InvalidInput, InvalidMolecule
from chemagent.library.library import NUMERIC_PROPERTY_FIELDS, Library
from chemagent.steps import get_kind, list_step_kinds
from chemagent.steps.context import StepContext
from chemagent.steps.filter import parse_conditions
from tests.unit.builders import memory_library

OFFLINE_HINT = "not in the bundled library of 2,628 approved drugs; set CHEMAGENT_CHEMBL_URL"
IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
IBUPROFEN_SODIUM = "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"
SULFONAMIDE = "S(=O)(=O)N"


def run(ctx: StepContext, kind: str, text: str, **params: Any) -> Any:
    return get_kind(kind).fn(ctx, text, params)


def ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["chembl_id"] for h in hits]


def test_builtin_kinds_are_registered() -> None:
    names = {k.name for k in list_step_kinds()}
    assert {
        "compound",
        "resolve",
        "parse",
        "properties",
        "similarity",
        "substructure",
        "standardize",
        "depict",
        "filter",
    } <= names


# --- compound ------------------------------------------------------------------------


def test_compound_found(ctx: StepContext) -> None:
    record = run(ctx, "compound", "chembl25")
    assert record["chembl_id"] == "CHEMBL25"
    assert record["pref_name"] == "ASPIRIN"
    assert record["molecule_structures"]["standard_inchi_key"] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    assert record["molecule_properties"]["full_mwt"] == 180.16
    assert record["molecule_properties"]["hbd"] == 1
    assert record["first_approval"] == 1950


def test_compound_not_found_offline_hint(ctx: StepContext) -> None:
    with pytest.raises(CompoundNotFound) as info:
        run(ctx, "compound", "chembl999999999")
    assert "No compound with ID 'CHEMBL999999999'" in info.value.detail
    assert OFFLINE_HINT in info.value.detail
    assert "Did you mean" not in info.value.detail
    assert info.value.suggestions == []
    assert info.value.status == 404


def test_compound_not_found_online_hint(ctx: StepContext) -> None:
    online = dataclasses.replace(ctx, online=True)
    with pytest.raises(CompoundNotFound, match="nor in ChEMBL"):
        run(online, "compound", "CHEMBL999999999")


def test_compound_not_found_in_custom_library() -> None:
    custom = StepContext(library=memory_library(names=["A", "B"]), limits=MoleculeLimits())
    with pytest.raises(CompoundNotFound, match=r"library 'memory' \(2 compounds\)"):
        run(custom, "compound", "CHEMBL1")


def test_compound_did_you_mean_fuzzy(ctx: StepContext) -> None:
    with pytest.raises(CompoundNotFound) as info:
        run(ctx, "compound", "asprin")
    assert info.value.suggestions[0] == "ASPIRIN (CHEMBL25)"
    assert "Did you mean ASPIRIN (CHEMBL25)" in info.value.detail
    # A name in the ID slot points at the compound, not at the ChEMBL upstream.
    assert "'asprin' is not a compound ID" in info.value.detail
    assert "CHEMAGENT_CHEMBL_URL" not in info.value.detail


def test_compound_did_you_mean_exact_name(ctx: StepContext) -> None:
    with pytest.raises(CompoundNotFound) as info:
        run(ctx, "compound", "Tylenol")
    assert info.value.suggestions == ["ACETAMINOPHEN (CHEMBL112)"]


@pytest.mark.parametrize("text", ["", "   ", "X" * 65])
def test_compound_bad_id(ctx: StepContext, text: str) -> None:
    with pytest.raises(InvalidInput, match="1 to 64 characters"):
        run(ctx, "compound", text)


# --- resolve -------------------------------------------------------------------------


def test_resolve_id(ctx: StepContext) -> None:
    result = run(ctx, "resolve", " chembl521 ")
    assert result["kind"] == "id"
    assert ids(result["matches"]) == ["CHEMBL521"]
    assert result["matches"][0]["match"] == "id"
    assert result["suggestions"] == []


def test_resolve_inchikey(ctx: StepContext) -> None:
    result = run(ctx, "resolve", "bsynrymutxbxsq-uhfffaoysa-n")
    assert result["kind"] == "inchikey"
    assert [(m["chembl_id"], m["match"]) for m in result["matches"]] == [("CHEMBL25", "inchikey")]


def test_resolve_parent_inchikey_finds_salt(ctx: StepContext) -> None:
    # Dopamine's own InChIKey: the library has only dopamine hydrochloride.
    result = run(ctx, "resolve", "VYFYYTLLBUKUHU-UHFFFAOYSA-N")
    assert [(m["chembl_id"], m["match"]) for m in result["matches"]] == [
        ("CHEMBL1557", "parent_inchikey")
    ]


def test_resolve_unknown_inchikey(ctx: StepContext) -> None:
    result = run(ctx, "resolve", "AAAAAAAAAAAAAA-BBBBBBBBBB-N")
    assert result["kind"] == "inchikey"
    assert result["matches"] == []


def test_resolve_name_and_synonym(ctx: StepContext) -> None:
    by_name = run(ctx, "resolve", "Ibuprofen")
    assert (by_name["kind"], ids(by_name["matches"])) == ("name", ["CHEMBL521"])
    assert by_name["matches"][0]["match"] == "pref_name"
    by_synonym = run(ctx, "resolve", "paracetamol")
    assert ids(by_synonym["matches"]) == ["CHEMBL112"]
    assert by_synonym["matches"][0]["match"] == "synonym"


def test_resolve_salt_smiles_finds_parent_compound(ctx: StepContext) -> None:
    result = run(ctx, "resolve", IBUPROFEN_SODIUM)
    assert result["kind"] == "smiles"
    assert "CHEMBL521" in ids(result["matches"])
    assert {m["match"] for m in result["matches"]} == {"structure"}
    assert result["molecule"]["parent_inchi_key"] == "HEFNNWSXXWATRW-UHFFFAOYSA-N"
    assert result["molecule"]["parent_smiles"] == IBUPROFEN


def test_resolve_parent_smiles_finds_salt_compound(ctx: StepContext) -> None:
    result = run(ctx, "resolve", "NCCc1ccc(O)c(O)c1")  # dopamine
    assert "CHEMBL1557" in ids(result["matches"])  # DOPAMINE HYDROCHLORIDE


def test_resolve_fuzzy_only_suggests(ctx: StepContext) -> None:
    result = run(ctx, "resolve", "asprin")
    assert result["matches"] == []
    assert result["suggestions"][0]["chembl_id"] == "CHEMBL25"
    assert result["suggestions"][0]["match"] == "fuzzy"
    assert 75 <= result["suggestions"][0]["score"] < 100


def test_resolve_nothing(ctx: StepContext) -> None:
    result = run(ctx, "resolve", "What is the weather today")
    assert result["matches"] == []
    assert result["suggestions"] == []
    assert result["molecule"] is None


def test_resolve_modes(ctx: StepContext) -> None:
    assert run(ctx, "resolve", "CHEMBL0", **{"as": "id"})["matches"] == []
    as_name = run(ctx, "resolve", "CHEMBL25", **{"as": "name"})
    assert ids(as_name["matches"]) == ["CHEMBL25"]  # an ID sent as a name is that compound
    assert run(ctx, "resolve", "aspirin", **{"as": "id"})["matches"] == []
    as_smiles = run(ctx, "resolve", "CC(=O)Oc1ccccc1C(=O)O", **{"as": "smiles"})
    assert (as_smiles["kind"], ids(as_smiles["matches"])) == ("smiles", ["CHEMBL25"])
    with pytest.raises(InvalidInput, match="not an InChIKey"):
        run(ctx, "resolve", "aspirin", **{"as": "inchikey"})
    with pytest.raises(InvalidMolecule):
        run(ctx, "resolve", "C1CC", **{"as": "smiles"})
    assert run(ctx, "resolve", "C1CC")["molecule"] is None  # auto: not a SMILES, no error


@pytest.mark.parametrize("mode", ["fuzzy", "ID", ""])
def test_resolve_bad_as(ctx: StepContext, mode: str) -> None:
    with pytest.raises(InvalidInput, match="'as' must be one of"):
        run(ctx, "resolve", "aspirin", **{"as": mode})


@pytest.mark.parametrize("text", ["", "  ", "C" * 2001])
def test_resolve_bad_query(ctx: StepContext, text: str) -> None:
    with pytest.raises(InvalidInput):
        run(ctx, "resolve", text)


# --- parse, properties ---------------------------------------------------------------


def test_parse(ctx: StepContext) -> None:
    assert run(ctx, "parse", "OC(=O)c1ccccc1OC(C)=O") == {
        "smiles": "CC(=O)Oc1ccccc1C(=O)O",
        "heavy_atoms": 13,
    }
    with pytest.raises(InvalidMolecule, match="The query SMILES"):
        run(ctx, "parse", "C1CC", what="query SMILES")


def test_properties(ctx: StepContext) -> None:
    result = run(ctx, "properties", "CC(N)Cc1ccccc1.O=S(=O)(O)O")
    assert result["molecule_structures"]["parent_smiles"] == "CC(N)Cc1ccccc1"
    props = result["molecule_properties"]
    assert props["full_molformula"] == "C9H15NO4S"
    assert props["mw_freebase"] == 135.21
    with pytest.raises(InvalidMolecule):
        run(ctx, "properties", "CC(C)(C)(C)C")


# --- similarity ----------------------------------------------------------------------


def test_similarity(ctx: StepContext) -> None:
    result = run(ctx, "similarity", IBUPROFEN, threshold=0.3, top_k=5)
    assert result["query_smiles"] == IBUPROFEN
    hits = result["hits"]
    assert len(hits) == 5
    assert hits[0]["similarity"] == 1.0
    assert "CHEMBL521" in [h["chembl_id"] for h in hits if h["similarity"] == 1.0]
    scores = [h["similarity"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= 0.3 for s in scores)


def test_similarity_threshold_and_max_results(ctx: StepContext) -> None:
    everything = run(ctx, "similarity", IBUPROFEN, threshold=0.3)
    assert everything["total"] == len(everything["hits"]) > 3
    capped = run(dataclasses.replace(ctx, max_results=3), "similarity", IBUPROFEN, threshold=0.3)
    assert capped["total"] == everything["total"]
    assert capped["hits"] == everything["hits"][:3]
    high = run(ctx, "similarity", IBUPROFEN, threshold=0.99)
    assert {h["similarity"] for h in high["hits"]} == {1.0}


def test_similarity_rejects_bad_smiles(ctx: StepContext) -> None:
    with pytest.raises(InvalidMolecule, match="query SMILES"):
        run(ctx, "similarity", "C1CC", threshold=0.5)


# --- substructure --------------------------------------------------------------------


def test_substructure_hits_verified_and_truncated(ctx: StepContext, library: Library) -> None:
    pattern = Chem.MolFromSmarts(SULFONAMIDE)
    expected = [
        library.ids[row]
        for row, smi in enumerate(library.parent_smiles)
        if Chem.MolFromSmiles(smi).HasSubstructMatch(pattern)
    ]
    full = run(ctx, "substructure", SULFONAMIDE, limit=1000)
    assert full["truncated"] is False
    assert ids(full["hits"]) == expected
    for hit in full["hits"]:
        row = library.row_of(hit["chembl_id"])
        assert row is not None
        assert Chem.MolFromSmiles(library.parent_smiles[row]).HasSubstructMatch(pattern)
    few = run(ctx, "substructure", SULFONAMIDE, limit=5)
    assert few["truncated"] is True
    assert ids(few["hits"]) == expected[:5]
    exact = run(ctx, "substructure", SULFONAMIDE, limit=len(expected))
    assert exact["truncated"] is False
    assert len(exact["hits"]) == len(expected)


def test_substructure_smiles_format(ctx: StepContext) -> None:
    ctx = dataclasses.replace(ctx, max_results=5000)  # the limit is capped at max_results
    kekule = "C1=CC=CC=C1"
    aromatic = run(ctx, "substructure", "c1ccccc1", limit=5000)
    assert run(ctx, "substructure", kekule, limit=5000)["hits"] == []  # aliphatic SMARTS
    as_smiles = run(ctx, "substructure", kekule, limit=5000, format="smiles")
    assert ids(as_smiles["hits"]) == ids(aromatic["hits"])
    assert len(aromatic["hits"]) > 1000
    capped = run(dataclasses.replace(ctx, max_results=10), "substructure", "c1ccccc1", limit=5000)
    assert len(capped["hits"]) == 10
    assert capped["truncated"]


def test_substructure_rejects_garbage(ctx: StepContext) -> None:
    with pytest.raises(InvalidMolecule, match="neither valid SMARTS nor SMILES"):
        run(ctx, "substructure", "C(C", limit=10)


# --- standardize ---------------------------------------------------------------------


def test_standardize_smiles(ctx: StepContext) -> None:
    result = run(ctx, "standardize", IBUPROFEN_SODIUM)
    assert result["parent_smiles"] == IBUPROFEN
    assert result["salts_removed"] is True
    assert "[Na+]" in result["standardized_smiles"]
    assert Chem.MolFromMolBlock(result["parent_molblock"]).GetNumAtoms() == 15
    # A salt draws only minor warnings (score 2: protons moved for the InChI, ...).
    assert result["max_penalty"] == max(p["score"] for p in result["penalties"]) == 2
    assert result["excluded"] is False
    clean = run(ctx, "standardize", "CC(=O)Oc1ccccc1C(=O)O")
    assert (clean["penalties"], clean["max_penalty"], clean["salts_removed"]) == ([], 0, False)


def test_standardize_reports_penalties(ctx: StepContext) -> None:
    result = run(ctx, "standardize", "CC(C)[CH2]")
    assert result["max_penalty"] == 6
    assert result["penalties"][0]["score"] == 6
    assert "radical" in result["penalties"][0]["message"]


def test_standardize_molblock(ctx: StepContext) -> None:
    block = Chem.MolToMolBlock(Chem.MolFromSmiles(IBUPROFEN_SODIUM))
    result = run(ctx, "standardize", block, format="molblock")
    assert result["parent_smiles"] == IBUPROFEN
    assert result["salts_removed"] is True
    with pytest.raises(InvalidMolecule, match="molblock"):
        run(ctx, "standardize", "not a molblock", format="molblock")


def test_standardize_bad_format(ctx: StepContext) -> None:
    with pytest.raises(InvalidInput, match="format must be"):
        run(ctx, "standardize", "CCO", format="inchi")


# --- depict --------------------------------------------------------------------------


def test_depict_valid_svg(ctx: StepContext) -> None:
    svg = run(ctx, "depict", "CC(=O)Oc1ccccc1C(=O)O", width=400, height=200, title="aspirin")["svg"]
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "400px"
    assert root.get("height") == "200px"
    assert len(root) > 5  # drawn elements, not an empty canvas


def test_depict_default_size_and_bad_smiles(ctx: StepContext) -> None:
    root = ET.fromstring(run(ctx, "depict", "CCO")["svg"])
    assert root.get("width") == "300px"
    with pytest.raises(InvalidMolecule):
        run(ctx, "depict", "C1CC")


# --- filter --------------------------------------------------------------------------


def test_parse_conditions() -> None:
    assert parse_conditions(" mw_freebase < 500 ; alogp>=-1.5;") == [
        ("mw_freebase", "<", 500.0),
        ("alogp", ">=", -1.5),
    ]
    assert parse_conditions("hbd==0") == [("hbd", "==", 0.0)]
    assert parse_conditions("rtb!=3") == [("rtb", "!=", 3.0)]
    assert parse_conditions("psa<=60") == [("psa", "<=", 60.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour<5", "'colour' is not a numeric property"),
        ("full_molformula==5", "not a numeric property"),
        ("alogp=5", "has no operator"),
        ("alogp~5", "has no operator"),
        ("alogp<five", "'five' in 'alogp<five' is not a number"),
        ("alogp<", "is not a number"),
        ("", "No filter condition"),
        (" ; ", "No filter condition"),
    ],
)
def test_parse_conditions_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_conditions(text)


def test_parse_conditions_error_lists_fields() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_conditions("colour<5")
    assert all(name in info.value.detail for name in NUMERIC_PROPERTY_FIELDS)


def test_filter_results_satisfy_conditions(ctx: StepContext, library: Library) -> None:
    result = run(ctx, "filter", "mw_freebase<200;alogp>=2;hbd==0")
    assert result["total"] == len(result["hits"]) > 0
    for hit in result["hits"]:
        row = library.row_of(hit["chembl_id"])
        assert row is not None
        props = library.properties(row)
        assert props is not None
        assert props["mw_freebase"] < 200
        assert props["alogp"] >= 2
        assert props["hbd"] == 0
    # And nothing that satisfies them is missed.
    expected = [
        library.ids[row]
        for row in range(len(library))
        if (p := library.properties(row))
        and p.get("mw_freebase", 1e9) < 200
        and p.get("alogp", -1e9) >= 2
        and p.get("hbd") == 0
    ]
    assert ids(result["hits"]) == expected


def test_filter_limit(ctx: StepContext) -> None:
    result = run(ctx, "filter", "mw_freebase<300", limit=4)
    assert len(result["hits"]) == 4
    assert result["total"] > 4


def test_filter_needs_properties(ctx: StepContext) -> None:
    fast = memory_library(names=["A"])
    fast = dataclasses.replace(
        fast, manifest=dataclasses.replace(fast.manifest, has_properties=False)
    )
    with pytest.raises(InvalidInput, match="built without properties"):
        run(dataclasses.replace(ctx, library=fast), "filter", "alogp<5")


def test_filter_orders_every_match_before_the_limit(ctx: StepContext, library: Library) -> None:
    rows = library.filter_rows([("mw_freebase", "<", 500.0)])
    weights = library.numeric["mw_freebase"]
    lightest = sorted(rows, key=lambda r: (weights[r], r))[:5]
    result = run(ctx, "filter", "mw_freebase<500", order_by="mw_freebase", direction="min", limit=5)
    assert ids(result["hits"]) == [library.ids[r] for r in lightest]
    assert result["total"] == len(rows)  # every match, not the hits shown
    assert (result["order_by"], result["direction"]) == ("mw_freebase", "min")
    heaviest = run(ctx, "filter", "mw_freebase<500", order_by="mw_freebase", limit=3)
    assert ids(heaviest["hits"]) == [
        library.ids[r] for r in sorted(rows, key=lambda r: (-weights[r], r))[:3]
    ]


def test_filter_order_puts_missing_values_last(ctx: StepContext) -> None:
    small = memory_library(
        names=["A", "B", "C", "D"],
        numeric={"alogp": [1.0, 2.0, 3.0, 4.0], "qed_weighted": [0.5, float("nan"), 0.9, 0.5]},
    )
    small_ctx = dataclasses.replace(ctx, library=small, max_results=3)
    result = run(small_ctx, "filter", "alogp>0", order_by="qed_weighted", limit=10)
    assert ids(result["hits"]) == ["T2", "T0", "T3"]  # capped at max_results; ties by row
    assert result["total"] == 4
    lowest = run(small_ctx, "filter", "alogp>0", order_by="qed_weighted", direction="min")
    assert ids(lowest["hits"]) == ["T0", "T3", "T2"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order_by": "colour"}, "Cannot order by 'colour'"),
        ({"order_by": "alogp", "direction": "up"}, "direction must be 'max' or 'min'"),
    ],
)
def test_filter_order_errors(ctx: StepContext, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        run(ctx, "filter", "alogp<5", **params)


# --- contains ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["C(=O)[OH]", "c1ccccc1", "[r5]", "[CH2;r6]", "[$(C=O)][OH]", "C1CNCCN1"]
)
def test_contains_agrees_with_the_library_search(
    ctx: StepContext, library: Library, pattern: str
) -> None:
    everything = dataclasses.replace(ctx, max_results=len(library))  # no cap on the hits
    found = {h["chembl_id"] for h in run(everything, "substructure", pattern)["hits"]}
    for row in range(0, len(library), 37):  # 72 compounds across the library
        summary = json.dumps(library.summary(row))
        checked = run(ctx, "contains", summary, pattern=pattern)
        assert checked["contains"] == (library.ids[row] in found), (library.ids[row], pattern)
        assert (checked["matches"] > 0) == checked["contains"]


def test_contains_reads_a_resolve_result(ctx: StepContext) -> None:
    resolved = json.dumps(run(ctx, "resolve", "aspirin"))
    checked = run(ctx, "contains", resolved, pattern="C(=O)[OH]")
    assert checked == {
        "chembl_id": "CHEMBL25",
        "pref_name": "ASPIRIN",
        "smiles": "CC(=O)Oc1ccccc1C(=O)O",
        "pattern": "C(=O)[OH]",
        "contains": True,
        "matches": 1,
    }
    assert run(ctx, "contains", resolved, pattern="c1ccccc1")["matches"] == 1
    assert run(ctx, "contains", resolved, pattern="C=O")["matches"] == 2
    assert run(ctx, "contains", resolved, pattern="[#7]")["contains"] is False


def test_contains_checks_a_new_structure_by_its_parent(ctx: StepContext) -> None:
    resolved = run(ctx, "resolve", "OC(=O)C1CCCCC1.[Na+].[Cl-]", **{"as": "smiles"})
    assert resolved["matches"] == []
    checked = run(ctx, "contains", json.dumps(resolved), pattern="C(=O)[OH]")
    assert checked["chembl_id"] is None
    assert checked["smiles"] == "O=C(O)C1CCCCC1"
    assert checked["contains"] is True


def test_contains_unknown_compounds(ctx: StepContext) -> None:
    unknown_id = json.dumps(run(ctx, "resolve", "CHEMBL999999999"))
    with pytest.raises(CompoundNotFound) as info:
        run(ctx, "contains", unknown_id, pattern="C=O")
    assert "No compound with ID 'CHEMBL999999999'" in info.value.detail
    assert OFFLINE_HINT in info.value.detail
    typo = json.dumps(run(ctx, "resolve", "asprin"))
    with pytest.raises(CompoundNotFound, match=r"'asprin' is not a known compound\. Did you mean"):
        run(ctx, "contains", typo, pattern="C=O")


@pytest.mark.parametrize(
    ("text", "params", "error", "message"),
    [
        ('{"chembl_id": "CHEMBL25"}', {}, InvalidInput, "which substructure"),
        ("not json", {"pattern": "C=O"}, InvalidInput, "resolve result or a compound"),
        ('{"parent_smiles": "CCO"}', {"pattern": "C(C"}, InvalidMolecule, "SMARTS"),
    ],
)
def test_contains_bad_input(
    ctx: StepContext, text: str, params: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        run(ctx, "contains", text, **params)
