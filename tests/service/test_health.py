"""Probes, build information and the OpenAPI document."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from rdkit import rdBase

from tests.service.conftest import app_state

LIBRARY_SIZE = 2628
V1_PATHS = {
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/version": {"get"},
    "/v1/compounds": {"get"},
    "/v1/compounds/{chembl_id}": {"get"},
    "/v1/compounds/{chembl_id}/properties": {"get"},
    "/v1/compounds/{chembl_id}/image.svg": {"get"},
    "/v1/properties": {"post"},
    "/v1/similarity": {"post"},
    "/v1/substructure": {"post"},
    "/v1/standardize": {"post"},
    "/v1/depict": {"get"},
    "/v1/batch": {"post"},
}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_readyz_reports_the_library(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["library"]["name"] == "chembl_approved_drugs"
    assert body["library"]["size"] == LIBRARY_SIZE
    assert body["library"]["has_properties"] is True
    assert body["redis"] == "disabled"
    assert body["chembl"] == "disabled"
    assert body["pending_steps"] >= 0


def test_readyz_is_503_while_draining(
    small_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_state(small_client), "draining", True)
    response = small_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "draining"
    # Liveness is independent of readiness: the process still serves.
    assert small_client.get("/healthz").status_code == 200


def test_version(client: TestClient) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    body = response.json()
    assert body["version"]
    assert body["commit"]
    assert body["rdkit_version"] == rdBase.rdkitVersion
    assert body["library"]["name"] == "chembl_approved_drugs"
    assert body["library"]["size"] == LIBRARY_SIZE


def test_openapi_lists_every_v1_path_with_summaries(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in V1_PATHS.items():
        assert path in paths, f"{path} is missing from /openapi.json"
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary", "").strip(), f"{method.upper()} {path} has no summary"


def test_openapi_documents_svg_and_error_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/depict", "/v1/compounds/{chembl_id}/image.svg"):
        assert "image/svg+xml" in paths[path]["get"]["responses"]["200"]["content"]
    for path, method in (("/v1/properties", "post"), ("/v1/similarity", "post")):
        schema = paths[path][method]["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorBody")
