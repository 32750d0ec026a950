"""Random input never yields a 5xx: a 5xx is a bug or a dependency down, never the caller.

Every POST endpoint gets random field values (text, SMILES-like text, any JSON value) and
random raw bytes; every GET endpoint gets random query strings and path segments. The
session app is used directly, so no function-scoped fixture is involved.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SMILES_ALPHABET = "CNOSPFIBrlcnosp()[]=#$:@+-/\\%.0123456789H*~&,;!"
SAMPLES = [
    "CHEMBL25",
    "chembl521",
    "aspirin",
    "ibuprofen",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]",
    "BSYNRYMUTXBXSQ-UHFFFAOYSA-N",
    "[*]",
    "*",
    "[H]",
    "[H][H]",
    "[Na+].[Cl-]",
    "c1ccccc",
    "C1CC",
    "[$(C)]",
    "C" * 600,
    "[C@@H]",
    "c1cc[nH]c1",
    "\n  RDKit\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n",
    "",
    " ",
    "\x00",
    "%00",
    "../..",
]
TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=SMILES_ALPHABET, max_size=40),
    st.sampled_from(SAMPLES),
)
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
NUMBER = st.one_of(
    st.integers(min_value=-5, max_value=2000),
    st.floats(min_value=-2, max_value=2),
    st.floats(allow_nan=False, allow_infinity=False),  # httpx cannot encode NaN/inf
    JSON_VALUE,
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "smiles": st.one_of(TEXT, JSON_VALUE, st.lists(TEXT, max_size=6)),
    "smarts": st.one_of(TEXT, JSON_VALUE),
    "chembl_id": st.one_of(TEXT, JSON_VALUE),
    "molblock": st.one_of(TEXT, JSON_VALUE),
    "query": st.one_of(TEXT, JSON_VALUE),
    "ids": st.one_of(st.lists(TEXT, max_size=6), JSON_VALUE),
    "threshold": NUMBER,
    "top_k": NUMBER,
    "limit": NUMBER,
    "offset": NUMBER,
    "chirality": st.one_of(st.booleans(), JSON_VALUE),
}
POST_FIELDS = {
    "/v1/properties": ["smiles", "chembl_id"],
    "/v1/similarity": ["query", "threshold", "top_k", "limit", "offset"],
    "/v1/substructure": ["smarts", "smiles", "limit", "chirality"],
    "/v1/standardize": ["smiles", "molblock"],
    "/v1/batch": ["ids", "smiles"],
}
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
)


def _body(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with a random subset of the endpoint's fields (and maybe a stray one)."""
    return st.fixed_dictionaries(
        {}, optional={name: FIELD_VALUES[name] for name in [*fields, "query", "smiles"]}
    )


def _assert_not_5xx(response: Any) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text[:500]}"
    )
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        assert {"error", "detail", "trace_id"} <= set(response.json())


@pytest.mark.parametrize("path", POST_FIELDS)
def test_post_fields_never_5xx(client: TestClient, path: str) -> None:
    @FUZZ
    @given(body=_body(POST_FIELDS[path]))
    def check(body: dict[str, Any]) -> None:
        _assert_not_5xx(client.post(path, json=body))

    check()


@pytest.mark.parametrize("path", POST_FIELDS)
def test_post_raw_bytes_never_5xx(client: TestClient, path: str) -> None:
    @FUZZ
    @given(
        content=RAW_BODIES,
        content_type=st.sampled_from(["application/json", "text/plain", "", "application/xml"]),
    )
    def check(content: bytes, content_type: str) -> None:
        headers = {"content-type": content_type} if content_type else {}
        _assert_not_5xx(client.post(path, content=content, headers=headers))

    check()


def test_resolve_query_string_never_5xx(client: TestClient) -> None:
    @FUZZ
    @given(
        params=st.fixed_dictionaries(
            {}, optional={"name": TEXT, "smiles": TEXT, "inchikey": TEXT, "other": TEXT}
        )
    )
    def check(params: dict[str, str]) -> None:
        _assert_not_5xx(client.get("/v1/compounds", params=params))

    check()


@pytest.mark.parametrize("suffix", ["", "/properties", "/image.svg"])
def test_compound_path_never_5xx(client: TestClient, suffix: str) -> None:
    @FUZZ
    @given(ident=TEXT.filter(lambda s: s.strip(" ./") != ""))
    def check(ident: str) -> None:
        _assert_not_5xx(client.get(f"/v1/compounds/{quote(ident, safe='')}{suffix}"))

    check()


def test_depict_query_string_never_5xx(client: TestClient) -> None:
    size = st.one_of(st.integers(min_value=-10, max_value=3000), TEXT)
    params = st.fixed_dictionaries(
        {"smiles": TEXT}, optional={"width": size.map(str), "height": size.map(str)}
    )

    @FUZZ
    @given(params=params)
    def check(params: dict[str, str]) -> None:
        _assert_not_5xx(client.get("/v1/depict", params=params))

    check()


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/similarity", b'{"query": "aspirin", "threshold": NaN}'),
        ("/v1/similarity", b'{"query": "aspirin", "threshold": Infinity}'),
        ("/v1/similarity", b'{"query": "aspirin", "top_k": 1e400}'),
        ("/v1/similarity", b'{"query": "aspirin", "offset": -Infinity}'),
        ("/v1/substructure", b'{"smarts": "c1ccccc1", "limit": NaN}'),
        ("/v1/batch", b'{"ids": [NaN]}'),
    ],
)
def test_non_finite_numbers_are_422(client: TestClient, path: str, content: bytes) -> None:
    # Python's json module accepts NaN and Infinity, which strict JSON clients cannot send.
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    _assert_not_5xx(response)
    assert response.status_code == 422
