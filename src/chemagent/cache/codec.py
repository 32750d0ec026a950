"""The value codec of the step cache: explicit bytes, never pickle.

A cached value crosses the network (Redis is shared by every pod), so it is JSON
(orjson) wrapped in an :class:`Envelope` that carries what the read path needs: when it
was computed, how long the computation took (XFetch's ``delta``), when it stops being
fresh, and whether it is a negative ("not found") entry. Layout::

    byte 0      format header: FORMAT_PLAIN (orjson) or FORMAT_ZLIB (zlib of the orjson)
    bytes 1..   {"v": value, "t": computed_at, "d": delta, "e": expires_at, "n": negative}

Bodies above :data:`COMPRESS_ABOVE` bytes are compressed with zlib level 1: 1,000 library
records (898 KB of JSON) become 215 KB in 6.6 ms, where level 6 takes 20.8 ms for 173 KB.
Anything else in byte 0 (an older schema, another program's value), a truncated or
corrupt body, or an envelope with missing or mistyped fields raises :class:`CodecError`:
the caller treats it as a miss, counts it and overwrites it.

Values must be JSON-like (dict with str keys, list, str, int within 64 bits, float, bool,
None). Tuples come back as lists. NaN and infinities come back as None (orjson writes
them as ``null``; checking every float of a 1,000-record result would cost more than
encoding it, and the HTTP layer refuses NaN anyway).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import orjson

FORMAT_PLAIN = 0xC1
"""Header of an uncompressed schema-1 envelope."""
FORMAT_ZLIB = 0xC2
"""Header of a zlib-compressed schema-1 envelope."""
COMPRESS_ABOVE = 1024
"""Bodies longer than this many bytes are compressed."""
MAX_DECODED_BYTES = 64 * 1024 * 1024
"""A compressed body inflating past this is refused (a zip bomb or a corrupt value)."""
_ZLIB_LEVEL = 1


class CodecError(ValueError):
    """A value could not be encoded, or bytes are not a value this codec wrote."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A cached value and the metadata the read path needs.

    Attributes:
        value: the step's JSON-like result; for a negative entry, the error payload.
        computed_at: wall-clock time (epoch seconds) when the computation finished.
        delta: how long the computation took, in seconds (XFetch's ``delta``).
        expires_at: wall-clock time after which the value is no longer fresh.
        negative: True when ``value`` is a cached "not found" error, not a result.
    """

    value: Any
    computed_at: float
    delta: float
    expires_at: float
    negative: bool = False


def encode(envelope: Envelope) -> bytes:
    """Serialize ``envelope`` to bytes: ``frame(serialize(envelope))``.

    Raises:
        CodecError: the value is not JSON-like (see :func:`serialize`).
    """
    return frame(serialize(envelope))


def serialize(envelope: Envelope) -> bytes:
    """The envelope's JSON body (the fast half of :func:`encode`: ~1.5 ms per MB).

    Raises:
        CodecError: the value is not JSON-like (an object orjson cannot serialize, a
            non-string key, an integer beyond 64 bits).
    """
    fields = {
        "v": envelope.value,
        "t": envelope.computed_at,
        "d": envelope.delta,
        "e": envelope.expires_at,
        "n": envelope.negative,
    }
    try:
        return orjson.dumps(fields)
    except orjson.JSONEncodeError as exc:
        raise CodecError(f"value is not JSON-serializable: {exc}") from exc


def frame(body: bytes) -> bytes:
    """Header + body, compressed above :data:`COMPRESS_ABOVE` (~7 ms per MB of JSON).

    zlib releases the GIL, so a caller may run this in a thread for large bodies.
    """
    if len(body) > COMPRESS_ABOVE:
        return bytes((FORMAT_ZLIB,)) + zlib.compress(body, _ZLIB_LEVEL)
    return bytes((FORMAT_PLAIN,)) + body


def decode(data: bytes) -> Envelope:
    """Parse bytes written by :func:`encode`.

    Raises:
        CodecError: empty, foreign or older-format bytes, a corrupt or truncated body, or
            an envelope whose fields are missing or of the wrong type.
    """
    return decode_sized(data)[0]


def decode_sized(data: bytes) -> tuple[Envelope, int]:
    """:func:`decode`, also giving the length of the JSON body (uncompressed): the size
    estimate L1 uses, as ``len(serialize(envelope))`` gives it on the way in.

    Raises:
        CodecError: as :func:`decode`.
    """
    if not data:
        raise CodecError("empty value")
    header, body = data[0], data[1:]
    if header == FORMAT_ZLIB:
        body = _inflate(body)
    elif header != FORMAT_PLAIN:
        raise CodecError(f"unknown format header 0x{header:02x}")
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"corrupt JSON body: {exc}") from exc
    return _envelope_of(fields), len(body)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise CodecError(f"corrupt compressed body: {exc}") from exc
    if inflater.unconsumed_tail:
        raise CodecError(f"compressed body inflates past {MAX_DECODED_BYTES} bytes")
    if not inflater.eof:
        raise CodecError("truncated compressed body")
    return out


def _envelope_of(fields: Any) -> Envelope:
    if not isinstance(fields, dict) or set(fields) != {"v", "t", "d", "e", "n"}:
        raise CodecError("not an envelope")
    numbers = [fields["t"], fields["d"], fields["e"]]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        raise CodecError("envelope times are not numbers")
    if not isinstance(fields["n"], bool):
        raise CodecError("envelope negative flag is not a boolean")
    if fields["n"] and not isinstance(fields["v"], dict):
        raise CodecError("negative envelope without an error payload")
    return Envelope(
        value=fields["v"],
        computed_at=float(fields["t"]),
        delta=float(fields["d"]),
        expires_at=float(fields["e"]),
        negative=fields["n"],
    )
