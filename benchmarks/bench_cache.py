"""The step cache (issue 4): L1 hit, L2 hit and miss, over HTTP, under Zipf, and Redis itself.

(a) In-process: ``StepRunner.run_cached`` of real app states (``chemagent.app.build_state``)
    for the ``properties`` and ``similarity`` steps of library compounds, one compound at a
    time: a miss then L1 hits on a state with L1 on and no Redis; a miss then L2 hits on a
    state with L1 off (``cache_l1_size=0``) and a real ``redis-server``; and the same step
    through a runner without a cache (the computation alone). The three blocks rotate
    compound by compound, so noise hits them alike. Every call's tier is checked.

(b) HTTP: three ``chemagent serve`` processes: one with L1 only, two sharing the Redis.
    For each compound never requested before: ``POST /v1/properties {smiles}`` (or
    ``POST /v1/similarity {query}``) cold then twice warm on the L1-only server; cold on
    the first Redis server (it computes and writes L2), then twice on the second (an L2
    hit, then an L1 hit). The servers' ``chemagent_step_duration_seconds{cache}`` counts
    are checked to say exactly that.

(c) Zipf: ``POST /v1/properties``-shaped requests (a ``parse`` then a ``properties`` step)
    for library compounds drawn from a Zipf distribution (s = 1.0 and 1.2, seeded; rank
    -> compound by a seeded permutation). Hit ratios come from a real ``TieredCache``
    (``L1Cache`` of each size, ``DisabledL2``) after a warm-up, with a free computation
    (the cache's bookkeeping is real, the chemistry is not needed to count hits). The
    throughput gain is measured end to end at one L1 size with the real runner and
    computation, interleaved chunk by chunk with the same requests run without a cache;
    for the other sizes it is the gain expected from the hit ratio and those measured
    hit and miss costs.

(d) Redis round trip: ``RedisL2.get`` (the app's L2 client: deadline, breaker, telemetry)
    and a bare ``redis.asyncio.Redis.get`` of a 1 KB and a 100 KB value, one client,
    sequential, call by call interleaved, before and after ``redis-benchmark -t get -c 1``
    on the same ``redis-server`` and key.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import io
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness import STAT_HEADER, free_port, md_table, ratio, serve, stat_row, stats_ms

SEED = 20261121
HTTP_GOAL = 5.0  # issue 4: warm property panel >= 5x faster than cold over HTTP
ZIPF_S = (1.0, 1.2)
L1_SIZES = (100, 500, 1000, 2500, 10_000)
MEASURED_SIZE = 1000  # the L1 size whose throughput gain is measured end to end
THRESHOLD = 0.7
VALUE_SIZES = (1000, 100_000)
IN_PROCESS_COUNTS = (150, 10)  # (measured, warm-up) compounds per step kind in (a)
BENCH_KEY = "key:__rand_int__"  # redis-benchmark's GET key when -r is not given
# Every server: no warm file, so nothing is cached before the benchmark asks.
_NO_WARM_FILE = {"CHEMAGENT_CACHE_WARM_FILE": ""}
LOCAL_ENV = {**_NO_WARM_FILE, "CHEMAGENT_REDIS_URL": "", "CHEMAGENT_CACHE_L1_SIZE": "10000"}


def _log(text: str) -> None:
    print(f"[cache] {text}", file=sys.stderr, flush=True)


def _paired_median_ms(a: list[float], b: list[float]) -> float:
    """Median of the per-item differences a - b, in ms."""
    return round(statistics.median(x - y for x, y in zip(a, b, strict=True)) * 1000.0, 4)


def _rows(library: Any, count: int, offset: int) -> list[int]:
    """``count`` library rows with distinct parents, from one seeded shuffle, starting at
    ``offset``. Parts take disjoint slices, so none finds another's compounds in Redis, and
    no two compounds share a parent (salts of one drug would hit the same similarity key)."""
    order = list(range(len(library)))
    random.Random(SEED).shuffle(order)
    seen: set[str] = set()
    distinct = []
    for row in order:
        if library.parent_smiles[row] not in seen:
            seen.add(library.parent_smiles[row])
            distinct.append(row)
    if offset + count > len(distinct):
        raise ValueError(f"{len(distinct)} distinct parents; asked for {offset + count}")
    return distinct[offset : offset + count]


# --------------------------------------------------------------------------- redis-server


@dataclass
class RedisProcess:
    """A ``redis-server`` on a free loopback port, started on first use, killed on exit."""

    workdir: tempfile.TemporaryDirectory[str] | None = None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    command: list[str] = field(default_factory=list)

    def __enter__(self) -> RedisProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.workdir is not None:
            self.workdir.cleanup()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, starting the server if it is not running."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        return f"redis://127.0.0.1:{self.port}/0"

    def fresh_url(self) -> str:
        """The URL of an empty Redis (FLUSHALL): each part starts from nothing."""
        url = self.url
        self._send(b"FLUSHALL\r\n", b"+OK")
        return url

    def version(self) -> str:
        done = subprocess.run([self.command[0], "--version"], capture_output=True, text=True)
        return done.stdout.strip()

    def _start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run scripts/install-system-deps.sh")
        self.workdir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        self.port = free_port()
        self.command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.workdir.name,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                self._send(b"PING\r\n", b"+PONG")
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def _send(self, command: bytes, expect: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(command)
            reply = sock.recv(64)
        if not reply.startswith(expect):
            raise OSError(f"redis answered {reply!r} to {command!r}")


# --------------------------------------------------------------------------- (a) in-process


def _settings(**overrides: Any) -> Any:
    from chemagent.settings import Settings

    return Settings(cache_warm_file=None, **overrides)


async def _timed(runner: Any, step: Any, expect: str, into: list[float]) -> None:
    """Time one ``run_cached``; raise unless the value came from tier ``expect``."""
    started = time.perf_counter()
    _, tier = await runner.run_cached(step)
    into.append(time.perf_counter() - started)
    if tier != expect:
        raise RuntimeError(f"{step.kind} {step.input[:40]}: expected tier {expect}, got {tier}")


async def _in_process_kind(
    steps: list[Any], local: Any, shared: Any, bare: Any, hits: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = collections.defaultdict(list)

    async def compute_only(step: Any) -> None:
        await _timed(bare, step, "miss", times["no_cache"])

    async def l1(step: Any) -> None:
        await _timed(local.runner, step, "miss", times["miss"])
        for _ in range(hits):
            await _timed(local.runner, step, "l1", times["l1_hit"])

    async def l2(step: Any) -> None:
        await _timed(shared.runner, step, "miss", times["miss_redis"])
        for _ in range(hits):
            await _timed(shared.runner, step, "l2", times["l2_hit"])

    blocks: list[Callable[[Any], Awaitable[None]]] = [compute_only, l1, l2]
    for i, step in enumerate(steps):
        for block in blocks[i % 3 :] + blocks[: i % 3]:
            await block(step)
    return times


def in_process(redis: RedisProcess, quick: bool = False) -> dict[str, Any]:
    """(a) L1 hit, L2 hit and miss through ``StepRunner.run_cached`` of real app states."""
    from chemagent.app import build_state
    from chemagent.execution.runner import StepRunner
    from chemagent.execution.step import Step
    from chemagent.observability.recorders import StepHistogram

    count, warm, hits = (30, 5, 2) if quick else (*IN_PROCESS_COUNTS, 3)
    local = build_state(_settings(redis_url=None, cache_l1_size=10_000))
    shared = build_state(_settings(redis_url=redis.fresh_url(), cache_l1_size=0))
    settings = local.settings
    bare = StepRunner(
        local.runner.context,
        local.executor,
        step_timeout=settings.step_timeout_seconds,
        max_pending=settings.max_workers * 64,
    )
    bare.observers.append(StepHistogram())
    lib = local.library
    rows = _rows(lib, 2 * (count + warm), 0)
    kinds = {
        "properties": [Step.of("properties", lib.smiles[r]) for r in rows[: count + warm]],
        "similarity": [
            Step.of("similarity", lib.parent_smiles[r], threshold=THRESHOLD)
            for r in rows[count + warm :]
        ],
    }

    async def measure() -> dict[str, dict[str, list[float]]]:
        await local.cache.start()
        await shared.cache.start()
        try:
            out = {}
            for kind, steps in kinds.items():
                await _in_process_kind(steps[:warm], local, shared, bare, hits)  # warm-up
                out[kind] = await _in_process_kind(steps[warm:], local, shared, bare, hits)
            return out
        finally:
            for state in (local, shared):
                await state.cache.aclose()
                await state.cache.l2.aclose()

    try:
        raw = asyncio.run(measure())
    finally:
        for state in (local, shared):
            state.executor.shutdown(wait=True)
    result: dict[str, Any] = {"compounds": count, "hit_repeats": hits, "kinds": {}}
    for kind, times in raw.items():
        stats = {k: stats_ms(v) for k, v in times.items()}
        result["kinds"][kind] = {
            "stats": stats,
            "ratios": {
                "miss_over_l1_p50": ratio(stats["miss"]["p50_ms"], stats["l1_hit"]["p50_ms"]),
                "miss_over_l2_p50": ratio(stats["miss"]["p50_ms"], stats["l2_hit"]["p50_ms"]),
                "miss_redis_over_l2_p50": ratio(
                    stats["miss_redis"]["p50_ms"], stats["l2_hit"]["p50_ms"]
                ),
            },
            "miss_minus_no_cache_ms": _paired_median_ms(times["miss"], times["no_cache"]),
            "miss_redis_minus_no_cache_ms": _paired_median_ms(
                times["miss_redis"], times["no_cache"]
            ),
        }
        s = stats
        _log(
            f"{kind}: L1 hit p50 {s['l1_hit']['p50_ms']:.4f} ms, L2 hit "
            f"{s['l2_hit']['p50_ms']:.3f} ms, miss {s['miss']['p50_ms']:.3f} ms, no cache "
            f"{s['no_cache']['p50_ms']:.3f} ms"
        )
    return result


# --------------------------------------------------------------------------- (b) HTTP


StepMetrics = dict[tuple[str, str], tuple[int, float]]


def _step_metrics(server: Any) -> StepMetrics:
    """Per (step, cache tier): how many ok steps the server ran and their total seconds,
    from its ``chemagent_step_duration_seconds`` histogram (/metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str], int] = collections.Counter()
    sums: dict[tuple[str, str], float] = collections.defaultdict(float)
    response = server.client.get("/metrics")
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        if family.name != "chemagent_step_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("outcome") != "ok":
                continue
            key = (sample.labels["step"], sample.labels["cache"])
            if sample.name.endswith("_count"):
                counts[key] += int(sample.value)
            elif sample.name.endswith("_sum"):
                sums[key] += float(sample.value)
    return {key: (n, sums[key]) for key, n in counts.items()}


def _delta(after: StepMetrics, before: StepMetrics) -> StepMetrics:
    out = {}
    for key, (n, total) in after.items():
        n0, total0 = before.get(key, (0, 0.0))
        if n > n0:
            out[key] = (n - n0, total - total0)
    return out


def _post(server: Any, path: str, body: dict[str, Any], into: list[float]) -> None:
    started = time.perf_counter()
    response = server.client.post(path, json=body)
    into.append(time.perf_counter() - started)
    if response.status_code != 200:
        raise RuntimeError(f"{path} {body} -> {response.status_code}: {response.text[:300]}")


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    step: str  # the step whose tier the servers' metrics must show
    body: Callable[[str], dict[str, Any]]


ENDPOINTS = (
    Endpoint("properties", "/v1/properties", "properties", lambda s: {"smiles": s}),
    Endpoint(
        "similarity",
        "/v1/similarity",
        "similarity",
        lambda s: {"query": s, "threshold": THRESHOLD},
    ),
)


def _http_endpoint(
    endpoint: Endpoint, smiles: list[str], servers: dict[str, Any], warm_repeats: int
) -> dict[str, list[float]]:
    local, first, second = servers["local"], servers["redis_a"], servers["redis_b"]
    times: dict[str, list[float]] = collections.defaultdict(list)

    def touch(server: Any) -> None:
        # Untimed: a server that idled while the others worked answers its next request
        # ~0.7 ms slower (section "platform"); no measurement below pays for that.
        server.client.get("/healthz").raise_for_status()

    def on_local(body: dict[str, Any]) -> None:
        touch(local)
        _post(local, endpoint.path, body, times["cold"])
        for _ in range(warm_repeats):
            _post(local, endpoint.path, body, times["warm_l1"])

    def on_redis(body: dict[str, Any]) -> None:
        touch(first)
        _post(first, endpoint.path, body, times["cold_redis"])
        touch(second)
        _post(second, endpoint.path, body, times["warm_l2"])
        _post(second, endpoint.path, body, times["warm_l1_redis"])

    for i, text in enumerate(smiles):
        body = endpoint.body(text)
        for block in (on_local, on_redis) if i % 2 == 0 else (on_redis, on_local):
            block(body)
        touch(local)
        started = time.perf_counter()
        local.client.get("/healthz").raise_for_status()
        times["floor"].append(time.perf_counter() - started)
    return times


def _check_tiers(step: str, deltas: dict[str, StepMetrics], n: int, warm: int) -> None:
    """The servers' own step counts must say cold = miss, warm = l1 / l2 as intended."""
    want = {
        "local": {"miss": n, "l1": n * warm},
        "redis_a": {"miss": n},
        "redis_b": {"l2": n, "l1": n},
    }
    for name, tiers in want.items():
        seen = {tier: deltas[name].get((step, tier), (0, 0.0))[0] for tier in tiers}
        if seen != tiers:
            raise RuntimeError(f"{step} steps on {name} by tier: {seen}, expected {tiers}")


def _server_steps(deltas: dict[str, StepMetrics]) -> dict[str, dict[str, dict[str, float]]]:
    """Per server, per ``step tier``: count and mean server-side seconds of the steps."""
    return {
        name: {
            f"{step} {tier}": {"n": n, "mean_ms": round(total / n * 1000, 4)}
            for (step, tier), (n, total) in sorted(delta.items())
        }
        for name, delta in deltas.items()
    }


def _summarize_endpoint(
    endpoint: Endpoint, times: dict[str, list[float]], deltas: dict[str, StepMetrics]
) -> dict[str, Any]:
    stats = {k: stats_ms(v) for k, v in times.items()}
    p50 = {k: v["p50_ms"] for k, v in stats.items()}
    goal = HTTP_GOAL if endpoint.name == "properties" else None
    _log(
        f"HTTP {endpoint.name}: cold p50 {p50['cold']:.2f} ms, warm (L1) "
        f"{p50['warm_l1']:.2f} ms, cold with Redis {p50['cold_redis']:.2f} ms, L2 hit "
        f"{p50['warm_l2']:.2f} ms, floor {p50['floor']:.2f} ms"
    )
    return {
        "stats": stats,
        "server_steps": _server_steps(deltas),
        "ratios": {
            "cold_over_warm_l1_p50": ratio(p50["cold"], p50["warm_l1"]),
            "cold_redis_over_warm_l2_p50": ratio(p50["cold_redis"], p50["warm_l2"]),
            "cold_redis_over_warm_l1_redis_p50": ratio(p50["cold_redis"], p50["warm_l1_redis"]),
            "cold_redis_over_cold_p50": ratio(p50["cold_redis"], p50["cold"]),
            "warm_l2_minus_warm_l1_ms": round(p50["warm_l2"] - p50["warm_l1"], 4),
        },
        "goal": goal,
        "pass": None if goal is None else p50["cold"] >= goal * p50["warm_l1"],
    }


def http(redis: RedisProcess, quick: bool = False) -> dict[str, Any]:
    """(b) cold vs warm over HTTP, with and without Redis (L2 hit on a second server)."""
    from chemagent.library.load import load

    count, warm, warm_repeats = (20, 3, 1) if quick else (120, 5, 2)
    library = load(None)
    per = count + warm
    # Rows after those of (a), so the compounds are new to Redis as well.
    rows = _rows(library, 2 * per, 2 * sum(IN_PROCESS_COUNTS))
    shared = {**LOCAL_ENV, "CHEMAGENT_REDIS_URL": redis.fresh_url()}
    result: dict[str, Any] = {"compounds": count, "warm_repeats": warm_repeats, "endpoints": {}}
    with contextlib.ExitStack() as stack:
        servers = {
            "local": stack.enter_context(serve(LOCAL_ENV, log_name="cache-local")),
            "redis_a": stack.enter_context(serve(shared, log_name="cache-redis-a")),
            "redis_b": stack.enter_context(serve(shared, log_name="cache-redis-b")),
        }
        result["commands"] = {name: s.shown_command() for name, s in servers.items()}
        for e, endpoint in enumerate(ENDPOINTS):
            smiles = [library.smiles[r] for r in rows[e * per : (e + 1) * per]]
            _http_endpoint(endpoint, smiles[:warm], servers, warm_repeats)  # warm-up
            before = {name: _step_metrics(s) for name, s in servers.items()}
            times = _http_endpoint(endpoint, smiles[warm:], servers, warm_repeats)
            deltas = {name: _delta(_step_metrics(s), before[name]) for name, s in servers.items()}
            _check_tiers(endpoint.step, deltas, count, warm_repeats)
            result["endpoints"][endpoint.name] = _summarize_endpoint(endpoint, times, deltas)
    return result


# --------------------------------------------------------------------------- (c) Zipf


def zipf_draws(n_items: int, s: float, count: int, seed: int) -> list[int]:
    """``count`` ranks in [0, n_items) with P(rank k) proportional to 1 / (k + 1)^s."""
    cumulative = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n_items)))
    return random.Random(seed).choices(range(n_items), cum_weights=cumulative, k=count)


def top_mass(n_items: int, s: float, k: int) -> float:
    """Probability of the ``k`` most popular items: the hit ratio of a cache that always
    held exactly them (the best any cache of ``k`` items can do on independent draws)."""
    weights = [1.0 / (i + 1) ** s for i in range(n_items)]
    return sum(weights[:k]) / sum(weights)


def _request_steps(smiles: str) -> tuple[Any, Any]:
    """The two cached steps of ``POST /v1/properties {smiles}`` for a canonical SMILES."""
    from chemagent.execution.step import Step

    return Step.of("parse", smiles, what="SMILES"), Step.of("properties", smiles)


async def _simulate(
    namespace: Any, policy: Any, steps: list[tuple[Any, Any]], draws: list[int], warmup: int,
    size: int,
) -> dict[str, Any]:  # fmt: skip
    """Hit ratio of the properties step on a real TieredCache of L1 ``size``, no Redis."""
    from chemagent.cache.l1 import L1Cache
    from chemagent.cache.l2 import DisabledL2
    from chemagent.cache.tiered import TieredCache
    from chemagent.steps.registry import get_kind

    cache = TieredCache(L1Cache(size), DisabledL2(), policy, namespace)
    versions = {kind: get_kind(kind).version for kind in ("parse", "properties")}
    value = {"smiles": "C"}

    async def compute() -> dict[str, str]:
        return value

    hits = 0
    for i, row in enumerate(draws):
        parse, props = steps[row]
        await cache.get_or_compute(parse, versions["parse"], compute)
        _, tier = await cache.get_or_compute(props, versions["properties"], compute)
        if i >= warmup:
            hits += tier == "l1"
    stats = cache.stats()
    return {
        "hit_ratio": round(hits / (len(draws) - warmup), 4),
        "evictions": stats["l1"]["evictions"],
        "entries": stats["l1"]["entries"],
    }


def _ops(state: Any, cache: Any) -> Any:
    """``Operations`` over a runner like the app's, with ``cache`` (None: no cache)."""
    from chemagent.execution.operations import Operations
    from chemagent.execution.runner import StepRunner
    from chemagent.observability.recorders import StepHistogram

    settings = state.settings
    runner = StepRunner(
        state.runner.context,
        state.executor,
        step_timeout=settings.step_timeout_seconds,
        max_pending=settings.max_workers * 64,
        cache=cache,
    )
    runner.observers.append(StepHistogram())
    return Operations(runner, max_batch=settings.max_batch_size, max_results=settings.max_top_k)


async def _end_to_end(
    state: Any, smiles: list[str], draws: list[int], warmup: int, chunk: int, bare_per_chunk: int
) -> dict[str, Any]:
    """Throughput of the draws with the app's cache vs without, interleaved by chunk."""
    cached, bare = _ops(state, state.cache), _ops(state, None)
    tiers: list[str] = []
    cached.runner.observers.append(
        lambda record: tiers.append(record.cache) if record.step.kind == "properties" else None
    )
    for row in draws[:warmup]:
        await cached.properties_of_smiles(smiles[row])
    measured = draws[warmup:]
    per_request: dict[str, list[float]] = {"hit": [], "miss": [], "no_cache": []}
    wall = {"cached": 0.0, "no_cache": 0.0}
    for start in range(0, len(measured), chunk):
        part = measured[start : start + chunk]
        passes = (("cached", cached, part), ("no_cache", bare, part[:bare_per_chunk]))
        for label, ops, rows in passes:
            for row in rows:
                before = len(tiers)
                started = time.perf_counter()
                await ops.properties_of_smiles(smiles[row])
                elapsed = time.perf_counter() - started
                wall[label] += elapsed
                if label == "no_cache":
                    per_request["no_cache"].append(elapsed)
                else:
                    per_request["hit" if tiers[before:] == ["l1"] else "miss"].append(elapsed)
    cached_n = len(measured)
    bare_n = len(per_request["no_cache"])
    rps = {"cached": cached_n / wall["cached"], "no_cache": bare_n / wall["no_cache"]}
    return {
        "requests": cached_n,
        "no_cache_requests": bare_n,
        "hit_ratio": round(len(per_request["hit"]) / cached_n, 4),
        "rps": {k: round(v, 1) for k, v in rps.items()},
        "gain": ratio(rps["cached"], rps["no_cache"]),
        "mean_ms": {k: round(statistics.fmean(v) * 1000, 4) for k, v in per_request.items() if v},
    }


def expected_gain(hit_ratio: float, mean_ms: dict[str, float]) -> float:
    """Throughput gain over no cache for a hit ratio, from measured per-request costs."""
    per_request = hit_ratio * mean_ms["hit"] + (1 - hit_ratio) * mean_ms["miss"]
    return round(mean_ms["no_cache"] / per_request, 2)


def zipf(quick: bool = False) -> dict[str, Any]:
    """(c) hit ratio per L1 size under Zipf, and the throughput gain over no cache."""
    from chemagent.app import build_state

    sim_warmup, sim_measured = (2000, 5000) if quick else (10_000, 30_000)
    e2e_warmup, e2e_measured = (300, 400) if quick else (2000, 2000)
    chunk, bare_per_chunk = (100, 15) if quick else (200, 30)
    state = build_state(_settings(redis_url=None, cache_l1_size=MEASURED_SIZE))
    n = len(state.library)
    rank_to_row = list(range(n))
    random.Random(SEED + 1).shuffle(rank_to_row)
    smiles = [state.library.smiles[rank_to_row[k]] for k in range(n)]  # index = rank
    steps = [_request_steps(text) for text in smiles]
    result: dict[str, Any] = {
        "compounds": n,
        "sizes": list(L1_SIZES),
        "simulated": {"warmup": sim_warmup, "measured": sim_measured},
        "measured_size": MEASURED_SIZE,
        "end_to_end_setup": {
            "warmup": e2e_warmup,
            "measured": e2e_measured,
            "chunk": chunk,
            "no_cache_per_chunk": bare_per_chunk,
        },
        "by_s": {},
    }

    async def measure() -> None:
        await state.cache.start()
        try:
            for s in ZIPF_S:
                seed = SEED + int(s * 100)
                draws = zipf_draws(n, s, sim_warmup + sim_measured, seed)
                by_size = {}
                for size in L1_SIZES:
                    sim = await _simulate(
                        state.cache.namespace, state.cache.policy, steps, draws, sim_warmup, size
                    )
                    by_size[str(size)] = {**sim, "top_mass": round(top_mass(n, s, size // 2), 4)}
                e2e = await _end_to_end(
                    state,
                    smiles,
                    zipf_draws(n, s, e2e_warmup + e2e_measured, seed + 1),
                    e2e_warmup,
                    chunk,
                    bare_per_chunk,
                )
                for entry in by_size.values():
                    entry["expected_gain"] = expected_gain(entry["hit_ratio"], e2e["mean_ms"])
                result["by_s"][str(s)] = {"sizes": by_size, "end_to_end": e2e}
                _log(
                    f"Zipf s={s}: hit ratio "
                    + ", ".join(f"L1 {k}: {v['hit_ratio']:.3f}" for k, v in by_size.items())
                    + f"; measured at L1 {MEASURED_SIZE}: hit {e2e['hit_ratio']:.3f}, "
                    f"{e2e['rps']['cached']:.0f} vs {e2e['rps']['no_cache']:.0f} req/s "
                    f"({e2e['gain']:.2f}x)"
                )
        finally:
            await state.cache.aclose()

    try:
        asyncio.run(measure())
    finally:
        state.executor.shutdown(wait=True)
    return result


# --------------------------------------------------------------------------- (d) Redis


async def _client_gets(url: str, key: str, value: bytes, calls: int) -> dict[str, list[float]]:
    """``RedisL2.get`` (as the app builds it) and a bare redis-py ``get``, interleaved."""
    from redis.asyncio import Redis

    from chemagent.cache.setup import l2_from

    store = l2_from(_settings(redis_url=url))
    bare = Redis.from_url(url)
    times: dict[str, list[float]] = {"l2_get": [], "redis_py_get": []}
    clock = time.perf_counter
    try:
        await bare.set(key, value)
        for _ in range(50):  # connect, warm the code paths
            await store.get(key)
            await bare.get(key)
        for _ in range(calls):
            t0 = clock()
            got = await store.get(key)
            t1 = clock()
            raw = await bare.get(key)
            t2 = clock()
            if got is None or len(got) != len(value) or raw is None or len(raw) != len(value):
                raise RuntimeError(f"GET {key} did not return the {len(value)}-byte value")
            times["l2_get"].append(t1 - t0)
            times["redis_py_get"].append(t2 - t1)
        errors = store.stats()["errors"]
        if errors:
            raise RuntimeError(f"RedisL2 counted {errors} failed calls (deadline?)")
    finally:
        await store.aclose()
        await bare.aclose()
    return times


def _redis_benchmark(port: int, size: int, requests: int, extra: list[str]) -> dict[str, Any]:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise RuntimeError("redis-benchmark is not installed (Debian: redis-tools)")
    command = [
        binary, "-h", "127.0.0.1", "-p", str(port), "-q", "-t", "get", "-d", str(size),
        "-n", str(requests), "-c", "1", "--csv", *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    row = next(r for r in csv.DictReader(io.StringIO(done.stdout)) if r["test"] == "GET")
    shown = ["redis-benchmark", *command[1:]]
    shown[shown.index("-p") + 1] = "<port>"
    return {
        "command": " ".join(shown),
        "rps": float(row["rps"]),
        "avg_ms": float(row["avg_latency_ms"]),
        "p50_ms": float(row["p50_latency_ms"]),
        "p95_ms": float(row["p95_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
        "max_ms": float(row["max_latency_ms"]),
    }


def redis_round_trip(redis: RedisProcess, quick: bool = False) -> dict[str, Any]:
    """(d) our L2 GET vs a bare redis-py GET vs redis-benchmark, same server and key."""
    url = redis.fresh_url()
    result: dict[str, Any] = {"redis_server": redis.version(), "sizes": {}}
    for size in VALUE_SIZES:
        small = size <= 10_000
        calls = (500 if quick else 2500) if small else (200 if quick else 1000)
        bench_n = (5000 if quick else 50_000) if small else (1000 if quick else 5000)
        value = os.urandom(size)  # incompressible, like the zlib-framed values the cache stores
        times: dict[str, list[float]] = collections.defaultdict(list)
        for k, v in asyncio.run(_client_gets(url, BENCH_KEY, value, calls)).items():
            times[k] += v
        benchmarks = [_redis_benchmark(redis.port, size, bench_n, [])]
        if small:
            benchmarks.append(_redis_benchmark(redis.port, size, bench_n, ["-P", "1"]))
        for k, v in asyncio.run(_client_gets(url, BENCH_KEY, value, calls)).items():
            times[k] += v  # a second pass after redis-benchmark: drift shows in both
        stats = {k: stats_ms(v) for k, v in times.items()}
        raw_p50 = statistics.median(b["p50_ms"] for b in benchmarks)
        raw_avg = statistics.median(b["avg_ms"] for b in benchmarks)
        result["sizes"][str(size)] = {
            "stats": stats,
            "redis_benchmark": benchmarks,
            "overhead_p50_ms": round(stats["l2_get"]["p50_ms"] - raw_p50, 4),
            "overhead_mean_ms": round(stats["l2_get"]["mean_ms"] - raw_avg, 4),
            "wrapper_p50_ms": round(stats["l2_get"]["p50_ms"] - stats["redis_py_get"]["p50_ms"], 4),
            "ratio_p50": ratio(stats["l2_get"]["p50_ms"], raw_p50),
        }
        _log(
            f"GET {size} B: RedisL2 p50 {stats['l2_get']['p50_ms']:.3f} ms, redis-py "
            f"{stats['redis_py_get']['p50_ms']:.3f} ms, redis-benchmark p50 {raw_p50:.3f} ms"
        )
    return result


# --------------------------------------------------------------------------- rendering
# Called by report.py: summary rows and section 5 of docs/BENCHMARKS.md.

Row = tuple[str, str, str, str, str, str]
PARTS = ("cache_inprocess", "cache_http", "cache_zipf", "cache_redis")


def _ok(part: Any) -> bool:
    return isinstance(part, dict) and "error" not in part


def summary_rows(results: dict[str, Any]) -> list[Row]:
    """(measure, result, baseline, ratio, target, verdict) rows for the summary table."""
    out: list[Row] = []
    a = results.get("cache_inprocess")
    if _ok(a):
        for kind, k in a["kinds"].items():
            s = k["stats"]
            out.append(
                (
                    f"cache in-process, `{kind}` step: L1 hit, L2 hit",
                    f"p50 {s['l1_hit']['p50_ms']:.4f} ms (L1), {s['l2_hit']['p50_ms']:.3f} ms (L2)",
                    f"miss p50 {s['miss']['p50_ms']:.3f} ms",
                    f"miss/L1 {k['ratios']['miss_over_l1_p50']:.0f}x, "
                    f"miss/L2 {k['ratios']['miss_over_l2_p50']:.1f}x",
                    "measured (issue 4)",
                    "info",
                )
            )
    b = results.get("cache_http")
    if _ok(b):
        for name, e in b["endpoints"].items():
            s, r = e["stats"], e["ratios"]
            out.append(
                (
                    f"POST /v1/{name}: warm (cached) vs cold",
                    f"warm p50 {s['warm_l1']['p50_ms']:.2f} ms (L1), "
                    f"{s['warm_l2']['p50_ms']:.2f} ms (L2, 2nd server)",
                    f"cold p50 {s['cold']['p50_ms']:.2f} ms",
                    f"{r['cold_over_warm_l1_p50']:.1f}x (L1), "
                    f"{r['cold_redis_over_warm_l2_p50']:.1f}x (L2)",
                    f">= {e['goal']:g}x (L1)" if e["goal"] else "none",
                    "info" if e["pass"] is None else ("PASS" if e["pass"] else "MISS"),
                )
            )
    c = results.get("cache_zipf")
    if _ok(c):
        for s, z in c["by_s"].items():
            e2e, size = z["end_to_end"], str(c["measured_size"])
            out.append(
                (
                    f"Zipf s={s} over {c['compounds']} compounds, L1 {size}",
                    f"hit ratio {e2e['hit_ratio']:.3f}, {e2e['rps']['cached']:.0f} req/s",
                    f"{e2e['rps']['no_cache']:.0f} req/s without cache",
                    f"{e2e['gain']:.2f}x",
                    "measured (issue 4)",
                    "info",
                )
            )
    d = results.get("cache_redis")
    if _ok(d):
        for size, v in d["sizes"].items():
            raw = statistics.median(x["p50_ms"] for x in v["redis_benchmark"])
            out.append(
                (
                    f"Redis GET {int(size) // 1000} KB: RedisL2.get",
                    f"p50 {v['stats']['l2_get']['p50_ms']:.3f} ms, "
                    f"p99 {v['stats']['l2_get']['p99_ms']:.3f} ms",
                    f"redis-benchmark p50 {raw:.3f} ms",
                    f"{v['ratio_p50']:.1f}x, {v['overhead_p50_ms']:+.3f} ms",
                    "measured (issue 4)",
                    "info",
                )
            )
    return out


def markdown_section(results: dict[str, Any]) -> list[str]:
    """Section 5 of docs/BENCHMARKS.md (empty when the part did not run)."""
    parts = {name: results[name] for name in PARTS if name in results}
    if not parts:
        return []
    durations = results.get("durations_s", {})
    out = [
        "",
        "## 5. Step cache: L1, L2 and miss; HTTP cold vs warm; Zipf hit ratio; Redis",
        "",
        f"Measured by `{results['command']}` ({results['date']}; load average at start "
        f"{results['machine']['loadavg_at_start']}; "
        + ", ".join(f"{k} {v:.0f} s" for k, v in durations.items() if k in parts)
        + "). Redis: a `redis-server` started by the benchmark on a free loopback port "
        "(`--save '' --appendonly no`), emptied (FLUSHALL) before each part.",
    ]
    for name, render in (
        ("cache_inprocess", _in_process_section),
        ("cache_http", _http_section),
        ("cache_zipf", _zipf_section),
        ("cache_redis", _redis_section),
    ):
        part = parts.get(name)
        if part is None:
            continue
        out += render(part) if _ok(part) else ["", f"`{name}` failed: {part['error']}"]
    out += _findings(parts)
    return out


_IN_PROCESS_LABELS = {
    "l1_hit": "L1 hit (L1 on, no Redis)",
    "l2_hit": "L2 hit (L1 off, Redis)",
    "miss": "miss (L1 on, no Redis): lookup + compute + store",
    "miss_redis": "miss with Redis (L1 off): L2 GET + compute + L2 SET",
    "no_cache": "baseline: the same step through a runner without a cache",
}


def _in_process_section(a: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### 5a. In-process: `StepRunner.run_cached` of real app states",
        "",
        f"{a['compounds']} library compounds per step kind (seeded), one at a time. For each: "
        f"a miss then {a['hit_repeats']} L1 hits on `build_state(Settings(cache_l1_size=10000))`;",
        f"a miss then {a['hit_repeats']} L2 hits on `build_state(Settings(cache_l1_size=0, "
        "redis_url=...))`; and the step through a `StepRunner` without a cache (same pool).",
        "The three blocks rotate compound by compound; every call's tier is checked. "
        f"`properties` = the panel of the compound's SMILES; `similarity` = threshold {THRESHOLD}.",
        "",
    ]
    body = []
    for kind, k in a["kinds"].items():
        for key, label in _IN_PROCESS_LABELS.items():
            body.append(stat_row(f"`{kind}`: {label}", k["stats"][key], 4))
    out += md_table(STAT_HEADER, body)
    out.append("")
    for kind, k in a["kinds"].items():
        r = k["ratios"]
        out.append(
            f"- `{kind}`: miss / L1 hit p50 **{r['miss_over_l1_p50']:.0f}x**, miss / L2 hit "
            f"**{r['miss_over_l2_p50']:.1f}x** (with Redis: {r['miss_redis_over_l2_p50']:.1f}x); "
            f"a miss costs {k['miss_minus_no_cache_ms']:+.3f} ms over no cache without Redis, "
            f"{k['miss_redis_minus_no_cache_ms']:+.3f} ms with it (paired medians)."
        )
    return out


_HTTP_LABELS = {
    "cold": "cold: first request (L1-only server)",
    "warm_l1": "warm: the same again, L1 hit (L1-only server)",
    "cold_redis": "cold with Redis: first request (server A: computes, writes L2)",
    "warm_l2": "L2 hit: the same on server B (its L1 empty)",
    "warm_l1_redis": "L1 hit on server B (the same once more)",
    "floor": "HTTP floor: GET /healthz",
}


def _http_section(b: dict[str, Any]) -> list[str]:
    c = b["commands"]
    out = [
        "",
        "### 5b. Over HTTP: cold vs warm, with and without Redis",
        "",
        f"Servers: L1 only `{c['local']}`; A and B share the Redis: `{c['redis_a']}` (twice).",
        f"{b['compounds']} library compounds per endpoint, never requested before, one at a "
        "time over one keep-alive connection per server: cold then "
        f"{b['warm_repeats']}x warm on the L1-only server; cold on A, then twice on B. "
        "`POST /v1/properties {smiles}` (steps `parse`, `properties`) and "
        f"`POST /v1/similarity {{query: smiles, threshold: {THRESHOLD}}}` (`resolve`, "
        "`similarity`). Before each server's first request for a compound it gets an untimed "
        "`GET /healthz`, so no timing includes the server waking from idle. The servers' "
        "`chemagent_step_duration_seconds` counts confirm each request's tier (the run "
        "fails otherwise).",
        "",
    ]
    body = []
    for name, e in b["endpoints"].items():
        for key, label in _HTTP_LABELS.items():
            body.append(stat_row(f"`{name}`: {label}", e["stats"][key], 2))
    out += md_table(STAT_HEADER, body)
    out.append("")
    for name, e in b["endpoints"].items():
        r = e["ratios"]
        goal = (
            f" (goal >= {e['goal']:g}x: **{'PASS' if e['pass'] else 'MISS'}**)" if e["goal"] else ""
        )
        out.append(
            f"- `{name}`: cold / warm p50 **{r['cold_over_warm_l1_p50']:.1f}x**{goal}; with "
            f"Redis cold / L2 hit {r['cold_redis_over_warm_l2_p50']:.1f}x, cold / L1 hit "
            f"{r['cold_redis_over_warm_l1_redis_p50']:.1f}x; an L2 hit costs "
            f"{r['warm_l2_minus_warm_l1_ms']:+.2f} ms over an L1 hit; cold with Redis / "
            f"without {r['cold_redis_over_cold_p50']:.2f}x."
        )
    out += [
        "",
        "Server side, from each server's `chemagent_step_duration_seconds` (mean ms per "
        "step and tier, count; measured requests only):",
        "",
    ]
    names = {"local": "L1 only", "redis_a": "A (Redis)", "redis_b": "B (Redis)"}
    body = [
        [
            f"`{name}`",
            names[server],
            ", ".join(f"{k} {v['mean_ms']:.3f} ({v['n']})" for k, v in steps.items()),
        ]
        for name, e in b["endpoints"].items()
        for server, steps in e["server_steps"].items()
    ]
    out += md_table(["endpoint", "server", "step tier: mean ms (count)"], body)
    return out


def _zipf_section(c: dict[str, Any]) -> list[str]:
    sim, e = c["simulated"], c["end_to_end_setup"]
    out = [
        "",
        "### 5c. Hit ratio under a Zipf workload",
        "",
        f"Requests for the {c['compounds']} library compounds drawn from Zipf(s) (seeded; "
        "rank -> compound by a seeded shuffle), each shaped like `POST /v1/properties "
        "{smiles}`: a `parse` and a `properties` step, so each compound takes two L1 entries. "
        f"*Hit ratio*: the `properties` step's L1 hits over {sim['measured']:,} requests after "
        f"{sim['warmup']:,} of warm-up, on a real `TieredCache(L1Cache(size), DisabledL2())` "
        "with a free computation. *Top-k mass*: the hit ratio of a cache that always held "
        "the size/2 most popular compounds, the best any cache can do on independent draws "
        "once every compound has been seen (first-time misses are not in it). "
        f"*Measured gain*: at L1 {c['measured_size']}, {e['measured']:,} requests (after "
        f"{e['warmup']:,} of warm-up) through `Operations.properties_of_smiles` on the app's "
        f"runner and cache, with real computation, one at a time; every {e['chunk']} requests "
        f"the first {e['no_cache_per_chunk']} of them are run again on a runner without a "
        "cache (the baseline); gain = cached req/s / uncached req/s. *Expected gain*: "
        "uncached mean / (h x hit mean + (1 - h) x miss mean), those means measured there.",
        "",
    ]
    body = []
    for s, z in c["by_s"].items():
        e2e = z["end_to_end"]
        for size, v in z["sizes"].items():
            measured = (
                f"**{e2e['gain']:.2f}x** (hit ratio {e2e['hit_ratio']:.3f})"
                if int(size) == c["measured_size"]
                else ""
            )
            body.append(
                [
                    str(s),
                    size,
                    f"{v['hit_ratio']:.3f}",
                    f"{v['top_mass']:.3f}",
                    f"{v['evictions']:,}",
                    f"{v['expected_gain']:.2f}x",
                    measured,
                ]
            )
    out += md_table(
        ["s", "L1 entries", "hit ratio", "top-k mass", "evictions", "expected gain", "measured"],
        body,
    )
    out.append("")
    for s, z in c["by_s"].items():
        e2e, m = z["end_to_end"], z["end_to_end"]["mean_ms"]
        out.append(
            f"- s={s}, measured at L1 {c['measured_size']}: {e2e['rps']['cached']:.0f} req/s "
            f"cached vs {e2e['rps']['no_cache']:.0f} uncached (**{e2e['gain']:.2f}x**) at a "
            f"hit ratio of {e2e['hit_ratio']:.3f} over its {e2e['requests']:,} requests; mean "
            "per request: hit "
            f"{m['hit']:.3f} ms, miss {m['miss']:.2f} ms, no cache {m['no_cache']:.2f} ms."
        )
    return out


def _redis_section(d: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### 5d. Redis round trip: `RedisL2.get` vs `redis-benchmark`",
        "",
        f"{d['redis_server']}. One key (`{BENCH_KEY}`, redis-benchmark's GET key) set to a "
        "random value of each size; `RedisL2.get` (built by `l2_from(Settings(redis_url=...))`:"
        " 50 ms deadline, breaker, telemetry) and a bare `redis.asyncio.Redis.get` (redis-py "
        "8, no hiredis), one connection each, sequential, interleaved call by call, in a "
        "pass before and a pass after redis-benchmark (pooled). redis-benchmark's `-d` only "
        "sizes SET values; its GET reads the key set beforehand.",
        "",
    ]
    body = []
    for size, v in d["sizes"].items():
        s = v["stats"]
        for key, label in (("l2_get", "RedisL2.get"), ("redis_py_get", "redis-py get (bare)")):
            body.append(stat_row(f"{int(size):,} B: {label}", s[key], 3))
        for rb in v["redis_benchmark"]:
            n = rb["command"].split("-n ")[1].split()[0]
            body.append(
                [
                    f"{int(size):,} B: `{rb['command']}`",
                    n,
                    f"{rb['p50_ms']:.3f}",
                    f"{rb['p95_ms']:.3f}",
                    f"{rb['p99_ms']:.3f}",
                    f"{rb['avg_ms']:.3f}",
                    f"{rb['max_ms']:.3f}",
                ]
            )
    out += md_table(STAT_HEADER, body)
    out.append("")
    for size, v in d["sizes"].items():
        out.append(
            f"- {int(size):,} B: our overhead over the raw round trip {v['overhead_p50_ms']:+.3f}"
            f" ms at p50 ({v['ratio_p50']:.1f}x redis-benchmark), {v['overhead_mean_ms']:+.3f} "
            f"ms on the mean; of it, RedisL2's wrapper over bare redis-py "
            f"{v['wrapper_p50_ms']:+.3f} ms."
        )
    return out


def _mean(steps: dict[str, dict[str, float]], name: str) -> float:
    return steps.get(name, {}).get("mean_ms", float("nan"))


def _findings(parts: dict[str, Any]) -> list[str]:
    """What the numbers mean (3-6 lines), computed from this run."""
    a, b, c, d = (parts.get(name) for name in PARTS)
    out = []
    if _ok(a) and {"properties", "similarity"} <= a["kinds"].keys():
        k, p, q = a["kinds"]["properties"], a["kinds"]["properties"]["stats"], a["kinds"]
        out.append(
            f"- In-process an L1 hit costs {p['l1_hit']['p50_ms'] * 1000:.0f} µs through the "
            f"runner (key digest, lookup, metrics) and an L2 hit {p['l2_hit']['p50_ms']:.2f} ms "
            f"(a Redis round trip and decoding): {k['ratios']['miss_over_l1_p50']:.0f}x and "
            f"{k['ratios']['miss_over_l2_p50']:.0f}x cheaper than computing a property panel."
        )
        out.append(
            "- On a miss Redis adds "
            f"{q['properties']['miss_redis_minus_no_cache_ms']:+.2f} ms to `properties` (GET, "
            f"SET) and {q['similarity']['miss_redis_minus_no_cache_ms']:+.2f} ms to "
            "`similarity`, whose cross-pod lock adds SET NX, a second GET and the release: "
            "more than the search itself on the bundled library "
            f"({q['similarity']['stats']['no_cache']['p50_ms']:.2f} ms). The lock pays only "
            "for steps that take much longer than those round trips."
        )
    if _ok(b) and {"properties", "similarity"} <= b["endpoints"].keys():
        e, sim = b["endpoints"]["properties"], b["endpoints"]["similarity"]
        s, local = e["stats"], e["server_steps"]["local"]
        hit_steps = sum(v["mean_ms"] for k, v in local.items() if k.endswith(" l1"))
        sim_local = sim["server_steps"]["local"]
        out.append(
            f"- Over HTTP a warm property panel takes {s['warm_l1']['p50_ms']:.2f} ms, of which "
            f"its steps are {hit_steps:.2f} ms server-side (`GET /healthz`: "
            f"{s['floor']['p50_ms']:.2f} ms): once cached, a request is the web stack. Warm "
            f"similarity takes {sim['stats']['warm_l1']['p50_ms']:.2f} ms; cold, its "
            f"`resolve` step (standardizing the query) is "
            f"{_mean(sim_local, 'resolve miss'):.2f} ms and the search "
            f"{_mean(sim_local, 'similarity miss'):.2f} ms (server-side means)."
        )
        on_b = e["server_steps"]["redis_b"]
        out.append(
            f"- An L2 hit over HTTP costs {e['ratios']['warm_l2_minus_warm_l1_ms']:+.2f} ms "
            "over an L1 hit: the second server reads both of its steps from Redis "
            f"(`parse` {_mean(on_b, 'parse l2'):.2f} ms, `properties` "
            f"{_mean(on_b, 'properties l2'):.2f} ms server-side). `parse` used to be L1-only and "
            "was computed there through the thread pool (1.17 ms in the first run of this "
            "benchmark), which is why it now goes to Redis too."
        )
    if _ok(c):
        s, z = next(iter(c["by_s"].items()))
        small, big = z["sizes"][str(min(L1_SIZES))], z["sizes"][str(c["measured_size"])]
        m = z["end_to_end"]["mean_ms"]
        out.append(
            f"- Zipf s={s}: an L1 of {min(L1_SIZES)} entries serves "
            f"{small['hit_ratio']:.0%} of requests, {c['measured_size']} entries "
            f"{big['hit_ratio']:.0%} (the static optimum: {small['top_mass']:.0%}, "
            f"{big['top_mass']:.0%}). A hit costs {m['miss'] / m['hit']:.0f}x less than a "
            "miss, so throughput is set by the miss ratio alone."
        )
    if _ok(d):
        one = d["sizes"][str(VALUE_SIZES[0])]
        out.append(
            f"- Our L2 GET of 1 KB costs {one['overhead_p50_ms']:+.3f} ms over "
            f"redis-benchmark's round trip at p50; the wrapper (deadline, breaker, telemetry) "
            f"is {one['wrapper_p50_ms']:+.3f} ms of it, the rest is redis-py's pure-Python "
            "asyncio client (no hiredis) and the event loop."
        )
    return ["", "What the numbers mean:", "", *out[:6]] if out else []
