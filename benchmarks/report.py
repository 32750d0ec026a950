"""Render benchmark results: a terminal table and docs/BENCHMARKS.md."""

from __future__ import annotations

from typing import Any

import bench_cache
import bench_http
import bench_query
from harness import md_table

Row = tuple[str, str, str, str, str, str]


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return "info"
    return "PASS" if passed else "MISS"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def rows(results: dict[str, Any]) -> list[Row]:
    """(measure, result, baseline, ratio, target, verdict) for every headline number."""
    out: list[Row] = []
    echo = results.get("platform", {}).get("loopback_tcp_echo")
    if echo:
        out.append(
            (
                "platform: loopback TCP echo round trip",
                f"{echo['after_idle_p50_ms']:.3f} ms after 30 ms idle",
                f"{echo['hot_p50_ms']:.3f} ms back to back",
                f"{echo['after_idle_p50_ms'] / echo['hot_p50_ms']:.1f}x",
                "none (calibration)",
                "info",
            )
        )
    bare = results.get("platform", {}).get("bare_uvicorn")
    if bare:
        out.append(
            (
                "platform: GET on a do-nothing ASGI app (uvicorn)",
                f"{bare['after_idle_p50_ms']:.3f} ms after 30 ms idle",
                f"{bare['hot_p50_ms']:.3f} ms back to back",
                f"{bare['after_idle_p50_ms'] / bare['hot_p50_ms']:.1f}x",
                "none (calibration)",
                "info",
            )
        )
    startup = results.get("startup", {})
    if "ready" in startup:
        r, m = startup["ready"], startup["rss"]
        out.append(
            (
                "start-up: spawn -> /readyz 200 (bundled)",
                f"median {r['median_s']:.2f} s, max {r['max_s']:.2f} s",
                f"{r['baseline_median_s']:.2f} s (python + build_state, no server)",
                f"{r['ratio']:.2f}x",
                f"<= {r['target_s']:g} s (max)",
                _verdict(r["pass"]),
            )
        )
        out.append(
            (
                "RSS per worker after warm-up (bundled)",
                f"median {m['median_mb']:.0f} MB, max {m['max_mb']:.0f} MB",
                f"{m['baseline_median_mb']:.0f} MB (python + build_state, no server)",
                f"{m['ratio']:.2f}x",
                f"<= {m['target_mb']:g} MB (max)",
                _verdict(m["pass"]),
            )
        )
    props = results.get("properties", {})
    if "stats" in props:
        s, q = props["stats"], props["ratios"]
        for mode in ("cold", "warm"):
            http, direct = s[f"http_{mode}"], s[f"direct_{mode}"]
            out.append(
                (
                    f"POST /v1/properties {mode} ({props['molecules']} mols)",
                    f"p50 {_ms(http['p50_ms'])}, p95 {_ms(http['p95_ms'])}",
                    f"p50 {_ms(direct['p50_ms'])}, p95 {_ms(direct['p95_ms'])} "
                    "(standardize + property_panel in-process)",
                    f"p50 {q[f'http_{mode}_p50_over_direct']:.2f}x, "
                    f"p95 {q[f'http_{mode}_p95_over_direct']:.2f}x",
                    "warm: served from the step cache (L1)" if mode == "warm" else "first request",
                    "info",
                )
            )
    build = results.get("moses_build", {})
    if "build_seconds" in build:
        proj = results.get("moses_full_build_projection", {})
        projected = proj.get("projected_full_seconds")
        out.append(
            (
                "MOSES index build, --fast (1.58M)",
                f"{build['build_seconds']:.0f} s"
                + (" (cached index; time of its build)" if build.get("cached") else ""),
                f"projected full build {projected / 60:.0f} min (from a "
                f"{proj['sample_size']}-molecule sample)"
                if projected
                else "n/a",
                f"{build['build_seconds'] / projected:.2f}x of full" if projected else "n/a",
                "none",
                "info",
            )
        )
    sim = results.get("moses_similarity", {})
    if "threshold" in sim:
        a, b = sim["threshold"], sim["top_k"]
        out.append(
            (
                "MOSES similarity, threshold 0.7 (HTTP)",
                f"p50 {_ms(a['http_p50_ms'])}, p95 {_ms(a['http_p95_ms'])}",
                f"p50 {_ms(a['direct_p50_ms'])}, p95 {_ms(a['direct_p95_ms'])} (FPSim2 direct)",
                f"{a['ratio']:.2f}x, {a['overhead_p50_ms']:+.2f} ms",
                "p50 <= direct + 2 ms",
                _verdict(a["pass"]),
            )
        )
        out.append(
            (
                "MOSES similarity, top-10 (HTTP)",
                f"p50 {_ms(b['http_p50_ms'])}, p95 {_ms(b['http_p95_ms'])}",
                f"p50 {_ms(b['direct_p50_ms'])}, p95 {_ms(b['direct_p95_ms'])} (FPSim2 direct)",
                f"{b['ratio']:.2f}x, {b['overhead_p50_ms']:+.2f} ms",
                "p50 ratio <= 1.2x",
                _verdict(b["pass"]),
            )
        )
        out.append(
            (
                "MOSES server (1.58M): ready, RSS",
                f"ready {sim['server_ready_s']:.1f} s, RSS {sim['server_rss_after_mb']:.0f} MB "
                f"(peak {sim['server_hwm_mb']:.0f} MB)",
                f"bundled: {startup['rss']['median_mb']:.0f} MB" if "rss" in startup else "n/a",
                f"{sim['server_rss_after_mb'] / startup['rss']['median_mb']:.1f}x"
                if "rss" in startup
                else "n/a",
                "none (the 250 MB target is for the bundled library)",
                "info",
            )
        )
    out += bench_query.summary_rows(results)
    out += bench_cache.summary_rows(results)
    out += bench_http.summary_rows(results)
    return out


def render_table(results: dict[str, Any]) -> str:
    header: Row = ("measure", "result", "baseline (same run)", "ratio", "target", "verdict")
    table = [header, *rows(results)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    errors = [
        f"{k}: {v['error']}" for k, v in results.items() if isinstance(v, dict) and "error" in v
    ]
    return "\n".join(lines + [f"ERROR {e}" for e in errors])


def _stats_rows(stats: dict[str, dict[str, float]], names: dict[str, str]) -> list[list[str]]:
    body = []
    for key, label in names.items():
        if key in stats:
            s = stats[key]
            body.append(
                [
                    label,
                    str(int(s["n"])),
                    f"{s['p50_ms']:.3f}",
                    f"{s['p95_ms']:.3f}",
                    f"{s['mean_ms']:.3f}",
                    f"{s['max_ms']:.3f}",
                ]
            )
    return body


_STATS_HEADER = ["measure", "n", "p50 ms", "p95 ms", "mean ms", "max ms"]


def _relative(text: str) -> str:
    """Commands as run from the repository root (the benchmark's working directory)."""
    from harness import ROOT

    return text.replace(f"{ROOT}/benchmarks/../", "").replace(f"{ROOT}/", "")


def render_markdown(results: dict[str, Any], raw_name: str) -> str:
    return _relative(_render_markdown(results, raw_name))


def _render_markdown(results: dict[str, Any], raw_name: str) -> str:
    m = results["machine"]
    out: list[str] = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand, rerun it.",
        "Commands are shown as run from the repository root; servers listen on a free",
        "loopback port, so the `--port` differs from run to run.",
        "Every number is compared with a baseline measured in the same run: the machine is",
        "small and shared, so absolute numbers drift between runs and ratios much less.",
        "",
        f"- **Date:** {results['date']}",
        f"- **Command:** `{results['command']}`" + (" (quick mode)" if results["quick"] else ""),
        f"- **Machine:** {m['nproc']} CPUs (nproc; {m['sched_affinity']} usable), "
        f"{m['cpu_model']}, {m['memory_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}",
        f"- **Load average** at start {m['loadavg_at_start']}, at end "
        f"{m.get('loadavg_at_end', '?')} (other work shares this machine)",
        "- **Code measured:** commit "
        + (
            f"`{m['git']['commit']}`"
            + (" with uncommitted changes in src/" if m["git"]["src_dirty"] else "")
            if "git" in m
            else "not recorded"
        ),
        "- **Versions:** " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- **Raw results:** `{raw_name}` (gitignored); total run time {results['total_s']:.0f} s",
        "",
        "## Summary",
        "",
    ]
    out += md_table(
        ["measure", "result", "baseline (same run)", "ratio", "target", "verdict"],
        [list(r) for r in rows(results)],
    )
    errors = [(k, v["error"]) for k, v in results.items() if isinstance(v, dict) and "error" in v]
    if errors:
        out += ["", "**Errors:**", ""] + [f"- `{k}`: {e}" for k, e in errors]
    out += _startup_section(results.get("startup", {}))
    out += _properties_section(results.get("properties", {}))
    out += _moses_section(results)
    out += bench_query.markdown_section(results)
    out += bench_cache.markdown_section(results)
    out += bench_http.markdown_section(results)
    out += _analysis_section()
    out += _method_section()
    return "\n".join(out) + "\n"


def _startup_section(s: dict[str, Any]) -> list[str]:
    if "ready" not in s:
        return []
    r, m = s["ready"], s["rss"]
    out = [
        "",
        "## 1. Start-up and memory (bundled library, one uvicorn worker)",
        "",
        f"Command: `{s['command']}`, spawned {s['repeats']} times. Ready = spawn -> first",
        "200 from `GET /readyz` (polled every 5 ms). RSS = `VmRSS` of the server process",
        "(with one uvicorn worker the server process is the worker) after "
        f"{s['runs'][0]['warmup_requests']} warm-up",
        "requests over every read endpoint. Baseline: a fresh interpreter that imports",
        "`chemagent.app` and calls `build_state(Settings())` (the lifespan's library load)",
        f"with no server: `{s['baseline_command']}`.",
        "",
    ]
    body = []
    for i, (run, base) in enumerate(zip(s["runs"], s["baselines"], strict=True), start=1):
        body.append(
            [
                str(i),
                f"{run['ready_s']:.2f}",
                f"{base['wall_s']:.2f} ({base['import_s']:.2f} import + "
                f"{base['build_state_s']:.2f} build_state)",
                f"{run['rss_at_ready_mb']:.0f}",
                f"{run['rss_after_warmup_mb']:.0f}",
                f"{run['hwm_mb']:.0f}",
                f"{base['rss_mb']:.0f}",
            ]
        )
    out += md_table(
        [
            "run",
            "ready s",
            "baseline s",
            "RSS at ready MB",
            "RSS after warm-up MB",
            "peak MB",
            "baseline RSS MB",
        ],
        body,
    )
    out += [
        "",
        f"Ready: median {r['median_s']:.2f} s, max {r['max_s']:.2f} s, target <= "
        f"{r['target_s']:g} s -> **{_verdict(r['pass'])}** (judged on the max); "
        f"{r['ratio']:.2f}x the no-server baseline. A bare `python -c pass` takes "
        f"{r['interpreter_median_s']:.2f} s.",
        f"RSS: median {m['median_mb']:.0f} MB, max {m['max_mb']:.0f} MB, target <= "
        f"{m['target_mb']:g} MB -> **{_verdict(m['pass'])}**; {m['ratio']:.2f}x the "
        "no-server baseline.",
    ]
    return out


def _properties_section(p: dict[str, Any]) -> list[str]:
    if "stats" not in p:
        return []
    q = p["ratios"]
    out = [
        "",
        "## 2. Property panel per molecule, cold vs warm",
        "",
        f"{p['molecules']} distinct SMILES from the bundled `compounds.jsonl.gz` (seed "
        f"{p['seed']}), sent one at a time as `POST /v1/properties {{smiles}}` over one",
        f"keep-alive connection to `{p['command']}`. Each molecule is measured in-process",
        "right before its HTTP request (interleaved), so noise hits both. *Cold* is each",
        "molecule's first request, *warm* the same molecules again, served from the step",
        "cache (L1), so warm should be about the HTTP floor (section 5 has the cache itself).",
        "",
    ]
    out += md_table(
        _STATS_HEADER,
        _stats_rows(
            p["stats"],
            {
                "direct_cold": "baseline: standardize + property_panel (in-process), pass 1",
                "step_cold": "server work in-process: parse step + properties step (adds InChI x2)",
                "http_cold": "HTTP cold",
                "direct_warm": "baseline, pass 2",
                "http_warm": "HTTP warm (same molecules again)",
                "http_floor": "HTTP floor: GET /healthz",
            },
        ),
    )
    out += [
        "",
        f"Ratios: HTTP cold / baseline p50 {q['http_cold_p50_over_direct']:.2f}x "
        f"(p95 {q['http_cold_p95_over_direct']:.2f}x); warm p50 "
        f"{q['http_warm_p50_over_direct']:.2f}x (p95 {q['http_warm_p95_over_direct']:.2f}x); "
        f"warm / cold p50 {q['warm_over_cold_p50']:.2f}x. The server's own step work is "
        f"{q['step_p50_over_direct']:.2f}x the baseline (InChI for `molecule_structures` and "
        f"a second parse); HTTP cold is {q['http_cold_p50_over_step']:.2f}x that step work.",
    ]
    return out


def _moses_section(results: dict[str, Any]) -> list[str]:
    build = results.get("moses_build")
    if not build:
        return ["", "## 3. Similarity on MOSES", "", "Skipped (`--skip-moses`)."]
    out = ["", "## 3. Similarity on MOSES (1,584,663 molecules)", ""]
    if "error" in build:
        return [*out, f"Build failed: {build['error']}"]
    out += [
        "Data: `" + build["fetch"]["command"] + "`, then `" + build["fetch"]["member"] + "`",
        "from the wheel, written as `benchmarks/.data/moses_train.smi` (`SMILES MOSES<row>`).",
        "",
        f"Build: `{build['command']}` took **{build['build_seconds']:.0f} s** "
        f"({build['indexed']:,} indexed, {build['skipped']} skipped; built "
        f"{build['built_at']}"
        + (", reused from the cache this run" if build.get("cached") else ", this run")
        + "). The index is cached in `benchmarks/.data/moses_index` and reused while the"
        " input's SHA-256, the RDKit version and the manifest match.",
        (
            "Phases (from the index files' times): records (parse + canonicalize in the "
            f"worker processes) {build['phases']['records_s']:.0f} s, fingerprints (FPSim2 "
            f"`create_db_file`, one process) {build['phases']['fingerprints_s']:.0f} s. "
            f"Load average at the start/end of the build: {build.get('loadavg_at_start', '?')}"
            f" / {build.get('loadavg_at_end', '?')} on {build.get('nproc', '?')} CPUs."
            if "phases" in build
            else ""
        ),
        "Index files: "
        + ", ".join(
            f"{k} {v / 1e6:.0f} MB" if v >= 1e6 else f"{k} {v / 1e3:.1f} kB"
            for k, v in build.get("index_bytes", {}).items()
        ),
    ]
    proj = results.get("moses_full_build_projection", {})
    if "projected_full_seconds" in proj:
        out += [
            "",
            "Full build (ChEMBL standardization, InChI, property panel) projected from a "
            f"{proj['sample_size']}-molecule MOSES sample built both ways in this run with "
            f"the same process count: full {proj['full_seconds']:.1f} s vs --fast "
            f"{proj['fast_seconds']:.1f} s ({proj['full_over_fast']:.1f}x), i.e. "
            f"{proj['extra_ms_per_molecule']:.2f} ms more a molecule (wall clock). The --fast "
            "build above plus that extra for 1,584,663 molecules: "
            f"**~{proj['projected_full_seconds'] / 60:.0f} min** on this machine, feasible "
            "as a one-off job, not for every run.",
        ]
    sim = results.get("moses_similarity", {})
    if "threshold" not in sim:
        return [*out, "", f"Similarity: {sim.get('error', 'not run')}"]
    a, b, s = sim["threshold"], sim["top_k"], sim["stats"]
    out += [
        "",
        f"Server: `{sim['command']}`; ready in {sim['server_ready_s']:.1f} s, RSS "
        f"{sim['server_rss_at_ready_mb']:.0f} MB at ready, {sim['server_rss_after_mb']:.0f} MB"
        f" after the queries (peak {sim['server_hwm_mb']:.0f} MB). Baseline: "
        "`FPSim2Engine(fingerprints.h5, in_memory_fps=True)` in the benchmark process (loaded "
        f"in {sim['direct_engine_load_s']:.1f} s), one worker as the server uses it.",
        f"Queries: {sim['queries_per_mode']} MOSES molecules per mode (seed {sim['seed']}),",
        "disjoint sets for warm-up, each mode and the breakdown; each query timed directly,",
        "then through the service in-process, then over HTTP. Hits at 0.7: "
        f"min {sim['hits_threshold']['min']}, median {sim['hits_threshold']['median']}, "
        f"max {sim['hits_threshold']['max']}. HTTP/direct disagreements (total hits at "
        f"0.7; best similarity at top-10): {sim['mismatches']}.",
        "",
    ]
    out += md_table(
        _STATS_HEADER,
        _stats_rows(
            s,
            {
                "direct_threshold": "(a) FPSim2 direct, similarity(q, 0.7)",
                "inproc_threshold": "(a) service in-process (Operations.similarity, no HTTP)",
                "http_threshold": "(a) HTTP threshold 0.7, limit 10",
                "direct_top_k": "(b) FPSim2 direct, top_k(q, 10, 0.0)",
                "inproc_top_k": "(b) service in-process, top_k 10",
                "http_top_k": "(b) HTTP top_k 10",
                "direct_threshold_c": "breakdown set: FPSim2 direct 0.7",
                "search_only": "breakdown set: SimilarityIndex.search (the server's wrapper)",
                "similarity_step": "breakdown set: similarity step (parse + search + hits)",
                "resolve_step": "breakdown set: resolve step, right after a direct search",
                "resolve_step_hot": "breakdown set: resolve step, back to back",
                "inproc_threshold_c": "breakdown set: Operations.similarity in-process",
                "standardize_only": "breakdown set: ChEMBL standardize + parent (reference)",
                "direct_exact": "diagnostic: FPSim2 direct at threshold 1.0",
                "http_exact": "diagnostic: HTTP at threshold 1.0",
                "http_floor": "HTTP floor: GET /healthz, back to back",
                "http_floor_after_idle": "HTTP floor after the server idled 30 ms",
                "http_floor_both_idle": "HTTP floor after server and client idled 30 ms",
                "parse_smiles": "RDKit parse_smiles of a query",
                "canonical_smiles": "RDKit canonical_smiles of a query",
            },
        ),
    )
    out += [
        "",
        f"(a) threshold 0.7: HTTP p50 {_ms(a['http_p50_ms'])} vs direct "
        f"{_ms(a['direct_p50_ms'])}: {a['overhead_p50_ms']:+.2f} ms ({a['ratio']:.2f}x); "
        f"target {a['target']} -> **{_verdict(a['pass'])}**.",
        f"(b) top-10: HTTP p50 {_ms(b['http_p50_ms'])} vs direct {_ms(b['direct_p50_ms'])}: "
        f"{b['ratio']:.2f}x ({b['overhead_p50_ms']:+.2f} ms); target {b['target']} -> "
        f"**{_verdict(b['pass'])}**.",
        "",
        "Where the HTTP time goes (ms; medians of per-query differences unless a p50):",
        "",
    ]
    out += md_table(["part", "ms"], [[k, f"{v:.3f}"] for k, v in sim["breakdown_p50_ms"].items()])
    for key, what in (
        ("profile", "threshold 0.7"),
        ("profile_exact", "threshold 1.0 (trivial search: the fixed per-request cost)"),
    ):
        prof = sim.get(key)
        if not prof or "share" not in prof:
            continue
        out += [
            "",
            f"py-spy on the server, {what}: {prof['samples']} busy samples at 500 Hz over "
            f"{prof['requests']} requests (idle waits left out; raw stacks in "
            f"`{prof['file']}`):",
            "",
        ]
        out += md_table(
            ["where (nearest frame to the leaf decides)", "share of busy samples"],
            [[k, f"{v:.1%}"] for k, v in prof["share"].items()],
        )
    out += _findings(sim, results.get("platform", {}))
    return out


def _findings(sim: dict[str, Any], platform: dict[str, Any]) -> list[str]:
    a, b, bd = sim["threshold"], sim["top_k"], sim["breakdown_p50_ms"]
    resolve_cold = bd["resolve step (query preparation, p50, right after a search)"]
    resolve_hot = bd["resolve step back to back (p50, warm caches)"]
    hops = bd["Operations - both steps (runner, thread hops)"]
    step_extra = bd["similarity step - search (parse query, build hits)"]
    http_layer = bd["HTTP - Operations in-process (set A: ASGI, pydantic, JSON, loopback)"]
    floor = bd["HTTP floor (GET /healthz p50)"]
    floor_idle = bd["HTTP floor after the server idled 30 ms (GET /healthz p50)"]
    exact = bd["diagnostic: HTTP - direct at threshold 1.0 (trivial search, set C)"]
    std = bd["for reference: ChEMBL standardize of a query (skipped for a --fast index)"]
    out = ["", "### Findings (computed from this run)", ""]
    fpsim = (
        (sim.get("profile") or {}).get("share", {}).get("FPSim2 search (incl. query fingerprint)")
    )
    if fpsim is not None:
        out.append(
            f"- The search dominates: {fpsim:.0%} of the server's busy samples at threshold "
            "0.7 are in FPSim2 (`FPSim2Engine._search`)."
        )
    out.append(
        f"- Threshold 0.7 {'passes' if a['pass'] else 'misses'} its target: "
        f"{a['overhead_p50_ms']:+.2f} ms at p50 (paired per query: "
        f"{bd['HTTP - direct (set A, paired median)']:+.2f} ms) against +2 ms allowed."
    )
    out.append(
        f"- Part by part: resolve step {resolve_cold:.2f} ms right after a search "
        f"({resolve_hot:.2f} ms back to back); runner and thread hops for the two steps "
        f"{hops:.2f} ms; similarity step beyond the search {step_extra:.2f} ms; HTTP on top "
        f"of the in-process service {http_layer:.2f} ms. A bare `GET /healthz` costs "
        f"{floor:.2f} ms back to back but {floor_idle:.2f} ms once the server has idled "
        "30 ms, as it does during a search. With a trivial search (threshold 1.0) HTTP - "
        f"direct is {exact:.2f} ms."
    )
    bare, echo = platform.get("bare_uvicorn"), platform.get("loopback_tcp_echo")
    if bare and echo:
        out.append(
            "- Most of the HTTP part is below chemagent: after 30 ms idle a do-nothing ASGI "
            f"app under uvicorn answers the same client in {bare['after_idle_p50_ms']:.2f} ms "
            f"({bare['hot_p50_ms']:.2f} ms back to back) and a raw TCP echo in "
            f"{echo['after_idle_p50_ms']:.2f} ms; FastAPI and chemagent's middleware add "
            f"about {floor_idle - bare['after_idle_p50_ms']:.2f} ms to that (GET /healthz)."
        )
    out.append(
        "- Query standardization is not in this path: a `--fast` index was only "
        "canonicalized, so `resolve` prepares the query the same way. On a fully built "
        f"library it would add the ChEMBL standardization ({std:.2f} ms at p50 here) and an "
        "InChIKey for the exact-structure lookup."
    )
    out.append(
        f"- Top-10 {'passes' if b['pass'] else 'misses'}: {b['ratio']:.2f}x "
        f"({b['overhead_p50_ms']:+.2f} ms), the same fixed cost over a longer search."
    )
    return out


def _analysis_section() -> list[str]:
    """The hand-written analysis in benchmarks/ANALYSIS.md, included as it is."""
    from harness import BENCH

    path = BENCH / "ANALYSIS.md"
    if not path.exists():
        return []
    text = path.read_text().strip().splitlines()
    if text and text[0].startswith("# "):
        text = text[1:]
    return ["", "## Analysis (hand-written: benchmarks/ANALYSIS.md)", *text]


def _method_section() -> list[str]:
    return [
        "",
        "## Method",
        "",
        "- Servers are started by the benchmark on `127.0.0.1` and a free port, one uvicorn",
        "  worker, `CHEMAGENT_LOG_LEVEL=WARNING`, and stopped with SIGTERM afterwards.",
        "- Platform calibration: a 200-byte round trip to a minimal Python TCP echo process,",
        "  and a GET on a do-nothing ASGI app under uvicorn, each back to back and after the",
        "  server idled 30 ms (the client busy-waits so only the server goes cold).",
        "- Requests go one at a time over one keep-alive `httpx.Client`; latency is measured",
        "  around the client call (serialization, loopback, server, parsing the response).",
        "- p50/p95 use linear interpolation between order statistics.",
        "- Baselines run in the benchmark process, interleaved with the HTTP measurements",
        "  molecule by molecule; a target is judged against the same run's baseline.",
        "- MOSES data live in `benchmarks/.data/` and results in `benchmarks/results/`;",
        "  both are gitignored. `--quick` runs fewer repeats and molecules; `--skip-moses`",
        "  skips section 3; `--rebuild-moses` forces a new index build.",
        "- `--only PART[,PART...]` (platform, startup, properties, moses, query, cache,",
        "  http) measures a subset and never rewrites this file.",
        "- Section 6 (HTTP overhead) runs each variant as its own uvicorn process and",
        "  drives it with `wrk` (Debian package) at full load; see its own method notes.",
    ]
