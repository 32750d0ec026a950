"""Sessions in-process, and intents through JSON (what sessions store)."""

from __future__ import annotations

import anyio
import orjson
import pytest

from chemagent.cache.sessions import HISTORY, SESSION_ID, MemorySessions
from chemagent.query.intent import parse
from chemagent.query.serialize import intent_from_dict, intent_to_dict

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "query",
    [
        "What is CHEMBL25?",
        "Which has higher LogP: aspirin or ibuprofen?",
        "compounds similar to ibuprofen between 0.7 and 0.9, top 5",
        "MW < 500 AND LogP < 5 AND HBD < 5",
        "find compounds similar to ibuprofen, get their properties and keep MW < 300, rank by QED",
        "drugs containing a sulfonamide",
        "threshold 1.5 similar to aspirin",
    ],
)
def test_intent_survives_json(query: str) -> None:
    intent = parse(query)
    stored = orjson.loads(orjson.dumps(intent_to_dict(intent)))
    assert intent_from_dict(stored, query) == intent


def test_intent_from_dict_rejects_garbage() -> None:
    with pytest.raises((KeyError, ValueError)):
        intent_from_dict({"kind": "teleport"})
    with pytest.raises(KeyError):
        intent_from_dict({})


async def test_memory_sessions_keep_the_last_exchanges_in_order() -> None:
    store = MemorySessions(ttl=60, max_sessions=10)
    for n in range(HISTORY + 3):
        await store.append("s1", {"query": f"q{n}"})
    history = await store.history("s1")
    assert [e["query"] for e in history] == [f"q{n}" for n in range(3, HISTORY + 3)]
    assert await store.history("unknown") == []


async def test_memory_sessions_expire_and_are_bounded() -> None:
    store = MemorySessions(ttl=0.05, max_sessions=2)
    await store.append("a", {"query": "1"})
    await anyio.sleep(0.08)
    assert await store.history("a") == []
    for sid in ("x", "y", "z"):
        await store.append(sid, {"query": sid})
    assert len(store) == 2
    assert await store.history("x") == []  # the least recently used went first


async def test_memory_sessions_return_copies() -> None:
    store = MemorySessions(ttl=60, max_sessions=10)
    await store.append("s", {"query": "q", "intent": {"kind": "lookup"}})
    (first,) = await store.history("s")
    first["query"] = "changed"
    (again,) = await store.history("s")
    assert again["query"] == "q"


@pytest.mark.parametrize(
    ("session_id", "ok"),
    [("abc", True), ("a" * 128, True), ("uuid-1.2:3_x", True), ("", False), ("a" * 129, False),
     ("a b", False), ("é", False), ("a/b", False)],
)  # fmt: skip
def test_session_id_shape(session_id: str, ok: bool) -> None:
    assert bool(SESSION_ID.match(session_id)) is ok
