"""Cache keys (everything that changes an answer is in the key) and the value codec."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chemagent.cache import codec
from chemagent.cache.codec import CodecError, Envelope, decode, decode_sized, encode, serialize
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.policy import CachePolicy
from chemagent.execution.step import Step

NS = CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "36")


# --- keys ----------------------------------------------------------------------------


def test_key_layout() -> None:
    step = Step.of("similarity", "CCO", threshold=0.7, top_k=10)
    key = NS.key_for(step, 3)
    assert key == f"chemagent:v1:{NS.build}:similarity:3:{step.digest()}"
    assert len(NS.build) == 12
    assert key.startswith(NS.kind_prefix("similarity"))
    assert key.startswith(NS.prefix)


def test_key_depends_on_params_not_their_order() -> None:
    a = Step.of("similarity", "CCO", threshold=0.7, top_k=10)
    b = Step.of("similarity", "CCO", top_k=10, threshold=0.7)
    c = Step.of("similarity", "CCO", top_k=11, threshold=0.7)
    assert NS.key_for(a, 1) == NS.key_for(b, 1)
    assert NS.key_for(a, 1) != NS.key_for(c, 1)
    assert NS.key_for(a, 1) != NS.key_for(Step.of("similarity", "CCN", top_k=10), 1)


def test_key_depends_on_kind_and_version() -> None:
    step = Step.of("properties", "CCO")
    assert NS.key_for(step, 1) != NS.key_for(step, 2)
    assert NS.key_for(step, 1) != NS.key_for(Step.of("depict", "CCO"), 1)


@pytest.mark.parametrize(
    "other",
    [
        CacheNamespace(SCHEMA, "2026.09.2", "chembl-approved", "36"),
        CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "37"),
        CacheNamespace(SCHEMA, "2026.09.1", "my-library", "36"),
        CacheNamespace(SCHEMA + 1, "2026.09.1", "chembl-approved", "36"),
    ],
    ids=["rdkit", "library-version", "library-name", "schema"],
)
def test_namespace_changes_with_every_version(other: CacheNamespace) -> None:
    step = Step.of("properties", "CCO")
    assert other.prefix != NS.prefix
    assert not other.key_for(step, 1).startswith(NS.prefix)


def test_kind_prefix_does_not_match_a_longer_kind() -> None:
    key = NS.key_for(Step.of("similarity_fast", "CCO"), 1)
    assert not key.startswith(NS.kind_prefix("similarity"))


@pytest.mark.parametrize("kind", ["", "a:b"])
def test_kind_that_would_break_the_layout_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a cache key"):
        NS.kind_prefix(kind)


def test_namespace_never_covers_sessions() -> None:
    assert not "chemagent:session:abc".startswith(NS.prefix)


# --- policy --------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = CachePolicy()
    assert policy.ttl_of("similarity") == 86_400
    assert policy.ttl_of("targets") == 3600
    assert policy.swr_of("targets") == 300
    assert policy.swr_of("similarity") == 0
    assert policy.retention_of("targets") == 86_400
    assert not policy.cacheable("keep")
    assert policy.cacheable("similarity")
    assert not policy.uses_l2("compound")
    assert policy.uses_l2("properties")
    assert policy.is_expensive("substructure")
    assert not policy.is_expensive("depict")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default_ttl": 0},
        {"negative_ttl": -1},
        {"ttl": {"similarity": 0}},
        {"stale_if_error": {"targets": -5}},
        {"l1_max_ttl": 0},
    ],
)
def test_policy_refuses_bad_numbers(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be positive|out of range"):
        CachePolicy(**kwargs)


# --- codec ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(), inner, max_size=8),
    max_leaves=60,
)


def _envelope(value: Any, *, negative: bool = False) -> Envelope:
    return Envelope(value, 1_700_000_000.25, 0.125, 1_700_003_600.25, negative)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_round_trip(value: Any) -> None:
    envelope = _envelope(value)
    assert decode(encode(envelope)) == envelope


@settings(max_examples=20, deadline=None)
@given(st.text(min_size=2000, max_size=5000), st.integers(min_value=0, max_value=2**64 - 1))
def test_round_trip_large_and_unicode(text: str, number: int) -> None:
    value = {"é-ü-中文-🧪": [text, text[::-1]], "n": number, "nested": [[{"x": [text]}]]}
    envelope = _envelope(value)
    data = encode(envelope)
    assert data[0] == codec.FORMAT_ZLIB
    assert decode(data) == envelope


def test_small_values_are_not_compressed_and_large_ones_are() -> None:
    small = encode(_envelope({"smiles": "CCO"}))
    assert small[0] == codec.FORMAT_PLAIN
    records = [{"chembl_id": f"CHEMBL{i}", "mw": 180.16 + i, "alogp": 1.31} for i in range(200)]
    large = encode(_envelope(records))
    assert large[0] == codec.FORMAT_ZLIB
    assert len(large) < len(orjson.dumps(records)) / 3


def test_negative_round_trip() -> None:
    envelope = _envelope({"code": "not_found", "detail": "No such compound."}, negative=True)
    assert decode(encode(envelope)) == envelope


def test_tuples_come_back_as_lists() -> None:
    assert decode(encode(_envelope({"a": (1, 2)}))).value == {"a": [1, 2]}


@pytest.mark.parametrize("value", [{1: "int key"}, {"x": object()}, {"n": 2**70}])
def test_unserializable_value_is_a_codec_error(value: Any) -> None:
    with pytest.raises(CodecError, match="not JSON-serializable"):
        encode(_envelope(value))


def _good_bytes(value: Any = None) -> bytes:
    return encode(_envelope(value if value is not None else {"smiles": "CCO", "mw": 46.07}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x80\x04\x95" + b"pickle-ish", "unknown format header 0x80"),
        (b"\xc0" + _good_bytes()[1:], "unknown format header 0xc0"),  # an older schema
        (b'{"v": 1}', "unknown format header 0x7b"),  # bare JSON from another writer
        (_good_bytes()[:-5], "corrupt JSON"),
        (bytes((codec.FORMAT_PLAIN,)) + b"[1, 2, 3]", "not an envelope"),
        (bytes((codec.FORMAT_PLAIN,)) + b'{"v":1,"t":"x","d":0,"e":0,"n":false}', "not numbers"),
        (bytes((codec.FORMAT_PLAIN,)) + b'{"v":1,"t":1,"d":true,"e":0,"n":false}', "not numbers"),
        (bytes((codec.FORMAT_PLAIN,)) + b'{"v":1,"t":1,"d":0,"e":0,"n":1}', "not a boolean"),
        (bytes((codec.FORMAT_PLAIN,)) + b'{"v":1,"t":1,"d":0,"e":0,"n":true}', "error payload"),
        (bytes((codec.FORMAT_ZLIB,)) + b"not zlib at all", "corrupt compressed"),
    ],
    ids=[
        "empty",
        "pickle",
        "older-schema",
        "bare-json",
        "truncated-plain",
        "not-envelope",
        "string-time",
        "bool-delta",
        "int-flag",
        "negative-without-payload",
        "bad-zlib",
    ],
)
def test_foreign_or_corrupt_bytes_are_codec_errors(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(data)


def test_truncated_compressed_body_is_a_codec_error() -> None:
    data = _good_bytes([{"chembl_id": f"CHEMBL{i}"} for i in range(300)])
    assert data[0] == codec.FORMAT_ZLIB
    with pytest.raises(CodecError, match="truncated"):
        decode(data[: len(data) // 2])


def test_flipped_bytes_never_decode_to_a_different_value() -> None:
    data = _good_bytes([{"chembl_id": f"CHEMBL{i}"} for i in range(300)])
    original = decode(data)
    for position in range(1, len(data), 7):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        try:
            decoded = decode(bytes(corrupt))
        except CodecError:
            continue
        assert decoded == original  # zlib's checksum makes this unreachable in practice


def test_inflating_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "MAX_DECODED_BYTES", 4096)
    bomb = bytes((codec.FORMAT_ZLIB,)) + zlib.compress(b" " * 100_000)
    with pytest.raises(CodecError, match="inflates past"):
        decode(bomb)


def test_decoded_size_is_the_serialized_json_length() -> None:
    for value in ({"a": 1}, {"hits": [{"chembl_id": f"CHEMBL{i}"} for i in range(500)]}):
        envelope = Envelope(value, 1.0, 0.5, 2.0)
        decoded, size = decode_sized(encode(envelope))
        assert decoded == envelope
        assert size == len(serialize(envelope))
