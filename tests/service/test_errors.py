"""The error contract across the app: JSON bodies, request ids, body limits, overload."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chemagent.app import create_app
from chemagent.errors import Overloaded
from chemagent.execution.runner import StepRunner
from chemagent.execution.step import Step
from tests.service.conftest import app_state, offline_settings
from tests.service.support import assert_error

JSON = {"content-type": "application/json"}


# --- request ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/v1/compounds/CHEMBL25", {}, 200),
        ("GET", "/v1/compounds/CHEMBL0", {}, 404),
        ("POST", "/v1/properties", {"json": {"smiles": "C1CC"}}, 422),
        ("POST", "/v1/properties", {"content": b"{", "headers": JSON}, 400),
        ("GET", "/no/such/path", {}, 404),
        ("DELETE", "/v1/similarity", {}, 405),
    ],
)
def test_every_response_carries_a_request_id(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    assert len(response.headers["x-request-id"]) >= 8
    if status >= 400:
        assert_error(response, status)


def test_request_ids_differ(client: TestClient) -> None:
    ids = {client.get("/v1/compounds/CHEMBL0").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("incoming", ["trace-1234.abcd_EF", "a" * 64])
def test_a_sane_incoming_request_id_is_echoed(client: TestClient, incoming: str) -> None:
    response = client.get("/v1/compounds/CHEMBL0", headers={"x-request-id": incoming})
    assert response.headers["x-request-id"] == incoming
    assert assert_error(response, 404)["trace_id"] != incoming  # a trace id, not the request's
    ok = client.get("/healthz", headers={"x-request-id": incoming})
    assert ok.headers["x-request-id"] == incoming


def test_an_incoming_traceparent_gives_the_trace_id(client: TestClient) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    response = client.get("/v1/compounds/CHEMBL0", headers=headers)
    assert assert_error(response, 404)["trace_id"] == trace_id
    _, echoed_trace, span_id, flags = response.headers["traceparent"].split("-")
    assert (echoed_trace, flags) == (trace_id, "01")
    assert span_id != parent  # this server's span, a child of the caller's


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "00-abc-def-01", "ff-" + "a" * 50],
)
def test_an_invalid_traceparent_starts_a_new_trace(client: TestClient, traceparent: str) -> None:
    response = client.get("/v1/compounds/CHEMBL0", headers={"traceparent": traceparent})
    trace_id = assert_error(response, 404)["trace_id"]
    assert len(trace_id) == 32
    assert int(trace_id, 16) != 0


@pytest.mark.parametrize(
    "incoming", ["short", "a" * 65, "has space inside", "semi;colon-12345", "ünïcode-12345"]
)
def test_an_insane_incoming_request_id_is_replaced(client: TestClient, incoming: str) -> None:
    headers = [(b"x-request-id", incoming.encode("utf-8"))]
    response = client.get("/v1/compounds/CHEMBL0", headers=headers)
    body = assert_error(response, 404)
    assert response.headers["x-request-id"] != incoming
    assert body["trace_id"] == response.headers["x-trace-id"]


# --- routing errors ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1", "/v1/compound/CHEMBL25", "/v2/compounds"])
def test_unknown_path_is_404_json(client: TestClient, path: str) -> None:
    body = assert_error(client.get(path), 404, "not_found")
    assert path in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/properties"),
        ("PUT", "/v1/similarity"),
        ("DELETE", "/v1/compounds/CHEMBL25"),
        ("POST", "/healthz"),
        ("POST", "/v1/depict"),
    ],
)
def test_wrong_method_is_405_json(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    body = assert_error(response, 405, "method_not_allowed")
    assert method in body["detail"]
    assert response.headers["allow"]


# --- bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"{", b'{"smiles": "CCO",}', b"{'smiles': 'CCO'}", b'{"smiles": "CCO"} x']
)
def test_malformed_json_is_400(client: TestClient, content: bytes) -> None:
    body = assert_error(
        client.post("/v1/properties", content=content, headers=JSON), 400, "malformed_json"
    )
    assert "JSON" in body["detail"]


@pytest.mark.parametrize(
    "content", [b"\x00\xff\xfe\x80garbage", b"\xff\xd8\xff\xe0", b'{"smiles": "\xff"}']
)
@pytest.mark.parametrize("path", ["/v1/properties", "/v1/batch", "/v1/similarity"])
def test_garbage_bytes_are_400(client: TestClient, path: str, content: bytes) -> None:
    body = assert_error(client.post(path, content=content, headers=JSON), 400, "malformed_json")
    assert "UTF-8" in body["detail"]
    assert "application/json" in body["detail"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_non_json_body_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/v1/properties", content=b'{"smiles": "CCO"}', headers={"content-type": content_type}
    )
    body = assert_error(response, 415, "unsupported_media_type")
    assert content_type in body["detail"]
    assert "application/json" in body["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/problem+json"],
)
def test_json_content_type_variants_are_accepted(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/v1/properties", content=b'{"smiles": "CCO"}', headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


def test_missing_body_is_4xx(client: TestClient) -> None:
    assert_error(client.post("/v1/properties", headers=JSON), 422, "invalid_input")
    assert_error(client.post("/v1/properties"), 415, "unsupported_media_type")


@pytest.mark.parametrize("payload", [[1, 2], "CCO", 3, True])
def test_non_object_json_is_422(client: TestClient, payload: object) -> None:
    body = assert_error(client.post("/v1/properties", json=payload), 422, "invalid_input")
    assert "JSON object" in body["detail"]


def test_json_null_body_is_422(client: TestClient) -> None:
    response = client.post("/v1/properties", content=b"null", headers=JSON)
    assert_error(response, 422, "invalid_input")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/properties", {"smiles": "CCO", "colour": "blue"}, "colour"),
        ("/v1/similarity", {"query": "aspirin", "treshold": 0.2}, "treshold"),
        ("/v1/batch", {"ids": ["CHEMBL25"], "id": "CHEMBL25"}, "id"),
    ],
)
def test_unknown_fields_are_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, object], field: str
) -> None:
    # A misspelt 'treshold' must not silently fall back to the default 0.7.
    error = assert_error(client.post(path, json=body), 422, "invalid_input")
    assert f"'{field}'" in error["detail"]


# --- body size -----------------------------------------------------------------------


def test_body_over_the_limit_with_content_length_is_413(small_client: TestClient) -> None:
    content = b'{"smiles": "' + b"C" * 3000 + b'"}'
    response = small_client.post("/v1/properties", content=content, headers=JSON)
    assert response.request.headers["content-length"] == str(len(content))
    body = assert_error(response, 413, "payload_too_large")
    assert "2,048 bytes" in body["detail"]


def test_body_over_the_limit_streamed_is_413(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"smiles": "'
        for _ in range(10):
            yield b"C" * 512
        yield b'"}'

    response = small_client.post("/v1/properties", content=chunks(), headers=JSON)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    body = assert_error(response, 413, "payload_too_large")
    assert "2,048" in body["detail"]


def test_body_under_the_limit_is_read(small_client: TestClient) -> None:
    content = b'{"smiles": "CCO"' + b" " * 1900 + b"}"
    assert len(content) < 2048
    response = small_client.post("/v1/properties", content=content, headers=JSON)
    assert response.status_code == 200, response.text


def test_body_over_the_default_limit_is_413(client: TestClient) -> None:
    content = b'{"ids": ["' + b"C" * (1 << 20) + b'"]}'
    body = assert_error(client.post("/v1/batch", content=content, headers=JSON), 413)
    assert "1,048,576" in body["detail"]


# --- server-side failures ------------------------------------------------------------


def test_an_internal_error_is_500_json_with_a_trace_id() -> None:
    # Without the lifespan there is no AppState: every route that needs it fails with an
    # unexpected AttributeError, which must still answer in the error contract.
    broken = TestClient(create_app(offline_settings()), raise_server_exceptions=False)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    headers = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-00"}
    response = broken.get("/v1/compounds/CHEMBL25", headers=headers)
    body = assert_error(response, 500, "internal")
    assert body["trace_id"] == trace_id
    assert "AttributeError" not in body["detail"]  # no internals leak


def test_a_slow_request_is_504_at_the_request_deadline(
    small_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stuck(*_: object) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(app_state(small_client).operations, "compound", stuck)
    response = small_client.get("/v1/compounds/CHEMBL25")
    body = assert_error(response, 504, "request_timeout")
    assert "longer than" in body["detail"]


# --- overload ------------------------------------------------------------------------


def test_overloaded_runner_is_503_with_retry_after(
    small_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = app_state(small_client).runner
    cached = small_client.post("/v1/properties", json={"smiles": "CCO"})
    assert cached.status_code == 200
    monkeypatch.setattr(runner, "_max_pending", 0)
    # Never seen before: it needs the pool, which sheds it.
    response = small_client.post("/v1/properties", json={"smiles": "BrCCCCC(N)CO"})
    body = assert_error(response, 503, "overloaded")
    assert response.headers["retry-after"] == "1"
    assert "retry" in body["detail"]
    batch = small_client.post("/v1/batch", json={"smiles": ["BrCCCCCC(N)CO"]})
    assert batch.status_code == 200
    assert batch.json()["results"][0]["error"]["error"] == "overloaded"
    # A cached result never reaches the pool: still served while the pool sheds load.
    again = small_client.post("/v1/properties", json={"smiles": "CCO"})
    assert again.status_code == 200
    assert again.json() == cached.json()
    # Probes do not run steps: the pod stays live and ready while it sheds load.
    assert small_client.get("/healthz").status_code == 200
    assert small_client.get("/readyz").status_code == 200


def test_runner_sheds_load_at_max_pending(client: TestClient) -> None:
    context = app_state(client).runner.context
    release = threading.Event()
    with ThreadPoolExecutor(1) as executor:
        runner = StepRunner(context, executor, step_timeout=10, max_pending=1)
        executor.submit(release.wait, 10)  # occupy the only thread

        async def scenario() -> None:
            queued = asyncio.ensure_future(runner.run(Step.of("parse", "CCO")))
            await asyncio.sleep(0.01)
            assert runner.pending == 1
            with pytest.raises(Overloaded, match="already queued"):
                await runner.run(Step.of("parse", "CCN"))
            release.set()
            assert (await queued)["smiles"] == "CCO"
            for _ in range(100):
                if runner.pending == 0:
                    break
                await asyncio.sleep(0.01)
            assert runner.pending == 0
            assert (await runner.run(Step.of("parse", "CCN")))["smiles"] == "CCN"

        try:
            asyncio.run(scenario())
        finally:
            release.set()


@pytest.mark.parametrize("content_type", ["text/json", "application/x-json"])
def test_json_lookalike_content_types_are_415(client: TestClient, content_type: str) -> None:
    """FastAPI parses only application/json and application/*+json; say so, not 'not an object'."""
    response = client.post(
        "/v1/properties", content=b'{"smiles": "CCO"}', headers={"content-type": content_type}
    )
    body = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in body["detail"]
