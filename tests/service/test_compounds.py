"""Compound lookup, resolution and property panels."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.support import (
    ASPIRIN_SMILES,
    CHEMBL_FIXTURES,
    IBUPROFEN_SODIUM,
    OFFLINE_HINT,
    assert_error,
)

CHEMBL25_FIXTURE = CHEMBL_FIXTURES / "molecule_CHEMBL25_chembl26plus.json"
INTEGER_PROPERTIES = {
    "hba",
    "hbd",
    "hba_lipinski",
    "hbd_lipinski",
    "rtb",
    "aromatic_rings",
    "aliphatic_rings",
    "num_rings",
    "heavy_atoms",
    "num_ro5_violations",
    "num_lipinski_ro5_violations",
}
TEXT_PROPERTIES = {"full_molformula", "ro3_pass"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- GET /v1/compounds/{chembl_id} -------------------------------------------------------


def test_aspirin(client: TestClient) -> None:
    response = client.get("/v1/compounds/CHEMBL25")
    assert response.status_code == 200
    body = response.json()
    assert body["chembl_id"] == "CHEMBL25"
    assert body["pref_name"] == "ASPIRIN"
    structures = body["molecule_structures"]
    assert structures["canonical_smiles"] == ASPIRIN_SMILES
    assert structures["standard_inchi_key"] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    panel = body["molecule_properties"]
    for key, value in panel.items():
        if key in TEXT_PROPERTIES:
            assert isinstance(value, str), key
        else:
            assert _is_number(value), f"{key} is {value!r}, not a JSON number"
    for key in INTEGER_PROPERTIES:
        assert isinstance(panel[key], int), key


def test_aspirin_properties_equal_chembl_recorded_values(client: TestClient) -> None:
    # Must fail, not skip, without the fixture: it is the reference the panel is held to.
    assert CHEMBL25_FIXTURE.is_file(), f"missing ChEMBL fixture {CHEMBL25_FIXTURE}"
    recorded = json.loads(CHEMBL25_FIXTURE.read_text())["molecule_properties"]
    panel = client.get("/v1/compounds/CHEMBL25").json()["molecule_properties"]
    shared = sorted(set(recorded) & set(panel))
    assert len(shared) >= 15, shared
    mismatches = {}
    for key in shared:
        expected, actual = recorded[key], panel[key]
        if key in TEXT_PROPERTIES:
            ok = actual == expected
        else:
            # ChEMBL's JSON carries decimals as strings ("1.31"); ours are numbers.
            ok = _is_number(actual) and float(actual) == float(expected)
        if not ok:
            mismatches[key] = (expected, actual)
    assert not mismatches, f"(ChEMBL, ours): {mismatches}"


def test_compound_id_is_case_insensitive(client: TestClient) -> None:
    lower = client.get("/v1/compounds/chembl25")
    assert lower.status_code == 200
    assert lower.json() == client.get("/v1/compounds/CHEMBL25").json()


def test_unknown_compound_is_404_with_offline_hint(client: TestClient) -> None:
    body = assert_error(client.get("/v1/compounds/CHEMBL999999999"), 404, "compound_not_found")
    assert "CHEMBL999999999" in body["detail"]
    assert OFFLINE_HINT in body["detail"]


def test_name_in_the_id_slot_suggests_the_compound(client: TestClient) -> None:
    body = assert_error(client.get("/v1/compounds/asprin"), 404, "compound_not_found")
    assert "ASPIRIN (CHEMBL25)" in body["suggestions"]
    assert "Did you mean" in body["detail"]
    assert "ASPIRIN (CHEMBL25)" in body["detail"]


def test_overlong_compound_id_is_422(client: TestClient) -> None:
    assert_error(client.get("/v1/compounds/" + "X" * 65), 422, "invalid_input")


# --- GET /v1/compounds?name=|smiles=|inchikey= --------------------------------------------


@pytest.mark.parametrize(
    ("name", "chembl_id"),
    [
        ("paracetamol", "CHEMBL112"),
        ("Tylenol", "CHEMBL112"),
        ("acetylsalicylic acid", "CHEMBL25"),
        ("ASPIRIN", "CHEMBL25"),
        ("ibuprofen", "CHEMBL521"),
    ],
)
def test_resolve_by_name(client: TestClient, name: str, chembl_id: str) -> None:
    response = client.get("/v1/compounds", params={"name": name})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "name"
    results = body["results"]
    assert results[0]["chembl_id"] == chembl_id
    assert results[0]["match"] in {"pref_name", "synonym"}
    assert results[0]["score"] == 100
    # Exact matches first: once a fuzzy suggestion appears, no exact match follows.
    kinds = [r["match"] == "fuzzy" for r in results]
    assert kinds == sorted(kinds)


def test_resolve_an_id_given_as_name(client: TestClient) -> None:
    response = client.get("/v1/compounds", params={"name": "CHEMBL25"})
    assert response.status_code == 200
    assert response.json()["results"][0]["chembl_id"] == "CHEMBL25"


def test_resolve_misspelled_name_is_a_fuzzy_suggestion(client: TestClient) -> None:
    response = client.get("/v1/compounds", params={"name": "asprin"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["chembl_id"] == "CHEMBL25"
    assert all(r["match"] == "fuzzy" for r in results)
    assert all(r["score"] < 100 for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_resolve_salt_smiles_finds_the_parent_by_structure(client: TestClient) -> None:
    # params= encodes '+', '(' and '[' properly; a raw '+' in a URL would arrive as a space.
    response = client.get("/v1/compounds", params={"smiles": IBUPROFEN_SODIUM})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "smiles"
    assert body["query"] == IBUPROFEN_SODIUM
    ids = [r["chembl_id"] for r in body["results"]]
    assert "CHEMBL521" in ids
    assert all(r["match"] == "structure" for r in body["results"])
    assert body["molecule"]["smiles"]


def test_resolve_smiles_outside_the_library_returns_the_molecule(client: TestClient) -> None:
    response = client.get("/v1/compounds", params={"smiles": "CCCCCCCCCCCCCCCCCCCC[Si](C)(C)C"})
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == []
    assert body["molecule"]["smiles"]


def test_resolve_invalid_smiles_is_422(client: TestClient) -> None:
    body = assert_error(client.get("/v1/compounds", params={"smiles": "C1CC"}), 422)
    assert "C1CC" in body["detail"]


def test_resolve_by_inchikey(client: TestClient) -> None:
    response = client.get("/v1/compounds", params={"inchikey": "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "inchikey"
    assert body["results"][0]["chembl_id"] == "CHEMBL25"
    assert body["results"][0]["match"] == "inchikey"


def test_resolve_malformed_inchikey_is_422(client: TestClient) -> None:
    assert_error(client.get("/v1/compounds", params={"inchikey": "not-a-key"}), 422)


@pytest.mark.parametrize(
    "params",
    [{}, {"name": "aspirin", "smiles": "CCO"}, {"name": "aspirin", "inchikey": "X"}],
    ids=["none", "name+smiles", "name+inchikey"],
)
def test_resolve_needs_exactly_one_parameter(client: TestClient, params: dict[str, str]) -> None:
    body = assert_error(client.get("/v1/compounds", params=params), 422, "invalid_input")
    assert "exactly one" in body["detail"]


@pytest.mark.parametrize(
    "params", [{"name": "zzqxzzqxzzqx"}, {"inchikey": "AAAAAAAAAAAAAA-BBBBBBBBBB-N"}]
)
def test_resolve_nothing_matches_is_404(client: TestClient, params: dict[str, str]) -> None:
    body = assert_error(client.get("/v1/compounds", params=params), 404, "compound_not_found")
    assert OFFLINE_HINT in body["detail"]


# --- property panels -----------------------------------------------------------------


def test_properties_of_a_library_compound(client: TestClient) -> None:
    by_path = client.get("/v1/compounds/CHEMBL25/properties")
    assert by_path.status_code == 200
    by_body = client.post("/v1/properties", json={"chembl_id": "chembl25"})
    assert by_body.status_code == 200
    assert by_path.json() == by_body.json()
    body = by_path.json()
    assert body["chembl_id"] == "CHEMBL25"
    assert body["molecule_properties"]["alogp"] == 1.31
    assert (
        body["molecule_properties"]
        == client.get("/v1/compounds/CHEMBL25").json()["molecule_properties"]
    )


def test_properties_of_unknown_compound_is_404(client: TestClient) -> None:
    assert_error(client.get("/v1/compounds/CHEMBL0/properties"), 404, "compound_not_found")
    assert_error(
        client.post("/v1/properties", json={"chembl_id": "CHEMBL0"}), 404, "compound_not_found"
    )


def test_properties_of_smiles_match_the_library_panel(client: TestClient) -> None:
    response = client.post("/v1/properties", json={"smiles": ASPIRIN_SMILES})
    assert response.status_code == 200
    body = response.json()
    assert body["chembl_id"] is None
    library = client.get("/v1/compounds/CHEMBL25").json()["molecule_properties"]
    assert body["molecule_properties"] == library


def test_properties_of_a_salt_are_computed_on_the_parent(client: TestClient) -> None:
    response = client.post("/v1/properties", json={"smiles": IBUPROFEN_SODIUM})
    assert response.status_code == 200
    body = response.json()
    panel = body["molecule_properties"]
    assert body["molecule_structures"]["parent_smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    assert panel["full_molformula"] == "C13H17NaO2"
    assert panel["full_mwt"] > panel["mw_freebase"]


@pytest.mark.parametrize(
    "body",
    [{}, {"smiles": "CCO", "chembl_id": "CHEMBL25"}, {"smiles": None}],
    ids=["neither", "both", "null"],
)
def test_properties_need_exactly_one_of_smiles_or_id(
    client: TestClient, body: dict[str, Any]
) -> None:
    error = assert_error(client.post("/v1/properties", json=body), 422, "invalid_input")
    assert "exactly one of 'smiles' or 'chembl_id'" in error["detail"]


@pytest.mark.parametrize(
    ("smiles", "problem"),
    [
        ("C1CC", "ring-closure"),
        ("CC(C", "parentheses"),
        ("C(C)(C)(C)(C)C", "valence"),
        ("C[C", "brackets"),
        ("", "empty"),
    ],
)
def test_invalid_smiles_is_422_naming_input_and_problem(
    client: TestClient, smiles: str, problem: str
) -> None:
    body = assert_error(
        client.post("/v1/properties", json={"smiles": smiles}), 422, "invalid_molecule"
    )
    assert f"'{smiles}'" in body["detail"] or not smiles
    assert problem in body["detail"]


def test_smiles_over_the_default_length_limit_is_422(client: TestClient) -> None:
    body = assert_error(
        client.post("/v1/properties", json={"smiles": "C" * 2001}), 422, "invalid_molecule"
    )
    assert "2001 characters" in body["detail"]
    assert "2000" in body["detail"]
    assert "C" * 100 not in body["detail"]  # the input is not echoed in full


def test_smiles_over_the_default_heavy_atom_limit_is_422(client: TestClient) -> None:
    body = assert_error(
        client.post("/v1/properties", json={"smiles": "C" * 501}), 422, "invalid_molecule"
    )
    assert "501 heavy atoms" in body["detail"]
    assert "500" in body["detail"]


def test_configured_smiles_limits_apply(small_client: TestClient) -> None:
    assert small_client.post("/v1/properties", json={"smiles": "C" * 10}).status_code == 200
    too_long = assert_error(
        small_client.post("/v1/properties", json={"smiles": "C" * 51}), 422, "invalid_molecule"
    )
    assert "the limit is 50" in too_long["detail"]
    too_big = assert_error(
        small_client.post("/v1/properties", json={"smiles": "C" * 11}), 422, "invalid_molecule"
    )
    assert "11 heavy atoms" in too_big["detail"]
    assert "the limit is 10" in too_big["detail"]
