"""Behaviours fixed after the API review: each was a wrong or confusing answer before."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.service.test_errors import assert_error


def test_offset_without_limit_gets_the_last_page(client: TestClient) -> None:
    """An unsent limit shrinks to what max_top_k (1000) leaves after the offset."""
    response = client.post(
        "/v1/similarity", json={"query": "ibuprofen", "threshold": 0.0, "offset": 990}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offset"] == 990
    assert body["limit"] == 10
    assert len(body["results"]) == 10


def test_offset_with_an_explicit_limit_beyond_the_window_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/similarity", json={"query": "ibuprofen", "offset": 990, "limit": 20}
    )
    assert "1010" in assert_error(response, 422, "invalid_input")["detail"]


def test_substructure_smiles_may_hold_wildcards(client: TestClient) -> None:
    """A pattern with * is a valid substructure query; only property panels refuse it."""
    response = client.post("/v1/substructure", json={"smiles": "*c1ccccc1", "limit": 3})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 3


def test_an_r_group_structure_can_be_drawn(client: TestClient) -> None:
    response = client.get("/v1/depict", params={"smiles": "*C(=O)O"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")


def test_wildcards_still_have_no_property_panel(client: TestClient) -> None:
    response = client.post("/v1/properties", json={"smiles": "*C(=O)O"})
    assert "wildcard" in assert_error(response, 422, "invalid_molecule")["detail"]


def test_similarity_smiles_query_obeys_the_length_limit(small_client: TestClient) -> None:
    """max_smiles_length is 50 in the small app: a 51-character SMILES query is refused."""
    smiles = "C" * 51
    response = client_post_similarity(small_client, smiles)
    assert "51 characters" in assert_error(response, 422, "invalid_molecule")["detail"]


def test_similarity_by_library_compound_ignores_input_size_limits(
    small_client: TestClient,
) -> None:
    """max_heavy_atoms is 10 in the small app; ibuprofen (15) still works as a query by
    name, since the limit is for user input, not for library compounds."""
    response = client_post_similarity(small_client, "ibuprofen")
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["chembl_id"] == "CHEMBL521"


def client_post_similarity(client: TestClient, query: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/similarity", json={"query": query, "threshold": 0.5, "limit": 3})


def test_similarity_by_an_unknown_inchikey_names_it(client: TestClient) -> None:
    key = "AAAAAAAAAAAAAA-BBBBBBBBBB-N"
    response = client.post("/v1/similarity", json={"query": key})
    detail = assert_error(response, 404, "compound_not_found")["detail"]
    assert f"No compound with InChIKey '{key}'" in detail


def test_similarity_by_inchikey_of_a_library_compound(client: TestClient) -> None:
    response = client_post_similarity(client, "BSYNRYMUTXBXSQ-UHFFFAOYSA-N")
    assert response.status_code == 200, response.text
    assert response.json()["query_compound"]["chembl_id"] == "CHEMBL25"
