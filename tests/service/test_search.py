"""Similarity and substructure search."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from rdkit import Chem

from chemagent.chem.quiet import quiet_rdkit
from tests.service.conftest import app_state
from tests.service.support import IBUPROFEN_SMILES, OFFLINE_HINT, assert_error

# --- POST /v1/similarity -------------------------------------------------------------


def _similar(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/similarity", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("query", ["CHEMBL521", "chembl521", "ibuprofen", IBUPROFEN_SMILES])
def test_similarity_by_id_name_and_smiles(client: TestClient, query: str) -> None:
    body = _similar(client, query=query, threshold=0.4)
    assert body["query"] == query
    assert body["query_smiles"] == IBUPROFEN_SMILES
    assert body["query_compound"]["chembl_id"] == "CHEMBL521"
    # Salt forms of ibuprofen tie at 1.0 with it (the library holds parents); ties are
    # ordered by library row, so the drug comes before its salts.
    identical = [hit["chembl_id"] for hit in body["results"] if hit["similarity"] == 1.0]
    assert identical[0] == "CHEMBL521"
    assert len(identical) > 1


def test_similarity_same_hits_whatever_the_query_form(client: TestClient) -> None:
    forms = ["CHEMBL521", "ibuprofen", IBUPROFEN_SMILES]
    results = [_similar(client, query=q, threshold=0.3)["results"] for q in forms]
    assert results[0] == results[1] == results[2]


def test_similarity_is_sorted_and_respects_the_threshold(client: TestClient) -> None:
    body = _similar(client, query="ibuprofen", threshold=0.25, limit=1000)
    similarities = [hit["similarity"] for hit in body["results"]]
    assert len(similarities) == body["total"] > 10
    assert similarities == sorted(similarities, reverse=True)
    assert all(0.25 <= s <= 1.0 for s in similarities)
    assert body["threshold"] == 0.25


def test_similarity_with_a_salt_query_searches_the_parent(client: TestClient) -> None:
    body = _similar(client, query="CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]", threshold=0.9)
    assert body["query_smiles"] == IBUPROFEN_SMILES
    assert body["results"][0]["chembl_id"] == "CHEMBL521"


def test_similarity_of_a_molecule_outside_the_library(client: TestClient) -> None:
    body = _similar(client, query="CCCCCCCCCCCCCCCCCCCC[Si](C)(C)C", threshold=0.1)
    assert body["query_compound"] is None
    assert body["query_smiles"]


def test_similarity_top_k(client: TestClient) -> None:
    body = _similar(client, query="ibuprofen", threshold=0.1, top_k=4)
    assert body["top_k"] == 4
    assert body["total"] == 4
    assert len(body["results"]) == 4
    unbounded = _similar(client, query="ibuprofen", threshold=0.1, limit=4)
    assert unbounded["total"] > 4
    # Ties are broken by library row in both searches, so top_k is the first page.
    assert body["results"] == unbounded["results"]


def test_similarity_pages_are_consistent(client: TestClient) -> None:
    whole = _similar(client, query="ibuprofen", threshold=0.2, limit=15)
    assert whole["total"] > 15
    pages = [
        _similar(client, query="ibuprofen", threshold=0.2, limit=5, offset=offset)
        for offset in (0, 5, 10)
    ]
    for offset, page in zip((0, 5, 10), pages, strict=True):
        assert page["total"] == whole["total"]
        assert page["limit"] == 5
        assert page["offset"] == offset
        assert len(page["results"]) == 5
    assert [hit for page in pages for hit in page["results"]] == whole["results"]
    past_the_end = _similar(client, query="ibuprofen", threshold=0.2, limit=5, offset=900)
    assert past_the_end["results"] == []
    assert past_the_end["total"] == whole["total"]


def test_similarity_threshold_one_is_identity(client: TestClient) -> None:
    body = _similar(client, query="CHEMBL25", threshold=1.0)
    assert body["total"] >= 1
    assert all(hit["similarity"] == 1.0 for hit in body["results"])


@pytest.mark.parametrize("threshold", [1.5, -0.1, "high"])
def test_similarity_threshold_out_of_range_is_422(client: TestClient, threshold: Any) -> None:
    body = assert_error(
        client.post("/v1/similarity", json={"query": "ibuprofen", "threshold": threshold}),
        422,
        "invalid_input",
    )
    assert "threshold" in body["detail"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"top_k": 1001}, "top_k"),
        ({"limit": 1001}, "limit"),
        ({"limit": 20, "offset": 990}, "offset + limit"),
        ({"top_k": 0}, "top_k"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_similarity_paging_out_of_range_is_422(
    client: TestClient, extra: dict[str, int], field: str
) -> None:
    response = client.post("/v1/similarity", json={"query": "ibuprofen", **extra})
    body = assert_error(response, 422, "invalid_input")
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"top_k": 6}, "top_k is 6"),
        ({"limit": 6}, "limit is 6"),
        ({"limit": 3, "offset": 3}, "offset + limit is 6"),
    ],
)
def test_similarity_limits_follow_max_top_k(
    small_client: TestClient, extra: dict[str, int], field: str
) -> None:
    response = small_client.post("/v1/similarity", json={"query": "ibuprofen", **extra})
    body = assert_error(response, 422, "invalid_input")
    assert field in body["detail"]
    assert "5" in body["detail"]


def test_similarity_defaults_fit_a_small_max_top_k(small_client: TestClient) -> None:
    # The default page size (20) must not turn every request into a 422 when
    # CHEMAGENT_MAX_TOP_K is smaller: an unsent limit is clamped to the maximum.
    # (A small query: the small app's 10-heavy-atom limit applies to library queries too.)
    response = small_client.post("/v1/similarity", json={"query": "CCO", "threshold": 0.0})
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == 5
    assert len(response.json()["results"]) == 5


def test_similarity_unknown_name_is_404_with_did_you_mean(client: TestClient) -> None:
    response = client.post("/v1/similarity", json={"query": "asprin"})
    body = assert_error(response, 404, "compound_not_found")
    assert "Did you mean" in body["detail"]
    assert "ASPIRIN (CHEMBL25)" in body["suggestions"]


@pytest.mark.parametrize("query", ["CHEMBL999999999", "chembl0"])
def test_similarity_unknown_id_is_404(client: TestClient, query: str) -> None:
    body = assert_error(
        client.post("/v1/similarity", json={"query": query}), 404, "compound_not_found"
    )
    assert query.upper() in body["detail"]
    assert OFFLINE_HINT in body["detail"]
    assert "SMILES" not in body["detail"]  # an ID is not blamed for being bad SMILES


@pytest.mark.parametrize(("query", "problem"), [("CC(C", "parentheses"), ("C1CC", "ring")])
def test_similarity_broken_smiles_query_is_422(
    client: TestClient, query: str, problem: str
) -> None:
    body = assert_error(
        client.post("/v1/similarity", json={"query": query}), 422, "invalid_molecule"
    )
    assert query in body["detail"]
    assert problem in body["detail"]


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "   "}, {"query": None}])
def test_similarity_without_a_query_is_422(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/v1/similarity", json=body), 422, "invalid_input")


# --- POST /v1/substructure -----------------------------------------------------------


def _mol(smiles: str) -> Chem.Mol:
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
    assert mol is not None, smiles
    return mol


def _parent_of(client: TestClient, chembl_id: str) -> Chem.Mol:
    """The parent structure the library searches (salts and solvents stripped)."""
    library = app_state(client).library
    row = library.row_of(chembl_id)
    assert row is not None, chembl_id
    return _mol(library.parent_smiles[row])


def _substructure(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/substructure", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("smarts", ["S(=O)(=O)N", "c1ccncc1", "[CX3](=O)[OX2H1]", "[#9]"])
def test_substructure_smarts_hits_contain_the_pattern(client: TestClient, smarts: str) -> None:
    body = _substructure(client, smarts=smarts, limit=1000)
    pattern = Chem.MolFromSmarts(smarts)
    assert body["count"] == len(body["hits"]) > 0
    assert body["truncated"] is False
    missing = [
        hit["chembl_id"]
        for hit in body["hits"]
        if not _parent_of(client, hit["chembl_id"]).HasSubstructMatch(pattern)
    ]
    assert not missing, f"{smarts} does not match {missing[:10]}"


@pytest.mark.parametrize("smiles", ["c1ccccc1C(=O)O", "CC(=O)Nc1ccccc1", "C1CCNCC1"])
def test_substructure_smiles_hits_contain_the_pattern(client: TestClient, smiles: str) -> None:
    body = _substructure(client, smiles=smiles, limit=1000)
    pattern = _mol(smiles)
    assert body["count"] > 0
    assert body["query"] == smiles
    missing = [
        hit["chembl_id"]
        for hit in body["hits"]
        if not _mol(hit["canonical_smiles"]).HasSubstructMatch(pattern)
    ]
    # These patterns are insensitive to salts, so the structure shown contains them too.
    assert not missing, f"{smiles} does not match {missing[:10]}"


def test_substructure_kekule_smiles_is_read_as_smiles(client: TestClient) -> None:
    kekule = _substructure(client, smiles="C1=CC=CC=C1", limit=1000)
    aromatic = _substructure(client, smiles="c1ccccc1", limit=1000)
    assert kekule["count"] == aromatic["count"] > 100


def test_substructure_finds_aspirin(client: TestClient) -> None:
    body = _substructure(client, smiles="CC(=O)Oc1ccccc1C(=O)O", limit=1000)
    assert "CHEMBL25" in [hit["chembl_id"] for hit in body["hits"]]


def test_substructure_limit_and_truncated(client: TestClient) -> None:
    body = _substructure(client, smarts="S(=O)(=O)N", limit=5)
    assert body["limit"] == 5
    assert body["count"] == len(body["hits"]) == 5
    assert body["truncated"] is True
    everything = _substructure(client, smarts="S(=O)(=O)N", limit=1000)
    assert everything["truncated"] is False
    assert everything["hits"][:5] == body["hits"]


def test_substructure_limit_above_max_is_422(client: TestClient, small_client: TestClient) -> None:
    assert_error(
        client.post("/v1/substructure", json={"smarts": "c1ccccc1", "limit": 1001}),
        422,
        "invalid_input",
    )
    body = assert_error(
        small_client.post("/v1/substructure", json={"smarts": "c1ccccc1", "limit": 6}),
        422,
        "invalid_input",
    )
    assert "5" in body["detail"]


def test_substructure_defaults_fit_a_small_max_top_k(small_client: TestClient) -> None:
    response = small_client.post("/v1/substructure", json={"smarts": "c1ccccc1"})
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == 5
    assert response.json()["truncated"] is True


@pytest.mark.parametrize("smarts", ["[C", "C1CC(", "[$(C]"])
def test_substructure_invalid_smarts_is_422(client: TestClient, smarts: str) -> None:
    body = assert_error(
        client.post("/v1/substructure", json={"smarts": smarts}), 422, "invalid_molecule"
    )
    assert smarts in body["detail"]


def test_substructure_overlong_query_is_422(small_client: TestClient) -> None:
    body = assert_error(
        small_client.post("/v1/substructure", json={"smarts": "C" * 51, "limit": 5}),
        422,
        "invalid_molecule",
    )
    assert "50" in body["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"smarts": "c1ccccc1", "smiles": "c1ccccc1"}, {"limit": 5}],
    ids=["neither", "both", "only-limit"],
)
def test_substructure_needs_exactly_one_of_smarts_or_smiles(
    client: TestClient, body: dict[str, Any]
) -> None:
    error = assert_error(client.post("/v1/substructure", json=body), 422, "invalid_input")
    assert "exactly one of 'smarts' or 'smiles'" in error["detail"]


def test_substructure_without_hits(client: TestClient) -> None:
    body = _substructure(client, smarts="[#118]")
    assert body == {"query": "[#118]", "limit": 100, "count": 0, "truncated": False, "hits": []}


def test_substructure_searches_parents(client: TestClient) -> None:
    # A carboxylic acid finds sodium salts too: the library indexes parent structures,
    # while each hit shows the full registered structure.
    body = _substructure(client, smarts="[CX3](=O)[OX2H1]", limit=1000)
    ids = {hit["chembl_id"] for hit in body["hits"]}
    assert {"CHEMBL521", "CHEMBL3989408"} <= ids


def test_not_found_hint_is_offline(client: TestClient) -> None:
    body = assert_error(client.get("/v1/compounds", params={"name": "qqqqzzzzxxxx"}), 404)
    assert OFFLINE_HINT in body["detail"]
