"""The multi-tier cache as users see it, over HTTP, against a real ``redis-server``.

Issue 4's integration list: two app instances sharing one Redis; Redis killed in the
middle of traffic and restarted; a blackholed Redis; two server processes behind the
cross-pod lock; a version change that must not serve the old entries. Apps run in-process
where only the cache is under test, and as real ``chemagent serve`` processes where the
issue says "mid-traffic" or "two processes". Every wait polls against a deadline.

Measured numbers are printed (run with ``-s``): worst and p99 latency while Redis is
down, blackholed overhead per request, computations across two processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from chemagent.api.state import AppState
from chemagent.app import create_app
from chemagent.cache.policy import LOCAL_ONLY
from chemagent.execution.runner import StepRecord
from chemagent.settings import Settings
from tests.blackhole import Blackhole, blackhole
from tests.integration.cache_support import (
    Request,
    Traffic,
    fresh_smiles,
    metric,
    quantile,
    scrape,
    wait_for,
)
from tests.integration.conftest import ServeFn, ServerProcess
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

DEADLINE = 0.05  # CHEMAGENT_REDIS_TIMEOUT_SECONDS default: the most one Redis call waits
BREAKER_FAILURES = 5  # CHEMAGENT_REDIS_BREAKER_FAILURES default
NAPROXEN = "COc1ccc2cc(C(C)C(=O)O)ccc2c1"
UNLISTED = "CCCCCCCCCCCCCCO"  # tetradecanol: not in the library, so properties are computed
UNLISTED_TOO = "OCCCCCCCCCCCCCCCCO"  # hexadecanediol, neither
L2_HIT = {"tier": "l2", "result": "hit"}


# --- in-process apps ---------------------------------------------------------------------


def app_settings(**overrides: Any) -> Settings:
    """The bundled library, offline, whatever CHEMAGENT_* the shell has set."""
    return Settings(**{"library": None, "chembl_url": None, "redis_url": None, **overrides})


class App:
    """An in-process app (lifespan running) and every step record its runner produced."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.state: AppState = client.app_state["chemagent"]
        self.records: list[StepRecord] = []
        self.state.runner.observers.append(self.records.append)

    def tiers(self, *kinds: str) -> list[str]:
        """Where each step of ``kinds`` came from (l1, l2, miss), in order."""
        return [r.cache for r in self.records if r.step.kind in kinds]

    @property
    def computes(self) -> int:
        return int(self.state.cache.stats()["computes"])


def open_app(stack: ExitStack, **overrides: Any) -> App:
    return App(stack.enter_context(TestClient(create_app(app_settings(**overrides)))))


def call(app: App, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = app.client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    answer.pop("trace_id", None)
    answer.pop("session_id", None)
    return answer


SHARED_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/similarity", {"query": NAPROXEN, "threshold": 0.4}),
    ("POST", "/v1/properties", {"smiles": UNLISTED}),
]
L2_KINDS = ("parse", "resolve", "similarity", "properties")


def test_two_apps_share_one_redis_a_computes_b_serves_from_l2(
    redis_server: RedisServer,
) -> None:
    with ExitStack() as stack:
        a = open_app(stack, redis_url=redis_server.url)
        b = open_app(stack, redis_url=redis_server.url)
        assert a.state.cache.namespace.prefix == b.state.cache.namespace.prefix

        from_a = [call(a, *c) for c in SHARED_CALLS]
        assert a.tiers("similarity", "properties") == ["miss", "miss"]
        assert a.computes == len(a.records)  # everything computed on A

        from_b = [call(b, *c) for c in SHARED_CALLS]
        assert from_b == from_a
        assert b.tiers("similarity", "properties") == ["l2", "l2"]
        assert b.tiers(*L2_KINDS) == ["l2"] * len(b.tiers(*L2_KINDS))
        # B computed only the kinds that never go to Redis (ID lookups, ~16 µs).
        local = [r for r in b.records if r.cache == "miss"]
        assert {r.step.kind for r in local} <= LOCAL_ONLY
        assert b.computes == len(local)
        assert b.state.cache.stats()["l2"]["hits"] == len(b.tiers(*L2_KINDS)) >= 2

        # The same through plain-English queries (steps not run above): every step of B's
        # answer came from L2.
        for query in ("Find compounds similar to naproxen", f"Properties of {UNLISTED_TOO}"):
            on_a = call(a, "POST", "/v1/query", {"query": query, "verbose": True})
            computed = b.computes
            on_b = call(b, "POST", "/v1/query", {"query": query, "verbose": True})
            assert [s["cache"] for s in on_a["steps"]] == ["miss"] * len(on_a["steps"])
            assert [s["cache"] for s in on_b["steps"]] == ["l2"] * len(on_b["steps"])
            assert on_b["metrics"]["steps_cached"] == len(on_b["steps"]) == 2
            assert b.computes == computed
            assert on_b["result"] == on_a["result"]
            assert on_b["answer"] == on_a["answer"]


def test_another_version_never_reads_the_first_ones_entries(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An RDKit upgrade changes the key namespace: the new pods compute, never read old
    entries; pods on the old version still share theirs."""
    with ExitStack() as stack:
        old = open_app(stack, redis_url=redis_server.url)
        answers = [call(old, *c) for c in SHARED_CALLS]
        assert old.tiers("similarity", "properties") == ["miss", "miss"]

        with monkeypatch.context() as patch:  # read once, when build_state makes the cache
            patch.setattr("chemagent.app.RDKIT_VERSION", "2099.03.1")
            new = open_app(stack, redis_url=redis_server.url)
        same = open_app(stack, redis_url=redis_server.url)
        assert new.state.cache.namespace.prefix != old.state.cache.namespace.prefix
        assert same.state.cache.namespace.prefix == old.state.cache.namespace.prefix

        assert [call(new, *c) for c in SHARED_CALLS] == answers  # same chemistry here
        assert new.tiers("similarity", "properties") == ["miss", "miss"]
        assert new.tiers(*L2_KINDS) == ["miss"] * len(new.tiers(*L2_KINDS))
        assert new.state.cache.stats()["l2"]["hits"] == 0
        assert new.computes == len(new.records)

        assert [call(same, *c) for c in SHARED_CALLS] == answers
        assert same.tiers("similarity", "properties") == ["l2", "l2"]

        with Redis.from_url(redis_server.url) as raw:
            keys = [k.decode() for k in raw.scan_iter(match="chemagent:*", count=500)]
        for app in (old, new):
            prefix = app.state.cache.namespace.prefix
            assert sum(k.startswith(prefix) for k in keys) >= len(L2_KINDS), keys


# --- real server processes ---------------------------------------------------------------

KNOWN_SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "CC(=O)Nc1ccc(O)cc1",
    NAPROXEN,
    "CN1C=NC2=C1C(=O)N(C)C(=O)N2C",
    "OC(=O)c1ccccc1O",
    "CN(C)CCCN1c2ccccc2CCc2ccccc21",
    "Clc1ccc2c(c1)C(=NCC(=O)N2)c1ccccc1",
    "CCN(CC)CC(=O)Nc1c(C)cccc1C",
    "O=C(O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O",
    "NC(=O)c1cccnc1",
]
KNOWN_IDS = ["CHEMBL25", "CHEMBL521", "CHEMBL112", "CHEMBL154", "CHEMBL113", "CHEMBL139"]


class Mix:
    """A deterministic request mix: cached and new SMILES, ID lookups, similarity."""

    def __init__(self) -> None:
        self.n = 0
        self.fresh = fresh_smiles()

    def __call__(self) -> Request:
        self.n += 1
        n, kind = divmod(self.n, 4)
        if kind == 0:
            return "POST", "/v1/properties", {"smiles": KNOWN_SMILES[n % len(KNOWN_SMILES)]}
        if kind == 1:
            return "POST", "/v1/properties", {"smiles": next(self.fresh)}
        if kind == 2:
            return "GET", f"/v1/compounds/{KNOWN_IDS[n % len(KNOWN_IDS)]}", None
        return "POST", "/v1/similarity", {"query": KNOWN_IDS[n % len(KNOWN_IDS)]}


def redis_state(http: httpx.Client) -> str:
    ready = http.get("/readyz")
    assert ready.status_code == 200, ready.text
    state: str = ready.json()["redis"]
    return state


def serve_with_redis(serve: ServeFn, url: str, **env: str) -> ServerProcess:
    return serve(env={"CHEMAGENT_REDIS_URL": url, "CHEMAGENT_LOG_LEVEL": "WARNING", **env})


def test_redis_killed_mid_traffic_every_request_succeeds_and_l2_returns(
    serve: ServeFn, redis_server: RedisServer
) -> None:
    """A server under a steady mix of requests loses Redis (SIGKILL), then gets it back:
    every response is 200, /readyz stays 200 saying degraded, then ok, and L2 is read
    again within seconds of the restart."""
    # L1 far smaller than the mix's working set (~80 entries per rotation): the rotation
    # is served by L2 while Redis is up, and must be recomputed while it is down.
    server = serve_with_redis(
        serve,
        redis_server.url,
        CHEMAGENT_CACHE_L1_SIZE="16",
        CHEMAGENT_REDIS_BREAKER_RESET_SECONDS="0.5",
    )
    traffic = Traffic(server.url, Mix(), threads=3).start()
    try:
        with server.client(timeout=10.0) as http:
            wait_for(
                lambda: scrape(http, "chemagent_cache_requests_total", **L2_HIT) >= 20,
                15.0,
                "L2 hits while Redis is up",
            )
            traffic.phase = "up"
            wait_for(lambda: traffic.count("up") >= 60, 15.0, "60 requests with Redis up")
            assert redis_state(http) == "ok"

            traffic.phase = "down"
            redis_server.kill()
            wait_for(lambda: redis_state(http) == "degraded", 5.0, "/readyz says degraded")
            wait_for(lambda: traffic.count("down") >= 150, 20.0, "150 requests with Redis down")
            assert redis_state(http) == "degraded"

            hits_before = scrape(http, "chemagent_cache_requests_total", **L2_HIT)
            redis_server.start()
            traffic.phase = "back"
            recovered = wait_for(lambda: redis_state(http) == "ok", 5.0, "/readyz says ok")
            reused = wait_for(
                lambda: (
                    scrape(http, "chemagent_cache_requests_total", **L2_HIT) >= hits_before + 10
                ),
                5.0,
                "L2 hits growing again after the restart",
            )
    finally:
        traffic.stop()

    failed = [s for s in traffic.samples if s.status != 200]
    assert not failed, failed[:5]
    down = [s.seconds for s in traffic.of("down")]
    up = [s.seconds for s in traffic.of("up")]
    worst, p99 = max(down), quantile(down, 0.99)
    assert worst < 1.0
    print(
        f"\nRedis killed mid-traffic: {len(traffic.samples)} requests, all 200; with Redis "
        f"down worst {worst * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(down)} "
        f"(up: worst {max(up) * 1e3:.1f} ms, p99 {quantile(up, 0.99) * 1e3:.1f} ms); "
        f"after restart /readyz ok in {recovered:.2f} s, L2 hits again by "
        f"{recovered + reused:.2f} s"
    )


def l2_calls(http: httpx.Client) -> float:
    """Redis calls this process made (timed whether they succeeded or not); calls skipped
    by the open breaker are not counted."""
    return scrape(http, "chemagent_cache_operation_duration_seconds_count", tier="l2")


def cold_requests(count: int) -> list[Request]:
    """``count`` requests nobody sent before: new property panels, new similarity
    thresholds, ID lookups (L1-only: no Redis call)."""
    fresh = fresh_smiles()
    requests: list[Request] = []
    for n in range(count):
        if n % 4 == 2:
            requests.append(("GET", f"/v1/compounds/{KNOWN_IDS[n % len(KNOWN_IDS)]}", None))
        elif n % 4 == 3:
            body = {"query": KNOWN_IDS[n % len(KNOWN_IDS)], "threshold": 0.3 + n / 100}
            requests.append(("POST", "/v1/similarity", body))
        else:
            requests.append(("POST", "/v1/properties", {"smiles": next(fresh)}))
    return requests


def timed(http: httpx.Client, request: Request) -> tuple[float, Any]:
    method, path, body = request
    started = time.perf_counter()
    response = http.request(method, path, json=body)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    answer = response.json()
    answer.pop("trace_id", None)
    return seconds, answer


@pytest.fixture
def silent() -> Iterator[Blackhole]:
    with blackhole() as server:
        yield server


def test_blackholed_redis_costs_at_most_the_deadline_until_the_breaker_opens(
    serve: ServeFn, silent: Blackhole
) -> None:
    """Redis accepts connections and never answers: each call waits its 50 ms deadline,
    five in a row open the breaker, and from then on no request waits on Redis."""
    plain = serve(env={"CHEMAGENT_LOG_LEVEL": "WARNING"})
    # No probe during the test (default 5 s): after the breaker opens, nothing waits.
    holed = serve_with_redis(serve, silent.url, CHEMAGENT_REDIS_BREAKER_RESET_SECONDS="60")
    requests = cold_requests(24)
    rows = []  # (seconds without Redis, seconds blackholed, Redis calls made meanwhile)
    with plain.client() as base, holed.client() as http:
        assert redis_state(http) == "ok"  # nothing has called Redis yet
        calls = l2_calls(http)
        for request in requests:
            alone, expected = timed(base, request)
            seconds, answer = timed(http, request)
            assert answer == expected
            rows.append((alone, seconds, l2_calls(http) - calls))
            calls += rows[-1][2]
        assert redis_state(http) == "degraded"
        errors = scrape(http, "chemagent_cache_requests_total", tier="l2", result="error")
        waits = http.get("/metrics").text

    opened = 1 + max(i for i, (*_, n) in enumerate(rows) if n)  # the last call to Redis
    waited = [(s - alone, n) for alone, s, n in rows if n]
    after = [s - alone for alone, s, _ in rows[opened:]]
    assert calls == BREAKER_FAILURES  # then the breaker skipped Redis for every request
    assert opened <= len(rows) // 2
    assert errors >= len(rows) // 2  # the L2 lookups went on, answered by the breaker
    # One connection per failed call, plus the invalidation subscriber's own (it may
    # reconnect once while the test runs: its ping check gives up on a silent server).
    assert 1 <= len(silent.accepted) <= BREAKER_FAILURES + 2
    # As the server timed them: every call waited for the deadline, and not much longer.
    buckets = "chemagent_cache_operation_duration_seconds_bucket"
    assert metric(waits, buckets, tier="l2", le="0.025") == 0
    assert metric(waits, buckets, tier="l2", le="0.1") == BREAKER_FAILURES
    for overhead, n in waited:  # so each request waited at most its calls' deadlines
        assert overhead < n * DEADLINE + 0.25, rows
    assert quantile(after, 0.5) < 0.01, rows
    assert max(after) < 0.25, rows
    print(
        f"\nBlackholed Redis: {len(waited)} requests made the {calls:.0f} calls that opened "
        f"the breaker, adding {', '.join(f'{o * 1e3:.0f} ms ({n:.0f} calls)' for o, n in waited)}"
        f" (deadline {DEADLINE * 1e3:.0f} ms); the next {len(after)} added median "
        f"{quantile(after, 0.5) * 1e3:.1f} ms, worst {max(after) * 1e3:.1f} ms "
        f"(no-Redis median {quantile([r[0] for r in rows], 0.5) * 1e3:.1f} ms)"
    )


def counters(http: httpx.Client) -> dict[str, float]:
    """This process's similarity steps by tier, and its Redis SET and lock calls."""
    text = http.get("/metrics").text
    ops = "chemagent_cache_operation_duration_seconds_count"
    steps = {
        t: metric(text, "chemagent_step_duration_seconds_count", step="similarity", cache=t)
        for t in ("miss", "l2", "l1")
    }
    return {
        **steps,
        "sets": metric(text, ops, tier="l2", op="set"),
        "locks": metric(text, ops, tier="l2", op="lock"),
    }


def test_two_processes_on_one_redis_compute_a_cold_search_at_most_once_each(
    serve: ServeFn, redis_server: RedisServer
) -> None:
    """16 concurrent identical cold similarity searches, split across two processes:
    single-flight inside each, the Redis lock across them (always taken here: a search of
    the bundled library is faster than the lock's round trips, so by default it is not)."""
    servers = [
        serve_with_redis(serve, redis_server.url, CHEMAGENT_CACHE_LOCK_ABOVE_SECONDS="0")
        for _ in range(2)
    ]
    clients = [server.client() for server in servers]
    warm = {"query": "CHEMBL521", "threshold": 0.5}
    cold = {"query": "CHEMBL521", "threshold": 0.35}  # a search nobody ran before
    with ExitStack() as stack:
        for http in clients:
            stack.enter_context(http)
            # Resolving the query goes through the cache too: warm it, so the only value
            # written to Redis during the burst is the search's (one SET per computation).
            assert http.post("/v1/similarity", json=warm).status_code == 200
        before = [counters(http) for http in clients]
        gate = threading.Barrier(16)

        def fire(n: int) -> Any:
            with servers[n % 2].client() as http:
                http.get("/healthz")  # connected before the gate opens
                gate.wait(timeout=10)
                response = http.post("/v1/similarity", json=cold)
                assert response.status_code == 200, response.text
                return response.json()["results"]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(fire, range(16)))
        after = [counters(http) for http in clients]

    assert results[0]
    assert all(r == results[0] for r in results)
    delta = [{k: a[k] - b[k] for k in a} for a, b in zip(after, before, strict=True)]
    computed = [d["sets"] for d in delta]
    for d in delta:
        assert d["sets"] <= 1, delta  # at most one computation per process
        # One flight per process (single-flight), so at most one lock attempt; none when
        # the other process's value was already in Redis by the time this one missed L1.
        assert d["locks"] <= 1, delta
        assert d["miss"] + d["l2"] + d["l1"] == 8, delta
        assert (d["miss"] > 0) == (d["sets"] == 1), delta  # "miss" callers awaited our own
    assert 1 <= sum(computed) <= 2
    print(
        f"\nTwo processes, 16 concurrent cold searches: {sum(computed):.0f} computation(s) "
        f"in total ({', '.join(f'{c:.0f}' for c in computed)} per process); served from "
        + "; ".join(f"miss {d['miss']:.0f}, l2 {d['l2']:.0f}, l1 {d['l1']:.0f}" for d in delta)
    )


def test_delete_on_one_app_clears_the_other_apps_l1_at_once(redis_server: RedisServer) -> None:
    """DELETE /v1/cache reaches every worker's L1 through the broadcast, not after 300 s."""
    token = {"Authorization": "Bearer admin-token-for-tests"}
    with ExitStack() as stack:
        a = open_app(stack, redis_url=redis_server.url, admin_token="admin-token-for-tests")
        b = open_app(stack, redis_url=redis_server.url)
        for app in (a, b):
            wait_for(
                lambda app=app: app.state.cache.stats()["broadcast"]["subscribed"] == 1,
                5.0,
                "both workers subscribed to invalidations",
            )
        body = {"smiles": UNLISTED_TOO}
        call(b, "POST", "/v1/properties", body)
        call(b, "POST", "/v1/properties", body)
        assert b.tiers("properties")[-1] == "l1"

        cleared = a.client.delete("/v1/cache", params={"kind": "properties"}, headers=token)
        assert cleared.status_code == 200, cleared.text
        wait_for(
            lambda: b.state.cache.stats()["broadcast"]["received"] >= 1,
            2.0,
            "B received A's invalidation",
        )
        computes = b.computes
        call(b, "POST", "/v1/properties", body)
        assert b.tiers("properties")[-1] == "miss"  # not l1 (cleared), not l2 (deleted)
        assert b.computes == computes + 1
        assert a.client.get("/v1/cache/stats").json()["broadcast"]["published"] == 1
