"""Property panel per molecule: POST /v1/properties cold and warm vs the in-process cost.

~200 distinct SMILES from the bundled library (fixed seed). Each molecule is measured
in-process first and then over HTTP, interleaved one molecule at a time, so machine noise
hits the baseline and the measurement alike.

- ``direct``: ``standardize(require_molecule(smiles))`` + ``property_panel`` (the chemistry
  the issue names as the baseline).
- ``step``: the whole server-side work of the request, in-process: the ``parse`` step
  (canonicalize) and the ``properties`` step (standardize, InChI x2, panel).
- ``http cold``: each molecule's first request; ``http warm``: the same molecules again.
  Warm requests are L1 hits of the step cache, so warm should be about the HTTP floor.
- ``http floor``: GET /healthz, the cost of a request that does no work.
"""

from __future__ import annotations

import gzip
import random
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from harness import ratio, serve, summary_ms


def library_smiles(count: int, seed: int) -> list[str]:
    """``count`` distinct full-molecule SMILES from the bundled library, fixed seed."""
    path = Path(str(resources.files("chemagent") / "data" / "chembl_approved_drugs"))
    with gzip.open(path / "compounds.jsonl.gz", "rb") as handle:
        smiles = sorted({orjson.loads(line)["smiles"] for line in handle})
    return random.Random(seed).sample(smiles, count)


def _direct(smiles: str) -> None:
    from chemagent.chem.molecule import require_molecule
    from chemagent.chem.properties import property_panel
    from chemagent.chem.standardize import standardize

    property_panel(standardize(require_molecule(smiles)))


def _step_work(ctx: Any, smiles: str) -> None:
    from chemagent.steps.registry import get_kind

    canonical = get_kind("parse").fn(ctx, smiles, {})["smiles"]
    get_kind("properties").fn(ctx, canonical, {})


def _time(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def run(count: int = 200, warmup: int = 10, seed: int = 20260101) -> dict[str, Any]:
    from chemagent.chem.molecule import MoleculeLimits
    from chemagent.library.load import load
    from chemagent.steps.context import StepContext

    picked = library_smiles(count + warmup, seed)
    warm_set, molecules = picked[:warmup], picked[warmup:]
    ctx = StepContext(library=load(None), limits=MoleculeLimits())

    def http(client: Any, smiles: str) -> float:
        started = time.perf_counter()
        response = client.post("/v1/properties", json={"smiles": smiles})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"/v1/properties {smiles} -> {response.status_code}")
        return elapsed

    times: dict[str, list[float]] = {
        k: [] for k in ("direct_cold", "step_cold", "http_cold", "direct_warm", "http_warm")
    }
    with serve(log_name="properties") as server:
        client = server.client
        for smiles in warm_set:  # warm the code paths, not the molecules measured below
            _direct(smiles)
            _step_work(ctx, smiles)
            http(client, smiles)
        floor = [_time(client.get, "/healthz") for _ in range(100)]
        for smiles in molecules:
            times["direct_cold"].append(_time(_direct, smiles))
            times["step_cold"].append(_time(_step_work, ctx, smiles))
            times["http_cold"].append(http(client, smiles))
        for smiles in molecules:
            times["direct_warm"].append(_time(_direct, smiles))
            times["http_warm"].append(http(client, smiles))
        command = server.shown_command()
    stats = {k: summary_ms(v) for k, v in times.items()}
    stats["http_floor"] = summary_ms(floor)
    result = {
        "command": command,
        "molecules": len(molecules),
        "seed": seed,
        "stats": stats,
        "ratios": {
            "http_cold_p50_over_direct": ratio(
                stats["http_cold"]["p50_ms"], stats["direct_cold"]["p50_ms"]
            ),
            "http_cold_p95_over_direct": ratio(
                stats["http_cold"]["p95_ms"], stats["direct_cold"]["p95_ms"]
            ),
            "http_warm_p50_over_direct": ratio(
                stats["http_warm"]["p50_ms"], stats["direct_warm"]["p50_ms"]
            ),
            "http_warm_p95_over_direct": ratio(
                stats["http_warm"]["p95_ms"], stats["direct_warm"]["p95_ms"]
            ),
            "step_p50_over_direct": ratio(
                stats["step_cold"]["p50_ms"], stats["direct_cold"]["p50_ms"]
            ),
            "http_cold_p50_over_step": ratio(
                stats["http_cold"]["p50_ms"], stats["step_cold"]["p50_ms"]
            ),
            "warm_over_cold_p50": ratio(stats["http_warm"]["p50_ms"], stats["http_cold"]["p50_ms"]),
        },
    }
    print(
        f"[properties] http cold p50 {stats['http_cold']['p50_ms']:.2f} ms, warm p50 "
        f"{stats['http_warm']['p50_ms']:.2f} ms, direct p50 {stats['direct_cold']['p50_ms']:.2f}"
        f" ms, step p50 {stats['step_cold']['p50_ms']:.2f} ms",
        file=sys.stderr,
        flush=True,
    )
    return result
