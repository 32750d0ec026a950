"""Cross-worker invalidation without Redis: the message format, the TieredCache side, setup.

The pub/sub itself (two workers on a real Redis, Redis killed) is in
tests/integration/test_cache_broadcast.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from chemagent.cache.broadcast import (
    Apply,
    Invalidation,
    InvalidationBroadcast,
    Message,
    decode_message,
    encode_message,
)
from chemagent.cache.keys import SCHEMA, CacheNamespace
from chemagent.cache.l1 import L1Cache
from chemagent.cache.l2 import RedisL2
from chemagent.cache.policy import CachePolicy
from chemagent.cache.setup import build_cache
from chemagent.cache.tiered import TieredCache
from chemagent.execution.step import Step
from chemagent.settings import Settings
from tests.unit.test_cache_tiered import FakeClock, FakeL2

pytestmark = pytest.mark.anyio

NS = CacheNamespace(SCHEMA, "2026.09.1", "chembl-approved", "36")
PROPS = Step.of("properties", "CCO")
SIM = Step.of("similarity", "CCO", threshold=0.7)


@pytest.mark.parametrize(
    "target",
    [Invalidation(key=NS.prefix + "properties:1:abc"), Invalidation(kind="properties"),
     Invalidation(everything=True)],
)  # fmt: skip
def test_messages_round_trip(target: Invalidation) -> None:
    message = Message("0123abcd", NS.prefix, target)
    data = encode_message(message)
    assert decode_message(data) == message
    assert decode_message(data.decode()) == message


def test_wire_format() -> None:
    data = encode_message(Message("a1", NS.prefix, Invalidation(kind="similarity")))
    assert orjson.loads(data) == {"origin": "a1", "ns": NS.prefix, "kind": "similarity"}
    data = encode_message(Message("a1", NS.prefix, Invalidation(everything=True)))
    assert orjson.loads(data) == {"origin": "a1", "ns": NS.prefix, "all": True}


@pytest.mark.parametrize(
    ("data", "why"),
    [(b"not json", "not JSON"), (b"[1, 2]", "JSON object"),
     (b'{"ns": "x", "all": true}', "string 'origin'"),
     (b'{"origin": 1, "ns": "x", "all": true}', "string 'origin'"),
     (b'{"origin": "o", "ns": "x"}', "exactly one"),
     (b'{"origin": "o", "ns": "x", "key": "k", "kind": "p"}', "exactly one"),
     (b'{"origin": "o", "ns": "x", "kind": 3}', "must be strings"),
     (b'{"origin": "o", "ns": "x", "all": "yes"}', "'all' must be true"),
     (b'{"origin": "o", "ns": "x", "all": false}', "exactly one")],
)  # fmt: skip
def test_malformed_messages_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_message(data)


def test_an_invalidation_names_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Invalidation()
    with pytest.raises(ValueError, match="exactly one"):
        Invalidation(key="k", everything=True)


class FakeBroadcast:
    """Records what the cache publishes; ``deliver`` plays another worker's message."""

    def __init__(self) -> None:
        self.published: list[Invalidation] = []
        self.apply: Apply | None = None
        self.closed = False

    async def publish(self, invalidation: Invalidation) -> bool:
        self.published.append(invalidation)
        return True

    def start(self, apply: Apply) -> None:
        self.apply = apply

    async def aclose(self) -> None:
        self.closed = True

    def deliver(self, invalidation: Invalidation) -> None:
        assert self.apply is not None, "the cache did not start the broadcast"
        self.apply(invalidation)


async def value(result: Any) -> Any:
    return result


async def started_cache() -> tuple[TieredCache, FakeL2, FakeBroadcast]:
    clock = FakeClock()
    l2 = FakeL2(clock)
    broadcast = FakeBroadcast()
    cache = TieredCache(
        L1Cache(100, clock=clock), l2, CachePolicy(), NS, clock=clock, broadcast=broadcast
    )
    await cache.start()
    for step in (PROPS, SIM):
        await cache.get_or_compute(step, 1, lambda: value({"x": 1}))
    return cache, l2, broadcast


async def test_invalidate_publishes_what_it_removed() -> None:
    cache, _, broadcast = await started_cache()
    key = cache.key_for(PROPS, 1)
    assert await cache.invalidate(key=key) == 1
    assert await cache.invalidate(kind="similarity") == 1
    assert await cache.invalidate(everything=True) == 0
    assert broadcast.published == [
        Invalidation(key=key),
        Invalidation(kind="similarity"),
        Invalidation(everything=True),
    ]
    with pytest.raises(ValueError, match="not a key of this cache namespace"):
        await cache.invalidate(key="chemagent:v1:other:properties:1:x")
    assert len(broadcast.published) == 3  # a refused call publishes nothing
    await cache.aclose()
    assert broadcast.closed


async def test_another_workers_invalidation_clears_only_this_l1() -> None:
    cache, l2, broadcast = await started_cache()
    props, sim = cache.key_for(PROPS, 1), cache.key_for(SIM, 1)
    broadcast.deliver(Invalidation(key=props))
    assert cache.l1.get(props) is None
    assert cache.l1.get(sim) is not None
    assert props in l2.data  # L2 is the sender's business
    assert await cache.get_or_compute(PROPS, 1, lambda: value("unused")) == ({"x": 1}, "l2")

    broadcast.deliver(Invalidation(kind="similarity"))
    assert cache.l1.get(sim) is None
    assert cache.l1.get(props) is not None
    broadcast.deliver(Invalidation(key="chemagent:v1:0ther0build00:properties:1:x"))
    assert cache.l1.get(props) is not None  # another namespace's key: nothing of ours
    broadcast.deliver(Invalidation(everything=True))
    assert len(cache.l1) == 0
    assert not broadcast.published  # applying never re-publishes


def test_without_redis_there_is_no_broadcast() -> None:
    cache = build_cache(Settings(redis_url=None), namespace=NS, known_kinds=["properties"])
    assert cache.broadcast is None


async def test_with_redis_the_broadcast_shares_the_l2_guard() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", cache_l1_max_bytes=4096)
    cache = build_cache(settings, namespace=NS, known_kinds=["properties"])
    try:
        broadcast = cache.broadcast
        assert isinstance(broadcast, InvalidationBroadcast)
        assert isinstance(cache.l2, RedisL2)
        assert broadcast.channel == NS.prefix + "invalidations"
        assert broadcast.channel.startswith("chemagent:v1:")
        assert broadcast.stats()["subscribed"] == 0  # nothing started, nothing connected
        assert cache.l1.max_bytes == 4096
    finally:
        await cache.aclose()
        await cache.l2.aclose()
