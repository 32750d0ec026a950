"""Plain-English queries (issue 3): parse + plan latency, and parallel plan execution.

(a) Parse + plan: ``chemagent.query.intent.parse`` then ``chemagent.query.planner.plan``
    over every golden query (``tests/golden/queries.json``) that plans; a follow-up is
    parsed with its context's intent, parsed once beforehand (the service keeps the
    previous intent in the session, it does not parse it again). Each query is timed on
    its own, in a shuffled order each pass, many passes. Baselines, each timed right
    after the query it pairs with: a fixed pure-Python workload (``_calibration``: 2,000
    function calls, the machine's Python speed right now) and ``orjson.dumps`` of the
    parsed intent. Target: p50 <= 0.5 ms.

(b) Parallel plans: plans with independent nodes run through a real ``PlanExecutor`` ->
    ``StepRunner`` -> ``ThreadPoolExecutor(4)`` over the bundled library, in this process,
    with ``parallel=False`` and with ``parallel=True`` at ``max_workers`` 2 and 4, the three
    interleaved run by run (the order rotates each repetition). Speedup = serial wall p50 /
    parallel wall p50. The executor's own ``ExecutionMetrics`` (speedup = sum of node
    times / wall, parallelization ratio) are reported alongside.

    Every repetition recomputes: the runner is the app's (``build_state``) with the step
    cache off (``cache_l1_size=0``, no Redis), so each step goes through the cache lookup
    and misses, as on a server with ``CHEMAGENT_CACHE_L1_SIZE=0``; each run is checked to
    report ``steps_cached == 0``. With the cache on, the serial runs after the first would
    measure cache hits, not computation.

    Two scenarios use step kinds registered in this process only (removed afterwards):
    ``network_sleep`` (``bench_sleep`` sleeps 20 ms in the executor thread, like a blocking
    HTTP call to the ChEMBL upstream: the overlap the upstream issue relies on) and
    ``gil_free_cpu`` (``bench_sha256``: CPU work that releases the GIL, the same-run
    baseline for CPU-bound speedups: what the cores free at that moment allow).

(c) HTTP, when ``POST /v1/query`` exists: one typical query against ``chemagent serve``
    (cache off) with ``parallel`` true and false, interleaved, against the same work
    in-process (parse, plan, execute) as the baseline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from harness import ROOT, STAT_HEADER, md_table, percentile, ratio, serve, stat_row, stats_ms

PARSE_PLAN_TARGET_MS = 0.5
GOLDEN = ROOT / "tests" / "golden" / "queries.json"
POOL_THREADS = 4  # Settings().max_workers on this 2-CPU machine: min(8, nproc + 2)
SLEEP_KIND = "bench_sleep"
SLEEP_MS = 20
SLEEP_NODES = 8
HASH_KIND = "bench_sha256"
HASH_MB = 8  # 5-15 ms of SHA-256 per node on this machine
HASH_NODES = 6
MODES: tuple[tuple[str, bool, int], ...] = (
    ("serial", False, 1),
    ("parallel_w2", True, 2),
    ("parallel_w4", True, 4),
)
NAMES = "aspirin, ibuprofen, caffeine, paracetamol, naproxen and diclofenac"
# Close analogues of six drugs, none of them in the bundled library: resolving each
# standardizes it and computes an InChIKey, and its panel is computed (RDKit, ~7 ms).
NEW_SMILES = (
    "CC(=O)Oc1ccc(F)cc1C(=O)O",
    "CC(C)Cc1ccc(cc1)C(CC)C(=O)O",
    "CCn1cnc2c1c(=O)n(C)c(=O)n2C",
    "CC(=O)Nc1ccc(O)c(Cl)c1",
    "CCOc1ccc2cc(ccc2c1)C(C)C(=O)O",
    "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Br",
)
SMARTS = ("S(=O)(=O)N", "C(=O)[OH]", "c1ccccc1", "C(=O)N", "[#7;R]", "[F,Cl,Br,I]")
TYPICAL_QUERY = f"Compare the LogP of {NAMES}"
# The server's pool as in (b); no step cache (L1 off, no Redis, nothing warmed at start) so
# every request recomputes, whatever CHEMAGENT_* the calling shell has set.
SERVER_ENV = {
    "CHEMAGENT_MAX_WORKERS": str(POOL_THREADS),
    "CHEMAGENT_CACHE_L1_SIZE": "0",
    "CHEMAGENT_REDIS_URL": "",
    "CHEMAGENT_CACHE_WARM_FILE": "",
}


# --------------------------------------------------------------------------- statistics


def _log(text: str) -> None:
    print(f"[query] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- (a) parse + plan


@dataclass(frozen=True)
class GoldenCase:
    query: str
    context: Any  # the context query's Intent, or None
    category: str


def _calibration() -> int:
    """A fixed pure-Python workload (2,000 calls): the baseline of the parse timings."""
    total = 0
    for i in range(2000):
        total = _add(total, i)
    return total


def _add(a: int, b: int) -> int:
    return a + b


def golden_cases() -> tuple[list[GoldenCase], dict[str, int]]:
    """The golden queries that plan, and how many were left out by reason."""
    from chemagent.query.intent import parse
    from chemagent.query.plan import PlanError
    from chemagent.query.planner import plan

    kept: list[GoldenCase] = []
    skipped: collections.Counter[str] = collections.Counter()
    for case in json.loads(GOLDEN.read_text(encoding="utf-8")):
        context = parse(case["context"]) if case.get("context") else None
        intent = parse(case["query"], context)
        try:
            plan(intent)
        except PlanError:
            skipped[intent.kind.value if not intent.errors else "has errors"] += 1
            continue
        kept.append(GoldenCase(case["query"], context, case["category"]))
    return kept, dict(skipped)


def parse_plan(repeats: int, seed: int = 3) -> dict[str, Any]:
    """Time parse + plan of every plannable golden query ``repeats`` times."""
    from chemagent.query.intent import parse
    from chemagent.query.planner import plan

    cases, skipped = golden_cases()
    for case in cases:  # warm-up pass: imports, regex and name-index caches
        plan(parse(case.query, case.context))
        _calibration()
    rng = random.Random(seed)
    order = list(range(len(cases)))
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    per_query: dict[int, list[float]] = collections.defaultdict(list)
    times: dict[str, list[float]] = collections.defaultdict(list)
    clock = time.perf_counter
    for _ in range(repeats):
        rng.shuffle(order)
        for i in order:
            case = cases[i]
            t0 = clock()
            intent = parse(case.query, case.context)
            t1 = clock()
            plan(intent)
            t2 = clock()
            orjson.dumps(intent)
            t3 = clock()
            _calibration()
            t4 = clock()
            times["parse"].append(t1 - t0)
            times["plan"].append(t2 - t1)
            times["parse_plan"].append(t2 - t0)
            times["orjson_intent"].append(t3 - t2)
            times["calibration"].append(t4 - t3)
            by_kind[intent.kind.value].append(t2 - t0)
            per_query[i].append(t2 - t0)
    stats = {k: stats_ms(v) for k, v in times.items()}
    p50 = stats["parse_plan"]["p50_ms"]
    slowest = sorted(
        ((percentile(v, 50) * 1000, cases[i].query) for i, v in per_query.items()), reverse=True
    )[:5]
    result = {
        "queries": len(cases),
        "skipped": skipped,
        "repeats": repeats,
        "seed": seed,
        "stats": stats,
        "by_kind": {k: stats_ms(v) for k, v in sorted(by_kind.items())},
        "slowest_p50": [{"query": q, "p50_ms": round(ms, 4)} for ms, q in slowest],
        "ratios": {
            "parse_plan_over_calibration_p50": ratio(p50, stats["calibration"]["p50_ms"]),
            "parse_plan_over_orjson_p50": ratio(p50, stats["orjson_intent"]["p50_ms"]),
        },
        "target_ms": PARSE_PLAN_TARGET_MS,
        "pass": p50 <= PARSE_PLAN_TARGET_MS,
    }
    _log(
        f"parse+plan p50 {p50:.3f} ms, p95 {stats['parse_plan']['p95_ms']:.3f} ms, p99 "
        f"{stats['parse_plan']['p99_ms']:.3f} ms over {len(cases)} queries x {repeats}; "
        f"calibration p50 {stats['calibration']['p50_ms']:.3f} ms"
    )
    return result


# --------------------------------------------------------------------------- (b) parallel


def _sleep_step(ctx: Any, text: str, params: Mapping[str, Any]) -> str:
    """A stand-in for a network-bound step: blocks its executor thread like an HTTP call."""
    time.sleep(float(params["ms"]) / 1000.0)
    return text


@functools.cache
def _hash_buffer() -> bytes:
    return bytes(HASH_MB << 20)


def _hash_step(ctx: Any, text: str, params: Mapping[str, Any]) -> str:
    """CPU work that releases the GIL for its whole length (hashlib, > 2 kB of data): what
    the machine's free cores allow the executor at best, measured in the same run."""
    return hashlib.sha256(_hash_buffer()).hexdigest()


@contextlib.contextmanager
def temporary_kinds() -> Iterator[None]:
    """Register the benchmark's step kinds in this process for the duration; the package
    itself is untouched."""
    from chemagent.steps import registry

    kinds = {
        SLEEP_KIND: (_sleep_step, "Benchmark: sleep (network stand-in)."),
        HASH_KIND: (_hash_step, "Benchmark: SHA-256 of a buffer (GIL released)."),
    }
    try:
        for name, (fn, description) in kinds.items():
            registry.register(name, version=1, description=description)(fn)
        yield
    finally:
        # The registry has no public removal: it is only ever filled at import time.
        for name in kinds:
            registry._REGISTRY.pop(name, None)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    plan: Any  # chemagent.query.plan.Plan


def scenarios(library: Any) -> list[Scenario]:
    """The plans measured: three from plain-English queries, two built by hand."""
    from chemagent.query.intent import parse
    from chemagent.query.plan import Plan, PlanNode
    from chemagent.query.planner import plan

    step = len(library) // 20
    ids = [library.ids[i * step] for i in range(20)]
    queries = {
        "compare_names": (f"Compare the LogP of {NAMES}", "6 names: resolve x6, panel x6, compare"),
        "batch_ids": (
            "Properties for " + ", ".join(ids),
            f"20 IDs (library rows 0, {step}, {2 * step}, ...): resolve x20, panel x20",
        ),
        "compare_new_smiles": (
            "Compare the LogP of " + ", ".join(NEW_SMILES),
            "6 SMILES not in the library: resolve (standardize + InChIKey) x6, "
            "properties (panel computed) x6, compare",
        ),
    }
    out = []
    for name, (query, what) in queries.items():
        built = plan(parse(query))
        out.append(Scenario(name, f"`{_short(query)}`: {what}", built))
    nodes = [
        PlanNode(f"n{i + 1}", "substructure", smarts, {"limit": 1000}, label=smarts)
        for i, smarts in enumerate(SMARTS)
    ]
    out.append(
        Scenario(
            "substructure_branches",
            f"hand-built: {len(SMARTS)} independent substructure searches (limit 1000) of "
            f"the library ({', '.join(f'`{s}`' for s in SMARTS)})",
            Plan(nodes, nodes[0].id),
        )
    )
    hashers = [PlanNode(f"n{i + 1}", HASH_KIND, str(i)) for i in range(HASH_NODES)]
    out.append(
        Scenario(
            "gil_free_cpu",
            f"calibration, hand-built: {HASH_NODES} independent nodes each hashing "
            f"{HASH_MB} MB with SHA-256 (CPU-bound, GIL released): the best a CPU-bound plan "
            "can gain on the cores free at that moment",
            Plan(hashers, hashers[0].id),
        )
    )
    sleepers = [
        PlanNode(f"n{i + 1}", SLEEP_KIND, str(i), {"ms": SLEEP_MS}) for i in range(SLEEP_NODES)
    ]
    out.append(
        Scenario(
            "network_sleep",
            f"hand-built: {SLEEP_NODES} independent nodes of a step that sleeps {SLEEP_MS} ms "
            "(a network-bound step's stand-in)",
            Plan(sleepers, sleepers[0].id),
        )
    )
    return out


def _short(query: str, width: int = 90) -> str:
    return query if len(query) <= width else query[: width - 3] + "..."


def _uncached_state() -> Any:
    """The app's state (``build_state``) with the step cache off: no L1, no Redis.

    Every step still goes through the cache's lookup and misses, as on the server run with
    ``CHEMAGENT_CACHE_L1_SIZE=0``, so serial vs parallel compares computation, not hits.
    """
    from chemagent.app import build_state
    from chemagent.settings import Settings

    settings = Settings(
        cache_l1_size=0,
        redis_url=None,
        cache_warm_file=None,
        max_workers=POOL_THREADS,
        step_timeout_seconds=30.0,
    )
    state = build_state(settings)
    state.library.substructure_index()  # built lazily: not inside the first timed run
    return state


async def _execute(executor: Any, scenario: Scenario, parallel: bool, workers: int) -> Any:
    """One run; raises unless every node succeeded and nothing came from a cache."""
    started, cpu = time.perf_counter(), time.process_time()
    outcomes, metrics = await executor.execute(
        scenario.plan, parallel=parallel, max_workers=workers
    )
    wall = time.perf_counter() - started
    cores = (time.process_time() - cpu) / wall  # CPU seconds of all threads per wall second
    bad = {n: o.error for n, o in outcomes.items() if o.status != "ok"}
    if bad:
        raise RuntimeError(f"{scenario.name}: nodes did not succeed: {bad}")
    if metrics.steps_cached:
        raise RuntimeError(
            f"{scenario.name}: {metrics.steps_cached} steps came from a cache; the benchmark "
            "must bypass the cache so every repetition recomputes"
        )
    return wall, cores, metrics


async def _measure(executor: Any, items: list[Scenario], repeats: int) -> dict[str, Any]:
    walls: dict[str, dict[str, list[float]]] = {
        s.name: collections.defaultdict(list) for s in items
    }
    metrics: dict[str, dict[str, list[Any]]] = {
        s.name: collections.defaultdict(list) for s in items
    }
    for scenario in items:  # warm-up: one run of each mode
        for _, parallel, workers in MODES:
            await _execute(executor, scenario, parallel, workers)
    for rep in range(repeats):
        for scenario in items:
            for k in range(len(MODES)):
                mode, parallel, workers = MODES[(rep + k) % len(MODES)]
                wall, cores, m = await _execute(executor, scenario, parallel, workers)
                walls[scenario.name][mode].append(wall)
                metrics[scenario.name][mode].append((cores, m))
    return {"walls": walls, "metrics": metrics}


def _summarize(scenario: Scenario, walls: dict[str, list[float]], mets: Any) -> dict[str, Any]:
    wall = {mode: stats_ms(walls[mode]) for mode, _, _ in MODES}
    serial = wall["serial"]["p50_ms"]
    executor_metrics = {}
    for mode, _, _ in MODES:
        runs = [m for _, m in mets[mode]]
        executor_metrics[mode] = {
            "cpu_per_wall_p50": round(statistics.median(c for c, _ in mets[mode]), 3),
            "speedup_p50": round(statistics.median(m.speedup for m in runs), 3),
            "parallelization_ratio_p50": round(
                statistics.median(m.parallelization_ratio for m in runs), 3
            ),
            "serial_seconds_p50_ms": round(
                statistics.median(m.serial_seconds for m in runs) * 1000, 3
            ),
        }
    first = mets["serial"][0][1]
    return {
        "what": scenario.what,
        "nodes": len(scenario.plan.nodes),
        "layers": [len(layer) for layer in scenario.plan.layers()],
        "steps_run": first.steps_run,
        "wall": wall,
        "speedup_w2": ratio(serial, wall["parallel_w2"]["p50_ms"]),
        "speedup_w4": ratio(serial, wall["parallel_w4"]["p50_ms"]),
        "executor_metrics": executor_metrics,
    }


def parallel_plans(repeats: int) -> dict[str, Any]:
    """Serial vs parallel execution of plans with independent nodes, interleaved."""
    from chemagent.execution.plan_runner import PlanExecutor

    state = _uncached_state()
    executor = PlanExecutor(state.runner)
    load_before = os.getloadavg()[0]
    try:
        with temporary_kinds():
            items = scenarios(state.library)
            raw = asyncio.run(_measure(executor, items, repeats))
    finally:
        state.executor.shutdown(wait=True)
    result: dict[str, Any] = {
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "repeats": repeats,
        "pool_threads": POOL_THREADS,
        "modes": [m for m, _, _ in MODES],
        "scenarios": {},
    }
    for scenario in items:
        summary = _summarize(scenario, raw["walls"][scenario.name], raw["metrics"][scenario.name])
        result["scenarios"][scenario.name] = summary
        w = summary["wall"]
        _log(
            f"{scenario.name}: serial p50 {w['serial']['p50_ms']:.2f} ms, w2 "
            f"{w['parallel_w2']['p50_ms']:.2f} ms ({summary['speedup_w2']:.2f}x), w4 "
            f"{w['parallel_w4']['p50_ms']:.2f} ms ({summary['speedup_w4']:.2f}x)"
        )
    return result


# --------------------------------------------------------------------------- (c) HTTP


def query_route_exists() -> bool:
    return (ROOT / "src" / "chemagent" / "api" / "routes" / "query.py").exists()


def _ok(response: Any) -> None:
    response.raise_for_status()


def http_query(repeats: int) -> dict[str, Any]:
    """``POST /v1/query`` of one typical query, parallel true vs false, vs in-process."""
    from chemagent.execution.plan_runner import PlanExecutor
    from chemagent.query.intent import parse
    from chemagent.query.planner import plan

    state = _uncached_state()
    executor = PlanExecutor(state.runner)
    loop = asyncio.new_event_loop()

    def in_process() -> None:
        loop.run_until_complete(
            executor.execute(plan(parse(TYPICAL_QUERY)), max_workers=POOL_THREADS)
        )

    times: dict[str, list[float]] = collections.defaultdict(list)
    server_wall: dict[str, list[float]] = collections.defaultdict(list)
    try:
        with serve(SERVER_ENV, log_name="query") as server:
            command = server.shown_command()

            def post(parallel: bool) -> Callable[[], None]:
                body = {
                    "query": TYPICAL_QUERY,
                    "parallel": parallel,
                    "max_workers": POOL_THREADS,
                    "verbose": True,
                }
                key = "server_parallel" if parallel else "server_serial"

                def call() -> None:
                    response = server.client.post("/v1/query", json=body)
                    answer = response.json()
                    if response.status_code != 200 or answer.get("status") != "ok":
                        raise RuntimeError(f"/v1/query -> {response.status_code}: {response.text}")
                    metrics = answer["metrics"]
                    if metrics.get("steps_cached"):
                        raise RuntimeError(
                            f"/v1/query: {metrics['steps_cached']} steps came from a cache; "
                            "the benchmark must run the server with the cache off"
                        )
                    server_wall[key].append(float(metrics["wall_seconds"]))

                return call

            calls: dict[str, Callable[[], None]] = {
                "http_parallel": post(True),
                "http_serial": post(False),
                "in_process": in_process,
                "http_floor": lambda: _ok(server.client.get("/healthz")),
            }
            for fn in calls.values():  # warm-up
                for _ in range(5):
                    fn()
            server_wall.clear()
            names = list(calls)
            for rep in range(repeats):
                for k in range(len(names)):
                    name = names[(rep + k) % len(names)]
                    started = time.perf_counter()
                    calls[name]()
                    times[name].append(time.perf_counter() - started)
    finally:
        loop.close()
        state.executor.shutdown(wait=True)
    stats = {k: stats_ms(v) for k, v in times.items()}
    stats.update({k: stats_ms(v) for k, v in server_wall.items()})
    result = {
        "command": command,
        "query": TYPICAL_QUERY,
        "repeats": repeats,
        "stats": stats,
        "ratios": {
            "http_parallel_over_in_process_p50": ratio(
                stats["http_parallel"]["p50_ms"], stats["in_process"]["p50_ms"]
            ),
            "serial_over_parallel_p50": ratio(
                stats["http_serial"]["p50_ms"], stats["http_parallel"]["p50_ms"]
            ),
        },
    }
    _log(
        f"HTTP /v1/query p50 parallel {stats['http_parallel']['p50_ms']:.2f} ms, serial "
        f"{stats['http_serial']['p50_ms']:.2f} ms, in-process {stats['in_process']['p50_ms']:.2f}"
        " ms"
    )
    return result


# --------------------------------------------------------------------------- entry


def run(quick: bool = False) -> dict[str, Any]:
    """Parts (a) and (b), in-process; ``quick`` runs fewer repetitions."""
    return {
        "parse_plan": parse_plan(repeats=20 if quick else 200),
        "parallel": parallel_plans(repeats=8 if quick else 60),
    }


def run_http(quick: bool = False) -> dict[str, Any]:
    """Part (c), or why it was skipped."""
    if not query_route_exists():
        return {"skipped": "POST /v1/query is not in this tree yet"}
    return http_query(repeats=20 if quick else 150)


# --------------------------------------------------------------------------- rendering
# Called by report.py: summary rows and section 4 of docs/BENCHMARKS.md.

Row = tuple[str, str, str, str, str, str]
_LABELS = {"serial": "serial", "parallel_w2": "parallel, 2 workers", "parallel_w4": "4 workers"}


def summary_rows(results: dict[str, Any]) -> list[Row]:
    """(measure, result, baseline, ratio, target, verdict) rows for the summary table."""
    out: list[Row] = []
    q = results.get("query", {})
    if "parse_plan" in q:
        pp = q["parse_plan"]
        s, c = pp["stats"]["parse_plan"], pp["stats"]["calibration"]
        out.append(
            (
                f"query: parse + plan ({pp['queries']} golden queries x {pp['repeats']})",
                f"p50 {s['p50_ms']:.3f} ms, p95 {s['p95_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms",
                f"p50 {c['p50_ms']:.3f} ms (2,000 Python calls)",
                f"{pp['ratios']['parse_plan_over_calibration_p50']:.2f}x",
                f"p50 <= {pp['target_ms']:g} ms",
                "PASS" if pp["pass"] else "MISS",
            )
        )
    for name, sc in q.get("parallel", {}).get("scenarios", {}).items():
        w = sc["wall"]
        out.append(
            (
                f"query plan `{name}`: parallel vs parallel=false",
                f"p50 {w['parallel_w4']['p50_ms']:.2f} ms (4 workers), "
                f"{w['parallel_w2']['p50_ms']:.2f} ms (2)",
                f"serial p50 {w['serial']['p50_ms']:.2f} ms",
                f"speedup {sc['speedup_w4']:.2f}x (4), {sc['speedup_w2']:.2f}x (2)",
                "measured (issue 3)",
                "info",
            )
        )
    h = results.get("query_http", {})
    if "stats" in h:
        s = h["stats"]
        out.append(
            (
                "POST /v1/query, one typical query",
                f"p50 {s['http_parallel']['p50_ms']:.2f} ms parallel, "
                f"{s['http_serial']['p50_ms']:.2f} ms parallel=false",
                f"p50 {s['in_process']['p50_ms']:.2f} ms (parse, plan, execute in-process)",
                f"{h['ratios']['http_parallel_over_in_process_p50']:.2f}x",
                "none",
                "info",
            )
        )
    return out


def markdown_section(results: dict[str, Any]) -> list[str]:
    """Section 4 of docs/BENCHMARKS.md (empty when the part did not run)."""
    q = results.get("query")
    if not q:
        return []
    out = ["", "## 4. Plain-English queries: parse + plan, parallel plans", ""]
    if "error" in q:
        return [*out, f"Failed: {q['error']}"]
    out += _parse_plan_section(q["parse_plan"])
    out += _parallel_section(q["parallel"])
    out += _http_section(results.get("query_http", {}))
    return out


def _parse_plan_section(pp: dict[str, Any]) -> list[str]:
    stats, r = pp["stats"], pp["ratios"]
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(pp["skipped"].items())) or "none"
    out = [
        "### 4a. Parse + plan (in-process)",
        "",
        f"`parse(query, context)` then `plan(intent)` for the {pp['queries']} golden queries",
        "(`tests/golden/queries.json`) that plan; left out because they do not: "
        f"{skipped}. A follow-up",
        "is parsed with its context's intent, parsed beforehand (as the session keeps it).",
        f"{pp['repeats']} passes, each in a new shuffled order (seed {pp['seed']}); every",
        "query timed on its own, then its baselines right after it: `orjson.dumps(intent)`",
        "and a fixed pure-Python workload (2,000 function calls) that tracks the machine's",
        "Python speed at that moment. Per kind = the parsed intent's kind.",
        "",
    ]
    body = [
        stat_row("**parse + plan, all**", stats["parse_plan"]),
        stat_row("parse alone", stats["parse"]),
        stat_row("plan alone", stats["plan"]),
    ]
    body += [stat_row(f"parse + plan, {kind}", s) for kind, s in pp["by_kind"].items()]
    body += [
        stat_row("baseline: 2,000 Python calls", stats["calibration"]),
        stat_row("baseline: orjson.dumps(intent)", stats["orjson_intent"], 4),
    ]
    out += md_table(STAT_HEADER, body)
    s = stats["parse_plan"]
    out += [
        "",
        f"Parse + plan p50 {s['p50_ms']:.3f} ms against the target p50 <= "
        f"{pp['target_ms']:g} ms -> **{'PASS' if pp['pass'] else 'MISS'}**; "
        f"{r['parse_plan_over_calibration_p50']:.2f}x the Python-calls baseline, "
        f"{r['parse_plan_over_orjson_p50']:.0f}x encoding the intent. Slowest queries (p50 ms):",
        "",
    ]
    out += [f"- {row['p50_ms']:.3f}: `{_short(row['query'], 110)}`" for row in pp["slowest_p50"]]
    return out


def _parallel_section(p: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### 4b. Plans with independent steps: parallel vs `parallel=false`",
        "",
        "`PlanExecutor` -> `StepRunner` -> `ThreadPoolExecutor("
        f"{p['pool_threads']})` over the bundled library, in the benchmark process. Each",
        f"scenario runs {p['repeats']} times in each mode (`parallel=false`; `parallel=true`",
        "with `max_workers` 2 and 4), the modes interleaved and their order rotated each",
        "repetition, after one warm-up run each. Wall = around `execute()`. Speedup = serial",
        "wall p50 / parallel wall p50. *Executor speedup* is the executor's own",
        "`ExecutionMetrics.speedup` (sum of node times / wall, p50 over runs) and *par. ratio*",
        "its `parallelization_ratio`, both at 4 workers. *CPU/wall* is the process's CPU",
        "seconds (all threads) per wall second during a run, p50: about 1 means one core was",
        "busy, 2 both. The runner is the app's (`build_state`) with the step cache off",
        "(`cache_l1_size=0`, no Redis): every step looks up the cache and misses, and every",
        "run is checked to report `steps_cached == 0`, so each repetition recomputes and the",
        "speedups are about computation. Load average (1 min) before/after:",
        f"{p['loadavg_1min'][0]} / {p['loadavg_1min'][1]} on a 2-CPU machine shared with "
        "other work.",
        "",
    ]
    body = []
    for name, sc in p["scenarios"].items():
        w, em = sc["wall"], sc["executor_metrics"]["parallel_w4"]
        cores = sc["executor_metrics"]["serial"]["cpu_per_wall_p50"], em["cpu_per_wall_p50"]
        body.append(
            [
                f"`{name}`",
                f"{sc['nodes']} ({' + '.join(map(str, sc['layers']))})",
                f"{w['serial']['p50_ms']:.2f}",
                f"{w['parallel_w2']['p50_ms']:.2f}",
                f"{w['parallel_w4']['p50_ms']:.2f}",
                f"**{sc['speedup_w2']:.2f}x**",
                f"**{sc['speedup_w4']:.2f}x**",
                f"{em['speedup_p50']:.2f}x",
                f"{em['parallelization_ratio_p50']:.2f}",
                f"{cores[0]:.2f} / {cores[1]:.2f}",
            ]
        )
    out += md_table(
        [
            "scenario",
            "nodes (per layer)",
            "serial p50 ms",
            "2 workers p50 ms",
            "4 workers p50 ms",
            "speedup (2)",
            "speedup (4)",
            "executor speedup (4)",
            "par. ratio (4)",
            "CPU/wall serial / 4",
        ],
        body,
    )
    out += _parallel_findings(p["scenarios"])
    out += ["", "Scenarios:", ""]
    out += [f"- `{name}`: {sc['what']}" for name, sc in p["scenarios"].items()]
    out += ["", "p95 of the wall times (ms):", ""]
    out += md_table(
        ["scenario", *(_LABELS[m] for m in p["modes"])],
        [
            [f"`{name}`", *(f"{sc['wall'][m]['p95_ms']:.2f}" for m in p["modes"])]
            for name, sc in p["scenarios"].items()
        ],
    )
    return out


def _parallel_findings(scenarios: dict[str, Any]) -> list[str]:
    """Sentences computed from this run: the I/O overlap, the CPU ceiling, the metric gap."""
    out = [""]
    net, cpu = scenarios.get("network_sleep"), scenarios.get("gil_free_cpu")
    if net:
        ideal = min(4, net["layers"][0])
        out.append(
            f"- I/O-bound steps overlap: `network_sleep` runs {net['speedup_w4']:.2f}x faster "
            f"with 4 workers (ideal {ideal}x) and {net['speedup_w2']:.2f}x with 2 (ideal 2x)."
        )
    if cpu:
        cores = cpu["executor_metrics"]["parallel_w4"]["cpu_per_wall_p50"]
        out.append(
            f"- CPU-bound ceiling in this run: `gil_free_cpu` (no GIL held) gains "
            f"{cpu['speedup_w4']:.2f}x with 4 workers, using {cores:.2f} CPU s per wall s: "
            "that many cores were free for this process; CPU-bound plans cannot beat it."
        )
    gaps = [
        f"`{name}` {sc['executor_metrics']['parallel_w4']['speedup_p50']:.2f}x vs "
        f"{sc['speedup_w4']:.2f}x measured"
        for name, sc in scenarios.items()
        if sc["executor_metrics"]["parallel_w4"]["speedup_p50"] > 1.5 * sc["speedup_w4"]
    ]
    if gaps:
        out.append(
            "- `ExecutionMetrics.speedup` (node time / wall) overstates the gain when nodes "
            "wait for the GIL or a core, since the wait counts as node time: "
            + "; ".join(gaps)
            + "."
        )
    return out


def _http_section(h: dict[str, Any]) -> list[str]:
    out = ["", "### 4c. `POST /v1/query` end to end", ""]
    if "stats" not in h:
        return [*out, f"Not measured: {h.get('skipped') or h.get('error') or 'not run'}."]
    s, r = h["stats"], h["ratios"]
    out += [
        f"Server: `{h['command']}` (step cache off: no L1, no Redis; each response is checked for",
        f"`steps_cached == 0`). Query: `{h['query']}`, sent {h['repeats']} times each with",
        "`parallel` true (`max_workers` 4) and false, `verbose` on, over one keep-alive",
        "connection, interleaved with the same query parsed, planned and executed in the",
        "benchmark process (4 workers) and with `GET /healthz` (the HTTP floor).",
        "",
    ]
    out += md_table(
        STAT_HEADER,
        [
            stat_row("POST /v1/query, parallel=true", s["http_parallel"], 2),
            stat_row("POST /v1/query, parallel=false", s["http_serial"], 2),
            stat_row("server's own wall (metrics.wall_seconds), parallel", s["server_parallel"], 2),
            stat_row("server's own wall, parallel=false", s["server_serial"], 2),
            stat_row("baseline: parse + plan + execute in-process", s["in_process"], 2),
            stat_row("HTTP floor: GET /healthz", s["http_floor"], 2),
        ],
    )
    out += [
        "",
        f"HTTP parallel / in-process p50 {r['http_parallel_over_in_process_p50']:.2f}x; "
        f"parallel=false / parallel p50 {r['serial_over_parallel_p50']:.2f}x.",
    ]
    return out
