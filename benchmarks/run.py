"""Run every benchmark, print a table and rewrite docs/BENCHMARKS.md (``make bench``).

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--skip-moses] [--no-profile]
                                       [--rebuild-moses] [--no-write-docs]
                                       [--only PART[,PART...]]

Every result is compared with a baseline measured in the same run (the machine is small
and shared, so absolute numbers drift between runs; ratios much less). Raw results go to
``benchmarks/results/bench-<timestamp>.json`` and, unless ``--only``, ``latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cache
import bench_http
import bench_properties
import bench_query
import bench_startup
from harness import RESULTS, ROOT, bare_uvicorn_latency, loopback_latency, machine
from report import render_markdown, render_table

DOC = ROOT / "docs" / "BENCHMARKS.md"
PARTS = ("platform", "startup", "properties", "moses", "query", "cache", "http")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and molecules")
    parser.add_argument("--skip-moses", action="store_true", help="skip the MOSES similarity")
    parser.add_argument("--rebuild-moses", action="store_true", help="rebuild the MOSES index")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy profile")
    parser.add_argument(
        "--no-write-docs", action="store_true", help="do not rewrite docs/BENCHMARKS.md"
    )
    parser.add_argument(
        "--only",
        metavar="PART[,PART...]",
        type=lambda text: set(text.split(",")),
        help=f"run only these parts ({', '.join(PARTS)}); implies --no-write-docs",
    )
    parser.add_argument(
        "--render",
        metavar="JSON",
        help="measure nothing: rewrite docs/BENCHMARKS.md from a results file "
        "(e.g. after editing benchmarks/ANALYSIS.md)",
    )
    args = parser.parse_args(argv)
    if args.only:
        unknown = args.only - set(PARTS)
        if unknown:
            parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
        args.no_write_docs = True  # a partial run must not replace the full report
    return args


def _step(name: str, results: dict[str, Any], fn: Any) -> None:
    started = time.perf_counter()
    print(f"== {name}", file=sys.stderr, flush=True)
    try:
        results[name] = fn()
    except Exception as exc:  # one failing part must not lose the others' numbers
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    results.setdefault("durations_s", {})[name] = round(time.perf_counter() - started, 1)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.render:
        path = Path(args.render)
        DOC.write_text(render_markdown(json.loads(path.read_text()), raw_name=_shown(path)))
        print(f"wrote {DOC.relative_to(ROOT)} from {path}")
        return 0
    quick = args.quick
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command(argv),
        "quick": quick,
        "machine": machine(),
    }

    def wanted(part: str) -> bool:
        return args.only is None or part in args.only

    if wanted("platform"):
        _step(
            "platform",
            results,
            lambda: {
                "loopback_tcp_echo": loopback_latency(),
                "bare_uvicorn": bare_uvicorn_latency(),
            },
        )
    if wanted("startup"):
        _step("startup", results, lambda: bench_startup.run(repeats=1 if quick else 3))
    if wanted("properties"):
        _step(
            "properties",
            results,
            lambda: bench_properties.run(count=50 if quick else 200, warmup=10),
        )
    if wanted("query"):
        _step("query", results, lambda: bench_query.run(quick=quick))
        _step("query_http", results, lambda: bench_query.run_http(quick=quick))
    if wanted("cache"):
        with bench_cache.RedisProcess() as redis:  # started by the first part that needs it
            _step("cache_inprocess", results, lambda: bench_cache.in_process(redis, quick))
            _step("cache_http", results, lambda: bench_cache.http(redis, quick))
            _step("cache_zipf", results, lambda: bench_cache.zipf(quick))
            _step("cache_redis", results, lambda: bench_cache.redis_round_trip(redis, quick))
    if wanted("http"):
        _step("http", results, lambda: bench_http.run(quick=quick))
    if not args.skip_moses and wanted("moses"):
        import bench_similarity
        import moses_data

        _step("moses_build", results, lambda: moses_data.ensure_index(rebuild=args.rebuild_moses))
        if "error" not in results["moses_build"]:
            _step(
                "moses_full_build_projection",
                results,
                # The builder hands out 2,000-molecule chunks: one per worker process.
                lambda: moses_data.project_full_build(
                    2000 * min(8, os.cpu_count() or 1),
                    results["moses_build"]["build_seconds"],
                ),
            )
            _step(
                "moses_similarity",
                results,
                lambda: bench_similarity.run(
                    queries=20 if quick else 50, warmup=10, profile=not args.no_profile
                ),
            )
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    raw = json.dumps(results, indent=2, default=str)
    (RESULTS / f"bench-{stamp}.json").write_text(raw)
    if not args.only:  # latest.json stays a full run (``--render`` reads it)
        (RESULTS / "latest.json").write_text(raw)
    print(render_table(results))
    if not args.no_write_docs:
        DOC.write_text(render_markdown(results, raw_name=f"benchmarks/results/bench-{stamp}.json"))
        print(f"wrote {DOC.relative_to(ROOT)} and benchmarks/results/bench-{stamp}.json")
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


def _command(argv: list[str]) -> str:
    script = (
        f"{Path(sys.executable).relative_to(ROOT) if _inside(sys.executable) else sys.executable}"
    )
    line = shlex.join([script, "benchmarks/run.py", *argv])
    return f"make bench  # = {line}" if os.environ.get("MAKELEVEL") and not argv else line


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if _inside(str(resolved)) else str(resolved)


def _inside(path: str) -> bool:
    try:
        Path(path).relative_to(ROOT)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
