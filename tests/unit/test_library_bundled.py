"""The bundled ChEMBL approved-drug library: contents, names, similarity, substructure."""

from __future__ import annotations

import pytest
from rdkit import Chem

from chemagent.chem.molecule import require_query
from chemagent.library.library import Library
from chemagent.library.load import BUNDLED_NAME, bundled_path
from chemagent.library.names import NameIndex
from chemagent.steps.context import StepContext
from tests.unit.builders import memory_library

SULFONAMIDE = "[#16X4](=[OX1])(=[OX1])[#7]"


def test_bundled_library_contents(library: Library) -> None:
    assert len(library) == 2628
    assert library.manifest.count == 2628
    assert library.manifest.name == BUNDLED_NAME
    assert library.path == bundled_path()
    assert library.has_properties
    for chembl_id, name in [
        ("CHEMBL25", "ASPIRIN"),
        ("CHEMBL521", "IBUPROFEN"),
        ("CHEMBL112", "ACETAMINOPHEN"),
    ]:
        row = library.row_of(chembl_id)
        assert row is not None, chembl_id
        assert library.names[row] == name
    assert library.row_of(" chembl25 ") == library.row_of("CHEMBL25")
    assert library.row_of("CHEMBL0") is None


def test_bundled_ids_are_unique(library: Library) -> None:
    assert len(set(library.ids)) == len(library.ids)
    assert len(library.by_id) == len(library)


# --- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "chembl_id"),
    [
        ("paracetamol", "CHEMBL112"),
        ("Tylenol", "CHEMBL112"),
        ("acetylsalicylic acid", "CHEMBL25"),
        ("  Acetylsalicylic   ACID ", "CHEMBL25"),
        ("aspirin", "CHEMBL25"),
        ("IBUPROFEN", "CHEMBL521"),
    ],
)
def test_exact_names(ctx: StepContext, library: Library, name: str, chembl_id: str) -> None:
    matches = ctx.names.exact(name)
    assert [library.ids[m.row] for m in matches] == [chembl_id]


def test_synonym_match_is_labelled(ctx: StepContext) -> None:
    (match,) = ctx.names.exact("Tylenol")
    assert match.how == "synonym"
    (match,) = ctx.names.exact("aspirin")
    assert match.how == "pref_name"


def test_pref_name_beats_synonym() -> None:
    lib = memory_library(names=["FOO", "BAR"], synonyms={"foo": 1, "baz": 1})
    index = NameIndex(lib)
    assert [(m.row, m.how) for m in index.exact("Foo")] == [(0, "pref_name")]
    assert [(m.row, m.how) for m in index.exact("BAZ")] == [(1, "synonym")]
    assert [(m.row, m.how) for m in index.exact("bar")] == [(1, "pref_name")]


def test_shared_pref_name_returns_every_compound(ctx: StepContext, library: Library) -> None:
    # Two approved compounds are named CALCIFEDIOL; the synonym table points at one.
    matches = ctx.names.exact("Calcifediol")
    assert {library.ids[m.row] for m in matches} == {"CHEMBL1040", "CHEMBL3544909"}
    assert {m.how for m in matches} == {"pref_name"}


def test_fuzzy_suggests_aspirin_first(ctx: StepContext, library: Library) -> None:
    assert ctx.names.exact("asprin") == []
    suggestions = ctx.names.fuzzy("asprin")
    assert library.ids[suggestions[0].row] == "CHEMBL25"
    assert suggestions[0].how == "fuzzy"
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert len({s.row for s in suggestions}) == len(suggestions)  # one per compound


@pytest.mark.parametrize("text", ["What is the weather today", "", "   ", "zzzzqqqq"])
def test_no_suggestion_for_non_names(ctx: StepContext, text: str) -> None:
    assert ctx.names.fuzzy(text) == []


def test_fuzzy_limit(ctx: StepContext) -> None:
    assert len(ctx.names.fuzzy("cef", limit=2)) <= 2
    assert len(ctx.names.fuzzy("cefalexin", limit=1)) == 1


def test_name_index_over_empty_names(library: Library) -> None:
    index = NameIndex(library)
    assert index.exact("no such drug name") == []


# --- similarity ----------------------------------------------------------------------

IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


def test_ibuprofen_top_hit_is_itself(ctx: StepContext, library: Library) -> None:
    total, hits = ctx.similarity.search(IBUPROFEN, threshold=0.3, top_k=10)
    assert total == len(hits) == 10
    assert hits[0].similarity == 1.0
    identical = {library.ids[h.row] for h in hits if h.similarity == 1.0}
    assert "CHEMBL521" in identical
    # Ties at 1.0 are ibuprofen's salts and stereoisomers: the same parent skeleton.
    skeleton = "HEFNNWSXXWATRW"
    for h in hits:
        if h.similarity == 1.0:
            assert (library.parent_inchikeys[h.row] or "")[:14] == skeleton


def test_similarity_sorted_threshold_and_top_k(ctx: StepContext) -> None:
    total, everything = ctx.similarity.search(IBUPROFEN, threshold=0.3)
    assert total == len(everything)
    scores = [h.similarity for h in everything]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= 0.3 for s in scores)
    assert len(everything) > 10
    _, top = ctx.similarity.search(IBUPROFEN, threshold=0.3, top_k=5)
    assert len(top) == 5
    assert [h.similarity for h in top] == scores[:5]
    _, strict = ctx.similarity.search(IBUPROFEN, threshold=0.45)
    assert 0 < len(strict) < len(everything)
    assert all(h.similarity >= 0.45 for h in strict)


def test_similarity_ties_are_ordered_by_row(ctx: StepContext) -> None:
    _, hits = ctx.similarity.search(IBUPROFEN, threshold=0.3)
    keys = [(-h.similarity, h.row) for h in hits]
    assert keys == sorted(keys)
    tied_rows = [h.row for h in hits if h.similarity == 1.0]
    assert len(tied_rows) >= 2
    for k in range(1, len(tied_rows) + 1):  # the same page for the same request
        _, top = ctx.similarity.search(IBUPROFEN, threshold=0.3, top_k=k)
        assert [h.row for h in top] == tied_rows[:k]


def test_similarity_limit_counts_beyond_window(ctx: StepContext) -> None:
    total, everything = ctx.similarity.search(IBUPROFEN, threshold=0.3)
    counted, window = ctx.similarity.search(IBUPROFEN, threshold=0.3, limit=4)
    assert counted == total > 4
    assert window == everything[:4]


def test_similarity_fingerprint_params(ctx: StepContext) -> None:
    assert ctx.similarity.fp_params == {"radius": 2, "fpSize": 2048}


# --- substructure --------------------------------------------------------------------


def brute_force(library: Library, smarts: str) -> list[int]:
    pattern = Chem.MolFromSmarts(smarts)
    return [
        row
        for row, smiles in enumerate(library.parent_smiles)
        if Chem.MolFromSmiles(smiles).HasSubstructMatch(pattern)
    ]


def test_substructure_hits_are_verified_and_complete(library: Library) -> None:
    index = library.substructure_index()
    assert len(index) == len(library)
    hits = index.search(require_query(SULFONAMIDE), max_results=10_000)
    pattern = Chem.MolFromSmarts(SULFONAMIDE)
    for row in hits:
        assert Chem.MolFromSmiles(library.parent_smiles[row]).HasSubstructMatch(pattern)
    expected = brute_force(library, SULFONAMIDE)
    assert len(expected) > 50  # sulfa drugs, diuretics, sulfonylureas...
    assert hits == expected
    assert index.count(require_query(SULFONAMIDE)) == len(expected)


def test_substructure_max_results_keeps_row_order(library: Library) -> None:
    index = library.substructure_index()
    expected = brute_force(library, SULFONAMIDE)
    assert index.search(require_query(SULFONAMIDE), max_results=7) == expected[:7]


def test_substructure_chirality(library: Library) -> None:
    index = library.substructure_index()
    query = require_query("C[C@@H](N)Cc1ccccc1")  # dextroamphetamine's centre
    plain = index.count(query)
    chiral = index.count(query, use_chirality=True)
    assert 0 < chiral < plain
