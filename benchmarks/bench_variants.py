"""Candidate fixes for the similarity overhead, measured side by side (``--experiments``).

Three MOSES servers run at once: stock, and two patched at run time by
``variant_serve.py`` (src untouched). Each query goes to FPSim2 directly and then to every
server, in rotating order; the result per variant is the median over queries of
``HTTP - direct`` for the same query, at threshold 0.7 and at 1.0 (a trivial search).
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from typing import Any

from harness import BENCH, serve
from moses_data import INDEX, sample_smiles

VARIANTS = ("stock", "release-in-worker", "one-hop")


def _paired(http: list[float], direct: list[float]) -> float:
    diffs = sorted((h - d) * 1000 for h, d in zip(http, direct, strict=True))
    mid = len(diffs) // 2
    return round(diffs[mid] if len(diffs) % 2 else (diffs[mid - 1] + diffs[mid]) / 2, 3)


def run(queries: int = 40, seed: int = 4242) -> dict[str, Any]:
    from FPSim2 import FPSim2Engine

    engine = FPSim2Engine(str(INDEX / "fingerprints.h5"), in_memory_fps=True)
    smiles = sample_smiles(queries + 5, seed)
    warm, measured = smiles[:5], smiles[5:]
    env = {"CHEMAGENT_LIBRARY": str(INDEX)}
    commands = {}
    with ExitStack() as stack:
        servers = {}
        for name in VARIANTS:
            launcher = [sys.executable, str(BENCH / "variant_serve.py"), name]
            servers[name] = stack.enter_context(
                serve(env, timeout=900, log_name=f"variant-{name}", launcher=launcher)
            )
            commands[name] = servers[name].shown_command()
        times: dict[str, list[float]] = {}
        for threshold in (0.7, 1.0):
            for q in warm:
                for server in servers.values():
                    server.client.post("/v1/similarity", json={"query": q, "threshold": threshold})
            for i, q in enumerate(measured):
                order = VARIANTS[i % 3 :] + VARIANTS[: i % 3]
                for name in order:
                    started = time.perf_counter()
                    engine.similarity(q, threshold)
                    times.setdefault(f"direct {name} {threshold}", []).append(
                        time.perf_counter() - started
                    )
                    body = {"query": q, "threshold": threshold, "limit": 10}
                    started = time.perf_counter()
                    response = servers[name].client.post("/v1/similarity", json=body)
                    times.setdefault(f"http {name} {threshold}", []).append(
                        time.perf_counter() - started
                    )
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: {response.status_code} {response.text}")
    result: dict[str, Any] = {"queries": len(measured), "seed": seed, "commands": commands}
    for threshold in (0.7, 1.0):
        result[f"overhead_ms_at_{threshold}"] = {
            name: _paired(times[f"http {name} {threshold}"], times[f"direct {name} {threshold}"])
            for name in VARIANTS
        }
    print(f"[variants] {result}", file=sys.stderr, flush=True)
    return result
