"""Standardization, depiction and batch calls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rdkit import Chem

from tests.service.support import ASPIRIN_SMILES, IBUPROFEN_SODIUM, ResponseLike, assert_error

ASPIRIN_SODIUM = "CC(=O)Oc1ccccc1C(=O)[O-].[Na+]"
SVG_NS = "{http://www.w3.org/2000/svg}"

# --- POST /v1/standardize ------------------------------------------------------------


def _standardize(client: TestClient, **body: str) -> dict[str, Any]:
    response = client.post("/v1/standardize", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _assert_penalties(body: dict[str, Any]) -> None:
    penalties = body["penalties"]
    assert isinstance(penalties, list)
    for penalty in penalties:
        assert set(penalty) == {"score", "message"}
        assert isinstance(penalty["score"], int)
        assert penalty["message"]
    assert body["max_penalty"] == max((p["score"] for p in penalties), default=0)


def test_standardize_salt_smiles(client: TestClient) -> None:
    body = _standardize(client, smiles=ASPIRIN_SODIUM)
    assert body["parent_smiles"] == ASPIRIN_SMILES
    assert "[Na+]" in body["standardized_smiles"]
    assert body["salts_removed"] is True
    assert body["excluded"] is False
    _assert_penalties(body)
    assert "M  END" in body["parent_molblock"]
    parent = Chem.MolFromMolBlock(body["parent_molblock"])
    assert Chem.MolToSmiles(parent) == ASPIRIN_SMILES


def test_standardize_neutral_molecule_keeps_it(client: TestClient) -> None:
    body = _standardize(client, smiles=ASPIRIN_SMILES)
    assert body["standardized_smiles"] == body["parent_smiles"] == ASPIRIN_SMILES
    assert body["salts_removed"] is False
    _assert_penalties(body)


def test_standardize_molblock(client: TestClient) -> None:
    molblock = Chem.MolToMolBlock(Chem.MolFromSmiles(IBUPROFEN_SODIUM))
    body = _standardize(client, molblock=molblock)
    assert body["parent_smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    assert body["salts_removed"] is True
    _assert_penalties(body)


def test_standardize_smiles_and_molblock_agree(client: TestClient) -> None:
    molblock = Chem.MolToMolBlock(Chem.MolFromSmiles(ASPIRIN_SODIUM))
    from_molblock = _standardize(client, molblock=molblock)
    from_smiles = _standardize(client, smiles=ASPIRIN_SODIUM)
    assert from_molblock["parent_smiles"] == from_smiles["parent_smiles"]
    assert from_molblock["standardized_smiles"] == from_smiles["standardized_smiles"]


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"smiles": "C1CC"}, "invalid_molecule", "C1CC"),
        ({"smiles": "C(C)(C)(C)(C)C"}, "invalid_molecule", "valence"),
        ({"molblock": "not a molfile"}, "invalid_molecule", "molblock"),
        ({"smiles": ""}, "invalid_molecule", "empty"),
        ({}, "invalid_input", "exactly one of 'smiles' or 'molblock'"),
        ({"smiles": "CCO", "molblock": "x"}, "invalid_input", "exactly one"),
    ],
    ids=["ring", "valence", "molblock", "empty", "neither", "both"],
)
def test_standardize_invalid_is_422(
    client: TestClient, body: dict[str, str], code: str, needle: str
) -> None:
    error = assert_error(client.post("/v1/standardize", json=body), 422, code)
    assert needle in error["detail"]


def test_standardize_respects_the_size_limit(small_client: TestClient) -> None:
    error = assert_error(
        small_client.post("/v1/standardize", json={"smiles": "C" * 11}), 422, "invalid_molecule"
    )
    assert "the limit is 10" in error["detail"]


# --- SVG depiction -------------------------------------------------------------------


def _assert_svg(response: ResponseLike, width: int, height: int) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("width", "").removesuffix("px") == str(width)
    assert root.get("height", "").removesuffix("px") == str(height)
    return root


def test_compound_image(client: TestClient) -> None:
    response = client.get("/v1/compounds/CHEMBL25/image.svg")
    root = _assert_svg(response, 300, 300)
    assert len(root) > 0  # something is drawn
    assert "max-age" in response.headers["cache-control"]


def test_compound_image_case_insensitive_and_sized(client: TestClient) -> None:
    response = client.get("/v1/compounds/chembl25/image.svg", params={"width": 500, "height": 50})
    _assert_svg(response, 500, 50)


def test_depict_smiles(client: TestClient) -> None:
    response = client.get("/v1/depict", params={"smiles": IBUPROFEN_SODIUM, "width": 2000})
    _assert_svg(response, 2000, 300)


@pytest.mark.parametrize(
    "params",
    [{"width": 49}, {"width": 2001}, {"height": 49}, {"height": 2001}, {"width": "wide"}],
)
@pytest.mark.parametrize("path", ["/v1/compounds/CHEMBL25/image.svg", "/v1/depict"])
def test_image_size_out_of_range_is_422(
    client: TestClient, path: str, params: dict[str, Any]
) -> None:
    body = assert_error(client.get(path, params={"smiles": "CCO", **params}), 422, "invalid_input")
    assert next(iter(params)) in body["detail"]


def test_depict_invalid_smiles_is_422_json(client: TestClient) -> None:
    body = assert_error(
        client.get("/v1/depict", params={"smiles": "C1CC"}), 422, "invalid_molecule"
    )
    assert "C1CC" in body["detail"]


def test_depict_without_smiles_is_422(client: TestClient) -> None:
    body = assert_error(client.get("/v1/depict"), 422, "invalid_input")
    assert "smiles" in body["detail"]


def test_image_of_unknown_compound_is_404_json(client: TestClient) -> None:
    assert_error(client.get("/v1/compounds/CHEMBL0/image.svg"), 404, "compound_not_found")


# --- POST /v1/batch ------------------------------------------------------------------


def test_batch_ids_in_input_order_with_per_item_errors(client: TestClient) -> None:
    ids = ["CHEMBL521", "CHEMBL0", "chembl25", "asprin", "CHEMBL112"]
    response = client.post("/v1/batch", json={"ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 5
    assert body["succeeded"] == 3
    assert body["failed"] == 2
    items = body["results"]
    assert [item["input"] for item in items] == ids
    assert [item["ok"] for item in items] == [True, False, True, False, True]
    assert [item["result"]["chembl_id"] for item in items if item["ok"]] == [
        "CHEMBL521",
        "CHEMBL25",
        "CHEMBL112",
    ]
    for item in items:
        if item["ok"]:
            assert item["error"] is None
            assert item["result"]["molecule_properties"]["heavy_atoms"] > 0
        else:
            assert item["result"] is None
            assert item["error"]["error"] == "compound_not_found"
            assert item["input"].upper() in item["error"]["detail"]


def test_batch_ids_equal_single_lookups(client: TestClient) -> None:
    batch = client.post("/v1/batch", json={"ids": ["CHEMBL25"]}).json()["results"][0]["result"]
    single = client.get("/v1/compounds/CHEMBL25").json()
    assert batch == single


def test_batch_smiles_in_input_order_with_per_item_errors(client: TestClient) -> None:
    smiles = [ASPIRIN_SMILES, "C1CC", IBUPROFEN_SODIUM, "CC(C", "CCO"]
    response = client.post("/v1/batch", json={"smiles": smiles})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["count"], body["succeeded"], body["failed"]) == (5, 3, 2)
    items = body["results"]
    assert [item["input"] for item in items] == smiles
    assert [item["ok"] for item in items] == [True, False, True, False, True]
    assert items[0]["result"]["molecule_properties"]["alogp"] == 1.31
    assert items[2]["result"]["molecule_properties"]["full_molformula"] == "C13H17NaO2"
    assert items[1]["error"]["error"] == "invalid_molecule"
    assert "ring-closure" in items[1]["error"]["detail"]
    assert "parentheses" in items[3]["error"]["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"ids": []}, "empty"),
        ({"smiles": []}, "empty"),
        ({}, "exactly one of 'ids' or 'smiles'"),
        ({"ids": ["CHEMBL25"], "smiles": ["CCO"]}, "exactly one of 'ids' or 'smiles'"),
        ({"ids": "CHEMBL25"}, "ids"),
        ({"ids": [25]}, "ids"),
    ],
    ids=["empty-ids", "empty-smiles", "neither", "both", "not-a-list", "not-strings"],
)
def test_batch_invalid_is_422(client: TestClient, body: dict[str, Any], needle: str) -> None:
    error = assert_error(client.post("/v1/batch", json=body), 422, "invalid_input")
    assert needle in error["detail"]


def test_batch_over_the_default_size_is_422(client: TestClient) -> None:
    error = assert_error(
        client.post("/v1/batch", json={"ids": ["CHEMBL25"] * 101}), 422, "invalid_input"
    )
    assert "101 items" in error["detail"]
    assert "the limit is 100" in error["detail"]


def test_batch_over_the_configured_size_is_422(small_client: TestClient) -> None:
    ok = small_client.post("/v1/batch", json={"smiles": ["CCO", "CCN", "CCC"]})
    assert ok.status_code == 200
    assert ok.json()["succeeded"] == 3
    error = assert_error(
        small_client.post("/v1/batch", json={"smiles": ["CCO", "CCN", "CCC", "CCCl"]}),
        422,
        "invalid_input",
    )
    assert "the limit is 3" in error["detail"]
