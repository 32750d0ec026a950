"""Start-up: spawn ``chemagent serve`` (bundled library) -> first 200 from /readyz, and RSS.

Baseline, same run: a fresh interpreter that imports the app and calls ``build_state`` (the
library load the lifespan does) with no server, timed from spawn to exit, with its own RSS.
The ratio server/baseline is the cost of the web stack on top of the library itself.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from harness import hwm_mb, proc_status, ratio, rss_mb, run_python, serve

READY_TARGET_S = 5.0
RSS_TARGET_MB = 250.0

_BASELINE = """
import json, time
t0 = time.perf_counter()
from chemagent.app import build_state
from chemagent.settings import Settings
t1 = time.perf_counter()
state = build_state(Settings())
t2 = time.perf_counter()
status = {}
for line in open('/proc/self/status'):
    key, _, rest = line.partition(':')
    if key in ('VmRSS', 'VmHWM'):
        status[key] = int(rest.split()[0])
print(json.dumps({'import_s': t1 - t0, 'build_state_s': t2 - t1,
                  'rss_mb': status['VmRSS'] / 1024, 'hwm_mb': status['VmHWM'] / 1024}))
state.executor.shutdown(wait=False)
"""

WARMUP_SMILES = (
    "CC(=O)Oc1ccccc1C(=O)O",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "O=C(O)c1ccccc1O.[Na]",
    "CC(=O)Nc1ccc(O)cc1",
    "CN1CCC[C@H]1c1cccnc1",
    "C[C@]12CC[C@H]3[C@@H](CCc4cc(O)ccc43)[C@@H]1CC[C@@H]2O",
    "Clc1ccc(cc1)C(c1ccccc1)N1CCN(CC1)CCOCC(=O)O",
)


def warmup_traffic(client: Any) -> int:
    """A representative mix of every read endpoint; returns the number of requests sent."""
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/readyz", None),
        ("GET", "/version", None),
        ("GET", "/v1/compounds/CHEMBL25", None),
        ("GET", "/v1/compounds/CHEMBL25/properties", None),
        ("GET", "/v1/compounds?name=ibuprofen", None),
        ("GET", "/v1/compounds?name=asprin", None),
        ("POST", "/v1/similarity", {"query": "ibuprofen", "threshold": 0.4}),
        ("POST", "/v1/similarity", {"query": "CHEMBL25", "top_k": 10, "threshold": 0.0}),
        ("POST", "/v1/substructure", {"smarts": "S(=O)(=O)N", "limit": 50}),
        ("POST", "/v1/standardize", {"smiles": "CC(=O)Oc1ccccc1C(=O)[O-].[Na+]"}),
        ("GET", "/v1/depict?smiles=c1ccccc1O", None),
        ("GET", "/v1/compounds/CHEMBL25/image.svg", None),
        ("POST", "/v1/batch", {"ids": ["CHEMBL25", "CHEMBL521", "CHEMBL112"]}),
    ]
    for smiles in WARMUP_SMILES:
        calls.append(("POST", "/v1/properties", {"smiles": smiles}))
        calls.append(("POST", "/v1/similarity", {"query": smiles, "threshold": 0.5}))
    for method, path, body in calls * 2:
        response = client.request(method, path, json=body)
        if response.status_code >= 500:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
    return len(calls) * 2


def run(repeats: int = 3) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []
    command = ""
    for i in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter_s = time.perf_counter() - started
        started = time.perf_counter()
        base = json.loads(run_python(_BASELINE))
        base["wall_s"] = time.perf_counter() - started
        base["interpreter_s"] = interpreter_s
        baselines.append(base)
        with serve(log_name=f"startup-{i}") as server:
            command = server.shown_command()
            at_ready = rss_mb(server.pid)
            sent = warmup_traffic(server.client)
            status = proc_status(server.pid)
            runs.append(
                {
                    "ready_s": server.ready_seconds,
                    "rss_at_ready_mb": at_ready,
                    "rss_after_warmup_mb": rss_mb(server.pid),
                    "hwm_mb": hwm_mb(server.pid),
                    "threads": status.get("Threads"),
                    "warmup_requests": sent,
                }
            )
        print(
            f"[startup] run {i + 1}: ready {runs[-1]['ready_s']:.2f} s "
            f"(baseline {base['wall_s']:.2f} s), RSS {runs[-1]['rss_after_warmup_mb']:.0f} MB "
            f"(baseline {base['rss_mb']:.0f} MB)",
            file=sys.stderr,
            flush=True,
        )

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    def top(rows: list[dict[str, Any]], key: str) -> float:
        return round(max(r[key] for r in rows), 3)

    ready_med, ready_max = med(runs, "ready_s"), top(runs, "ready_s")
    rss_med, rss_max = med(runs, "rss_after_warmup_mb"), top(runs, "rss_after_warmup_mb")
    base_wall, base_rss = med(baselines, "wall_s"), med(baselines, "rss_mb")
    return {
        "command": command,
        "baseline_command": f"{sys.executable} -c <bench_startup._BASELINE>",
        "repeats": repeats,
        "runs": runs,
        "baselines": baselines,
        "ready": {
            "median_s": ready_med,
            "max_s": ready_max,
            "baseline_median_s": base_wall,
            "baseline_import_median_s": med(baselines, "import_s"),
            "baseline_build_state_median_s": med(baselines, "build_state_s"),
            "interpreter_median_s": med(baselines, "interpreter_s"),
            "ratio": ratio(ready_med, base_wall),
            "target_s": READY_TARGET_S,
            "pass": ready_max <= READY_TARGET_S,
        },
        "rss": {
            "median_mb": rss_med,
            "max_mb": rss_max,
            "at_ready_median_mb": med(runs, "rss_at_ready_mb"),
            "baseline_median_mb": base_rss,
            "ratio": ratio(rss_med, base_rss),
            "target_mb": RSS_TARGET_MB,
            "pass": rss_max <= RSS_TARGET_MB,
        },
    }
