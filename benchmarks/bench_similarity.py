"""Similarity search on MOSES (1.58M molecules): HTTP vs FPSim2 called directly.

The server runs with ``CHEMAGENT_LIBRARY=<moses index>``; the baseline is an FPSim2 engine
on the same ``fingerprints.h5`` in this process (``in_memory_fps=True``, one worker, as the
server uses it). Queries are MOSES molecules (fixed seed), a fresh disjoint set for the
warm-up, for each mode and for the breakdown, and each query is timed directly, through
the service in-process (``Operations.similarity``, no HTTP) and then over HTTP, one query at
a time, so noise on the shared machine hits every side alike.

Modes:
  (a) threshold 0.7: ``POST /v1/similarity {query, threshold: 0.7, limit: 10}`` vs
      ``engine.similarity(query, 0.7)``; target: HTTP p50 <= direct p50 + 2 ms.
  (b) top-10: ``{query, threshold: 0.0, top_k: 10, limit: 10}`` vs
      ``engine.top_k(query, 10, 0.0)``; target: p50 ratio <= 1.2.

The breakdown calls the server's own step functions in-process (``resolve``, then
``similarity``, then ``SimilarityIndex.search`` alone), so search cost and
query-preparation cost can be told apart; the ChEMBL standardization that a fully built
library would add to the query preparation is timed on its own for reference.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import BIN, RESULTS, busy_wait, hwm_mb, ratio, rss_mb, serve, summary_ms
from moses_data import INDEX, sample_smiles

THRESHOLD = 0.7
TOP_K = 10
ABS_TARGET_MS = 2.0
RATIO_TARGET = 1.2


def _time(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


class InProcess:
    """The service minus HTTP: ``build_state`` on the MOSES index, in this process."""

    def __init__(self, max_top_k: int) -> None:
        from chemagent.app import build_state
        from chemagent.settings import Settings
        from chemagent.steps.registry import get_kind

        self.state = build_state(Settings(library=INDEX, max_top_k=max_top_k))
        self.ctx = self.state.runner.context
        self.ops = self.state.operations
        self.loop = asyncio.new_event_loop()
        self.resolve_fn = get_kind("resolve").fn
        self.similarity_fn = get_kind("similarity").fn

    def close(self) -> None:
        self.loop.close()
        self.state.executor.shutdown(wait=False, cancel_futures=True)

    def operations(self, query: str, threshold: float, top_k: int | None) -> dict[str, Any]:
        result: dict[str, Any] = self.loop.run_until_complete(
            self.ops.similarity(query, threshold, top_k, 10, 0)
        )
        return result

    def resolve(self, query: str) -> str:
        """The resolve step; returns the SMILES the similarity step gets (as Operations)."""
        resolved = self.resolve_fn(self.ctx, query, {"as": "auto"})
        if resolved["matches"]:
            row = self.ctx.library.row_of(resolved["matches"][0]["chembl_id"])
            return str(self.ctx.library.parent_smiles[row])
        return str(resolved["molecule"]["parent_smiles"])

    def similarity_step(self, smiles: str) -> None:
        self.similarity_fn(self.ctx, smiles, {"threshold": THRESHOLD, "top_k": None})

    def search(self, smiles: str) -> None:
        self.ctx.similarity.search(smiles, THRESHOLD, None, limit=self.ctx.max_results)


def _standardize(smiles: str) -> None:
    from chemagent.chem.molecule import parse_smiles
    from chemagent.chem.standardize import standardize

    standardize(parse_smiles(smiles))


def _profile(
    server_pid: int, client: Any, queries: list[str], body: dict[str, Any], name: str
) -> Any:
    """py-spy the server while it answers ``queries`` 3 times; None if py-spy is absent."""
    py_spy = BIN / "py-spy"
    if not py_spy.exists():
        return None
    out = RESULTS / f"moses-similarity-profile-{name}.txt"
    proc = subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(server_pid),
            "--rate",
            "500",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # let py-spy attach
    passes = 3 if body["threshold"] < 1.0 else 20
    for _ in range(passes):
        for smiles in queries:
            client.post("/v1/similarity", json={**body, "query": smiles})
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    _, err = proc.communicate(timeout=60)
    if not out.exists():
        return {"error": err.decode(errors="replace")[-500:]}
    return {
        "file": str(out.relative_to(RESULTS.parent.parent)),
        "requests": passes * len(queries),
        "body": body,
        **_summarize(out),
    }


_IDLE_LEAVES = (
    "Runner.run (asyncio/runners.py",  # the event loop in epoll_wait
    "_worker (concurrent/futures/thread.py",  # an executor thread waiting for work
    "Condition.wait (threading.py",
    "select (selectors.py",
)


def _bucket(frame: str) -> str | None:
    """Name the part of the request a py-spy frame (``function (file:line)``) belongs to."""
    name, _, where = frame.partition(" (")
    if "FPSim2" in where:
        return "FPSim2 search (incl. query fingerprint)"
    if "inchi" in name.lower() or "inchi.py" in where:
        return "InChI"
    if "chembl_structure_pipeline" in where or name in ("standardize_mol", "get_parent_mol"):
        return "ChEMBL standardize + parent"
    if name in ("parse_smiles", "canonical_smiles", "require_molecule", "_looks_like_smiles"):
        return "SMILES parse / canonical"
    if name == "summary" and "library.py" in where:
        return "result building (library.summary)"
    if "pydantic" in where or "serialize_response" in name or "model_validate" in name:
        return "pydantic validation / serialization"
    if "json" in where or "orjson" in name or "json" in name.lower():
        return "JSON encode / decode"
    if any(p in where for p in ("uvicorn/", "starlette/", "fastapi/", "httptools")):
        return "ASGI server / framework"
    if "chemagent/" in where:
        return "chemagent (routes, operations, runner)"
    return None


def _summarize(path: Path) -> dict[str, Any]:
    """Collapsed stacks -> share of busy samples per part (the frame nearest the leaf
    decides); samples whose leaf is an idle wait (epoll, queue) are left out."""
    total = idle = 0
    buckets: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            idle += count
            continue
        total += count
        leaves[frames[-1][:120]] += count
        for frame in reversed(frames):
            bucket = _bucket(frame)
            if bucket:
                buckets[bucket] += count
                break
        else:
            buckets["other (asyncio, threads)"] += count
    share = {k: round(v / total, 4) for k, v in buckets.most_common()} if total else {}
    top = [(k, round(v / total, 4)) for k, v in leaves.most_common(15)] if total else []
    return {"samples": total, "idle_samples": idle, "share": share, "top_leaf_frames": top}


def _paired_median(a: list[float], b: list[float]) -> float:
    """Median of per-query differences ``a - b`` in ms (the same molecules on both sides)."""
    diffs = sorted((x - y) * 1000 for x, y in zip(a, b, strict=True))
    mid = len(diffs) // 2
    return round(diffs[mid] if len(diffs) % 2 else (diffs[mid - 1] + diffs[mid]) / 2, 3)


def run(
    queries: int = 50,
    warmup: int = 10,
    seed: int = 1584663,
    max_top_k: int = 10_000,
    profile: bool = True,
) -> dict[str, Any]:
    from FPSim2 import FPSim2Engine

    from chemagent.chem.molecule import canonical_smiles, parse_smiles

    warm_set = sample_smiles(warmup, seed)
    set_a = sample_smiles(queries, seed + 1, exclude=set(warm_set))
    set_b = sample_smiles(queries, seed + 2, exclude=set(warm_set) | set(set_a))
    set_c = sample_smiles(queries, seed + 3, exclude=set(warm_set) | set(set_a) | set(set_b))
    env = {"CHEMAGENT_LIBRARY": str(INDEX), "CHEMAGENT_MAX_TOP_K": str(max_top_k)}
    result: dict[str, Any] = {"queries_per_mode": queries, "seed": seed}
    with serve(env, timeout=900, log_name="moses") as server:
        result["command"] = server.shown_command()
        result["server_ready_s"] = round(server.ready_seconds, 2)
        result["server_rss_at_ready_mb"] = rss_mb(server.pid)
        print(
            f"[moses] server ready in {server.ready_seconds:.1f} s, "
            f"RSS {result['server_rss_at_ready_mb']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        h5 = str(INDEX / "fingerprints.h5")
        load_s, engine = _time(FPSim2Engine, h5, in_memory_fps=True)
        result["direct_engine_load_s"] = round(load_s, 2)
        load_s, local = _time(InProcess, max_top_k)
        result["in_process_state_load_s"] = round(load_s, 2)
        client = server.client

        def http(body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            response = client.post("/v1/similarity", json=body)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"/v1/similarity {body} -> {response.status_code}")
            return elapsed, response.json()

        sim_body = {"threshold": THRESHOLD, "limit": 10}
        topk_body = {"threshold": 0.0, "top_k": TOP_K, "limit": 10}
        for smiles in warm_set:
            engine.similarity(smiles, THRESHOLD)
            engine.top_k(smiles, TOP_K, 0.0)
            local.operations(smiles, THRESHOLD, None)
            local.operations(smiles, 0.0, TOP_K)
            local.search(local.resolve(smiles))
            _standardize(smiles)
            http({**sim_body, "query": smiles})
            http({**topk_body, "query": smiles})

        times: dict[str, list[float]] = collections.defaultdict(list)
        mismatches = {"threshold": 0, "top_k": 0}
        hits: list[int] = []
        for smiles in set_a:
            seconds, found = _time(engine.similarity, smiles, THRESHOLD)
            times["direct_threshold"].append(seconds)
            times["inproc_threshold"].append(_time(local.operations, smiles, THRESHOLD, None)[0])
            seconds, body = http({**sim_body, "query": smiles})
            times["http_threshold"].append(seconds)
            hits.append(len(found))
            mismatches["threshold"] += body["total"] != len(found)
        for smiles in set_b:
            seconds, found = _time(engine.top_k, smiles, TOP_K, 0.0)
            times["direct_top_k"].append(seconds)
            times["inproc_top_k"].append(_time(local.operations, smiles, 0.0, TOP_K)[0])
            seconds, body = http({**topk_body, "query": smiles})
            times["http_top_k"].append(seconds)
            best = body["results"][0]["similarity"] if body["results"] else None
            mismatches["top_k"] += best != round(float(found[0][1]), 4)

        # Breakdown on a third set: the server's steps one by one, in this process.
        for smiles in set_c:
            times["direct_threshold_c"].append(_time(engine.similarity, smiles, THRESHOLD)[0])
            seconds, prepared = _time(local.resolve, smiles)
            times["resolve_step"].append(seconds)
            times["similarity_step"].append(_time(local.similarity_step, prepared)[0])
            times["search_only"].append(_time(local.search, prepared)[0])
            times["inproc_threshold_c"].append(_time(local.operations, smiles, THRESHOLD, None)[0])
            times["standardize_only"].append(_time(_standardize, smiles)[0])
        # Diagnostic: threshold 1.0 makes the search trivial (only identical popcounts are
        # scanned), so HTTP - direct there is the fixed per-request cost with hot caches.
        for smiles in set_c:
            times["direct_exact"].append(_time(engine.similarity, smiles, 1.0)[0])
            times["http_exact"].append(http({"threshold": 1.0, "limit": 10, "query": smiles})[0])
        for smiles in set_c:  # again back to back, caches warm (no search in between)
            times["resolve_step_hot"].append(_time(local.resolve, smiles)[0])
        times["http_floor"] = [_time(client.get, "/healthz")[0] for _ in range(100)]
        for _ in range(50):  # the server idle 30 ms (as during a search); we stay on-CPU
            busy_wait(0.03)
            times["http_floor_after_idle"].append(_time(client.get, "/healthz")[0])
        for _ in range(50):  # both idle 30 ms, as the client is while it awaits a search
            time.sleep(0.03)
            times["http_floor_both_idle"].append(_time(client.get, "/healthz")[0])
        for smiles in set_c:  # the chemistry a query goes through, one call at a time
            times["parse_smiles"].append(_time(parse_smiles, smiles)[0])
            mol = parse_smiles(smiles)
            times["canonical_smiles"].append(_time(canonical_smiles, mol)[0])
        local.close()
        result["server_rss_after_mb"] = rss_mb(server.pid)
        result["server_hwm_mb"] = hwm_mb(server.pid)
        if profile:
            result["profile"] = _profile(
                server.pid, client, set_c, {"threshold": THRESHOLD, "limit": 10}, "t07"
            )
            result["profile_exact"] = _profile(
                server.pid, client, set_c, {"threshold": 1.0, "limit": 10}, "t10"
            )
    stats = {k: summary_ms(v) for k, v in times.items()}
    result["stats"] = stats
    result["hits_threshold"] = {
        "min": min(hits),
        "median": sorted(hits)[len(hits) // 2],
        "max": max(hits),
    }
    result["mismatches"] = mismatches
    p50 = {k: v["p50_ms"] for k, v in stats.items()}
    d_a, h_a = p50["direct_threshold"], p50["http_threshold"]
    d_b, h_b = p50["direct_top_k"], p50["http_top_k"]
    result["threshold"] = {
        "http_p50_ms": h_a,
        "direct_p50_ms": d_a,
        "inproc_p50_ms": p50["inproc_threshold"],
        "http_p95_ms": stats["http_threshold"]["p95_ms"],
        "direct_p95_ms": stats["direct_threshold"]["p95_ms"],
        "overhead_p50_ms": round(h_a - d_a, 3),
        "ratio": ratio(h_a, d_a),
        "target": f"HTTP p50 <= direct p50 + {ABS_TARGET_MS:g} ms",
        "pass": h_a <= d_a + ABS_TARGET_MS,
    }
    result["top_k"] = {
        "http_p50_ms": h_b,
        "direct_p50_ms": d_b,
        "inproc_p50_ms": p50["inproc_top_k"],
        "http_p95_ms": stats["http_top_k"]["p95_ms"],
        "direct_p95_ms": stats["direct_top_k"]["p95_ms"],
        "overhead_p50_ms": round(h_b - d_b, 3),
        "ratio": ratio(h_b, d_b),
        "target": f"HTTP p50 / direct p50 <= {RATIO_TARGET:g}",
        "pass": ratio(h_b, d_b) <= RATIO_TARGET,
    }
    # Per-query differences (each part measured on the same molecules as its neighbour),
    # medians of those: sturdier than differences of p50s, as search time varies by query.
    t = times
    pairs = zip(t["resolve_step"], t["similarity_step"], strict=True)
    resolve_plus_step = [r + q for r, q in pairs]
    result["breakdown_p50_ms"] = {
        "FPSim2 search, direct (set C p50)": p50["direct_threshold_c"],
        "SimilarityIndex.search - direct (tie-break sort, quiet_rdkit)": _paired_median(
            t["search_only"], t["direct_threshold_c"]
        ),
        "similarity step - search (parse query, build hits)": _paired_median(
            t["similarity_step"], t["search_only"]
        ),
        "resolve step (query preparation, p50, right after a search)": p50["resolve_step"],
        "resolve step back to back (p50, warm caches)": p50["resolve_step_hot"],
        "Operations - both steps (runner, thread hops)": _paired_median(
            t["inproc_threshold_c"], resolve_plus_step
        ),
        "Operations in-process - direct (set A)": _paired_median(
            t["inproc_threshold"], t["direct_threshold"]
        ),
        "HTTP - Operations in-process (set A: ASGI, pydantic, JSON, loopback)": _paired_median(
            t["http_threshold"], t["inproc_threshold"]
        ),
        "HTTP - direct (set A, paired median)": _paired_median(
            t["http_threshold"], t["direct_threshold"]
        ),
        "HTTP floor (GET /healthz p50)": p50["http_floor"],
        "HTTP floor after the server idled 30 ms (GET /healthz p50)": p50["http_floor_after_idle"],
        "HTTP floor after both idled 30 ms (GET /healthz p50)": p50["http_floor_both_idle"],
        "RDKit parse of one query (parse_smiles p50)": p50["parse_smiles"],
        "RDKit canonical SMILES of one query (p50)": p50["canonical_smiles"],
        "diagnostic: HTTP - direct at threshold 1.0 (trivial search, set C)": _paired_median(
            t["http_exact"], t["direct_exact"]
        ),
        "for reference: ChEMBL standardize of a query (skipped for a --fast index)": p50[
            "standardize_only"
        ],
    }
    result["top_k"]["paired_overhead_ms"] = _paired_median(t["http_top_k"], t["direct_top_k"])
    result["top_k"]["paired_http_minus_inproc_ms"] = _paired_median(
        t["http_top_k"], t["inproc_top_k"]
    )
    print(
        f"[moses] threshold: http p50 {h_a:.2f} ms vs direct {d_a:.2f} ms "
        f"(in-process {p50['inproc_threshold']:.2f}); top-k: http p50 {h_b:.2f} ms vs direct "
        f"{d_b:.2f} ms; resolve step {p50['resolve_step']:.2f} ms",
        file=sys.stderr,
        flush=True,
    )
    return result
