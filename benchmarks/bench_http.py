"""HTTP instrumentation overhead (issue 5 part 3): throughput under ``wrk``, one run.

Every variant is a real uvicorn process (1 worker, 127.0.0.1, a free port, uvloop +
httptools, ``--no-access-log``, ``--log-level warning``), all started at once and driven
one after the other by ``wrk -t2 -c32 --latency`` on loopback. The machine has 2 cores,
shared by ``wrk``, the server and whatever else runs. Each variant is measured 3 times
for 3 s (``--quick``: 2 x 2 s), interleaved (the order rotates each round), and its median
is reported with its ratio to (a) measured in the same rounds.

(a)  ``http_apps:bare``: a bare FastAPI route returning a small JSON dict, FastAPI's
     native telemetry off. The baseline.
(b)  ``http_apps:native``: the same route with FastAPI's native telemetry (tracing and
     metrics; its default operation spans), FastAPI's own ``auto_configure`` building the
     SDK providers with OTLP/HTTP exporters to a local sink; sampler
     ``parentbased_traceidratio`` 0.1 (b) and ``always_on`` (b-on).
(c)  ``http_apps:ours``: the same route inside chemagent's ``TelemetryMiddleware``
     (Prometheus HTTP metrics, server span, JSON access log to a file): no exporter (c),
     OTLP to the sink at the default sampler (c-ratio), ``always_on`` (c-on).
(d)  ``chemagent.app:create_app`` (``uvicorn --factory``), JSON logs to a file, answering
     a cached (L1) ``GET /v1/compounds/CHEMBL25``: no ``OTEL_*`` (d1); OTLP/HTTP to the
     sink at the default sampler (d2, the goal: d2 / a >= 0.5); ``always_on`` (d3); d2
     with ``CHEMAGENT_ACCESS_LOG=false`` (d4). And, as an experiment, the same app with
     its ``TelemetryMiddleware`` left out (d0, ``http_apps:service_without_middleware``):
     the ceiling for any request telemetry on this route.

Also measured: the server's CPU time per request (``/proc/<pid>/stat`` around each run,
the exporter thread included) and what the rest of the machine used meanwhile; the
middleware alone in-process (``_INPROC``: a fresh interpreter per configuration) and the
no-export server span alone; a py-spy profile of d2 under load. The OTLP sink
(``http_apps.py sink``) is its own process; each server posts to its own path on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from harness import BENCH, BIN, HOST, RESULTS, ROOT, free_port, log_tail, md_table, shown_command

WRK = "/usr/bin/wrk"
THREADS, CONNECTIONS = 2, 32
GOAL = 0.5  # issue 5: d2 RPS >= 0.5x the bare route's
SINK = "{sink}"  # replaced by the sink's URL + /<variant key>: each server posts to its own path
COMPOUND = "/v1/compounds/CHEMBL25"
ITEM = "/items/CHEMBL25"
RATIO = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
ALWAYS_ON = {"OTEL_TRACES_SAMPLER": "always_on"}
EXPORT = {"OTEL_EXPORTER_OTLP_ENDPOINT": SINK}
SERVICE = {  # the real app: JSON logs at INFO (the access log), offline, L1 only
    "CHEMAGENT_LOG_FORMAT": "json",
    "CHEMAGENT_LOG_LEVEL": "INFO",
    "CHEMAGENT_REDIS_URL": "",
    "CHEMAGENT_CHEMBL_URL": "",
    "CHEMAGENT_CACHE_WARM_FILE": "",
}
# Inherited variables that would change what is measured; every variant sets its own.
_DROPPED = ("OTEL_", "FASTAPI_OTEL_", "CHEMAGENT_", "PROMETHEUS_MULTIPROC_DIR")


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    app: str  # uvicorn factory
    path: str
    env: dict[str, str]
    service: bool = False  # the real app: SERVICE variables, warmed, access log checked


VARIANTS = (
    Variant("a", "bare FastAPI route, native telemetry off", "http_apps:bare", ITEM, {}),
    Variant(
        "b",
        "bare route + FastAPI native telemetry, ratio 0.1",
        "http_apps:native",
        ITEM,
        {**EXPORT, **RATIO},
    ),
    Variant(
        "b-on",
        "bare route + FastAPI native telemetry, always_on",
        "http_apps:native",
        ITEM,
        {**EXPORT, **ALWAYS_ON},
    ),
    Variant("c", "bare route + our middleware, no exporter", "http_apps:ours", ITEM, {}),
    Variant(
        "c-ratio",
        "bare route + our middleware, OTLP, default sampler",
        "http_apps:ours",
        ITEM,
        EXPORT,
    ),
    Variant(
        "c-on",
        "bare route + our middleware, OTLP, always_on",
        "http_apps:ours",
        ITEM,
        {**EXPORT, **ALWAYS_ON},
    ),
    Variant(
        "d0",
        "ChemAgent, cached lookup, TelemetryMiddleware left out (experiment)",
        "http_apps:service_without_middleware",
        COMPOUND,
        {},
        service=True,
    ),
    Variant(
        "d1",
        "ChemAgent, cached lookup, no OTEL_*",
        "chemagent.app:create_app",
        COMPOUND,
        {},
        service=True,
    ),
    Variant(
        "d2",
        "ChemAgent, cached lookup, OTLP, default sampler",
        "chemagent.app:create_app",
        COMPOUND,
        EXPORT,
        service=True,
    ),
    Variant(
        "d3",
        "ChemAgent, cached lookup, OTLP, always_on",
        "chemagent.app:create_app",
        COMPOUND,
        {**EXPORT, **ALWAYS_ON},
        service=True,
    ),
    Variant(
        "d4",
        "d2 without the access log",
        "chemagent.app:create_app",
        COMPOUND,
        {**EXPORT, "CHEMAGENT_ACCESS_LOG": "false"},
        service=True,
    ),
)


def _log(text: str) -> None:
    print(f"[http] {text}", file=sys.stderr, flush=True)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- processes


@dataclass
class Sink:
    """The OTLP/HTTP sink process (``http_apps.py sink``)."""

    proc: subprocess.Popen[str]
    url: str

    def stats(self) -> Counter[str]:
        return Counter(httpx.get(f"{self.url}/stats", timeout=10).json())


@contextlib.contextmanager
def sink() -> Iterator[Sink]:
    command = [sys.executable, str(BENCH / "http_apps.py"), "sink"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        yield Sink(proc, f"http://{HOST}:{int(proc.stdout.readline())}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Server:
    variant: Variant
    proc: subprocess.Popen[bytes]
    port: int
    command: list[str]
    env: dict[str, str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.variant.path}"

    def shown(self) -> str:
        return shown_command(self.env, self.command)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)


def _start(variant: Variant, sink_url: str, logs: Path) -> Server:
    port = free_port()
    command = [
        *(str(BIN / "uvicorn"), "--factory", variant.app),
        *(("--app-dir", "benchmarks") if variant.app.startswith("http_apps:") else ()),
        *("--host", HOST, "--port", str(port), "--workers", "1"),
        *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]
    shown = {**(SERVICE if variant.service else {}), **variant.env}
    shown = {k: v.replace(SINK, f"{sink_url}/{variant.key}") for k, v in shown.items()}
    log_path = logs / f"{variant.key}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, env={**_base_env(), **shown}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    return Server(variant, proc, port, command, shown, log_path)


def _wait_ready(server: Server, timeout: float = 120.0) -> None:
    """Poll the variant's path until 200; then warm it (the compound lands in L1)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.variant.key} exited:\n{server.log_tail()}")
            try:
                if client.get(server.url).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.variant.key} not ready:\n{server.log_tail()}")
            time.sleep(0.05)
        for _ in range(20):
            response = client.get(server.url)
            response.raise_for_status()


def _stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextlib.contextmanager
def servers(sink_url: str, logs: Path) -> Iterator[list[Server]]:
    """Every variant's server, started together, ready and warm; stopped on exit."""
    started: list[Server] = []
    try:
        for variant in VARIANTS:
            started.append(_start(variant, sink_url, logs))
        for server in started:
            _wait_ready(server)
        yield started
    finally:
        for server in started:
            _stop(server)


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> dict[str, Any]:
    """RPS, request count, latency percentiles (ms) and errors from ``wrk --latency``."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    count = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if rps is None or count is None:
        raise ValueError(f"unexpected wrk output:\n{text}")
    latency = {
        f"p{m.group(1)}_ms": _ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)$", text, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": float(rps.group(1)),
        "requests": int(count.group(1)),
        **latency,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def wrk(url: str, seconds: float) -> dict[str, Any]:
    command = [WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def _run_once(server: Server, seconds: float, sink_: Sink) -> dict[str, Any]:
    """One wrk run against ``server``, with its CPU time and the rest of the machine's."""
    ours = (server.proc.pid, sink_.proc.pid)
    cpu, own, busy, wrk_cpu = (
        _cpu_seconds(ours[0]),
        _cpu_seconds(ours[1]),
        _busy_seconds(),
        _children_cpu(),
    )
    started = time.perf_counter()
    result = wrk(server.url, seconds)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(ours[0]) - cpu
    own = cpu + _cpu_seconds(ours[1]) - own + _children_cpu() - wrk_cpu  # server, sink, wrk
    if result["non_2xx"]:
        raise RuntimeError(f"{server.variant.key}: {result['non_2xx']} non-2xx responses")
    return {
        **result,
        "server_cpu_s": round(cpu, 2),
        "cpu_us_per_request": round(cpu / result["requests"] * 1e6, 1),
        # Cores other processes (other work on this machine) kept busy during the run.
        "others_cores": round(max(0.0, _busy_seconds() - busy - own) / wall, 2),
    }


# --------------------------------------------------------------------------- extras


def span_off_cost(calls: int = 20000) -> dict[str, float]:
    """In-process: what the middleware's tracing lines cost per request with no exporter
    (``start_server_span`` -> NonRecordingSpan, the two id headers, ``end_span``)."""
    from chemagent.observability import tracing

    assert not tracing.enabled(), "tracing must be off in the benchmark process"
    scope = {"type": "http", "path": ITEM, "headers": [(b"host", b"127.0.0.1")]}

    def once() -> None:
        span, token = tracing.start_server_span(scope, "GET")
        f"{span.get_span_context().trace_id:032x}".encode()
        tracing.traceparent_of(span).encode()
        span.is_recording()
        tracing.end_span(span, token)

    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            once()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return {
        "us_per_request": round(min(samples), 2),
        "median_us": round(statistics.median(samples), 2),
    }


_INPROC = r"""
import asyncio, json, sys, time
mode, calls, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.stderr = open(log_path, "w")  # the JSON handler writes to the current sys.stderr
from chemagent.observability.logging import configure_logging
from chemagent.observability.middleware import TelemetryMiddleware
from chemagent.observability.tracing import configure_tracing, shutdown_tracing

configure_logging("INFO", "json")
configure_tracing("bench")  # from OTEL_*: none, or OTLP to the sink

class Route:
    path = "/items/{item_id}"

async def app(scope, receive, send):
    scope["route"] = Route  # what Starlette's router leaves for the middleware
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})

stack = app if mode == "app" else TelemetryMiddleware(app, access_log=mode != "no_log")

async def receive():
    return {"type": "http.request", "body": b""}

async def send(message):
    pass

def scope():
    return {"type": "http", "method": "GET", "path": "/items/CHEMBL25", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")]}

async def main():
    for _ in range(2000):
        await stack(scope(), receive, send)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await stack(scope(), receive, send)
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return sorted(runs)

runs = asyncio.run(main())
shutdown_tracing()
print(json.dumps({"min_us": round(runs[0], 2), "median_us": round(runs[2], 2)}))
"""
INPROC_MODES: tuple[tuple[str, dict[str, str], str], ...] = (
    ("app", {}, "a do-nothing ASGI app (sets the route, sends 200)"),
    ("no_log", {}, "+ TelemetryMiddleware: no exporter, no access log"),
    (
        "no_log",
        {**EXPORT, "OTEL_TRACES_SAMPLER": "always_off"},
        "+ TelemetryMiddleware: OTLP, always_off (SDK on, nothing sampled), no access log",
    ),
    ("no_log", EXPORT, "+ TelemetryMiddleware: OTLP, default sampler (0.1), no access log"),
    ("no_log", {**EXPORT, **ALWAYS_ON}, "+ TelemetryMiddleware: OTLP, always_on, no access log"),
    ("log", {}, "+ TelemetryMiddleware: no exporter, JSON access log to a file"),
    ("log", EXPORT, "+ TelemetryMiddleware: OTLP, default sampler, JSON access log (as d2)"),
)


def middleware_in_process(sink_url: str, logs: Path, calls: int) -> list[dict[str, Any]]:
    """Per-request cost of the middleware alone, in a fresh interpreter per mode: the same
    fake request ``calls`` times (best and median of 5 passes) around a do-nothing app."""
    out = []
    for i, (mode, env, label) in enumerate(INPROC_MODES):
        env = {k: v.replace(SINK, f"{sink_url}/inproc{i}") for k, v in env.items()}
        command = [sys.executable, "-c", _INPROC, mode, str(calls), str(logs / f"inproc{i}.log")]
        done = subprocess.run(
            command, env={**_base_env(), **env}, capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode:
            raise RuntimeError(f"in-process {label}: {done.stderr[-1500:]}")
        out.append({"label": label, "env": env, **json.loads(done.stdout)})
    return out


_IDLE = ("Runner.run (asyncio/runners.py",)  # uvloop's C loop: epoll and socket reads
LOOP = "uvloop event loop (C: epoll, reads)"
WRITE = "socket writes (uvicorn transport.write)"


def _write_frames() -> tuple[str, ...]:
    """Frame suffixes of uvicorn's ``transport.write`` lines: the loopback ``send``, where the
    server also wakes wrk and may lose its CPU (py-spy samples runnable threads too)."""
    from uvicorn.protocols.http import httptools_impl

    text = Path(httptools_impl.__file__).read_text().splitlines()
    return tuple(
        f"httptools_impl.py:{n})" for n, line in enumerate(text, 1) if "transport.write(" in line
    )


_CATEGORIES = (  # first match, leaf upwards, names the sample
    (
        "access log (logging, JsonFormatter, the direct line)",
        ("logging/__init__.py", "observability/logging.py", "observability/access_log.py"),
    ),
    (
        "tracing (OTel SDK, export, chemagent tracing)",
        (
            "opentelemetry/",
            "observability/tracing.py",
            "observability/sampling.py",
            "propagation.py",
        ),
    ),
    ("Prometheus metrics (prometheus_client, recorders)", ("prometheus_client/", "recorders.py")),
    ("TelemetryMiddleware itself", ("observability/middleware.py",)),
    ("pydantic (validation, serialization)", ("pydantic/", "pydantic_core")),
    ("uvicorn + httptools (parsing, ASGI glue)", ("uvicorn/", "httptools")),
    ("FastAPI / Starlette (routing, deps, middleware)", ("fastapi/", "starlette/")),
    ("chemagent app (routes, runner, cache)", ("chemagent/",)),
    ("asyncio (tasks, timeouts)", ("asyncio/",)),
)


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in _CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """py-spy raw (collapsed) stacks -> top self-time frames and shares per category, of
    all samples and of the Python work (without socket writes and the C event loop)."""
    total = 0
    writes = _write_frames()
    leaves: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        leaves[frames[-1]] += count
        if frames[-1].startswith(_IDLE):
            categories[LOOP] += count
        elif frames[-1].endswith(writes):
            categories[WRITE] += count
        else:
            categories[_category(frames)] += count
    if not total:
        return {"samples": 0}
    work = total - categories[LOOP] - categories[WRITE]
    return {
        "samples": total,
        "top_self": [(frame[:140], round(n / total, 4)) for frame, n in leaves.most_common(top)],
        "categories": {
            k: [round(v / total, 4), round(v / work, 4) if k not in (LOOP, WRITE) else None]
            for k, v in categories.most_common()
        },
    }


def profile(server: Server, seconds: float) -> dict[str, Any]:
    """py-spy (250 Hz, nonblocking) on ``server`` while wrk drives it."""
    py_spy = BIN / "py-spy"
    if not py_spy.exists():
        return {"error": "py-spy is not installed"}
    out = RESULTS / f"http-profile-{server.variant.key}.txt"
    load = subprocess.Popen(
        [WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds + 2:g}s", server.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    command = [str(py_spy), "record", "--pid", str(server.proc.pid), "--duration"]
    command += [f"{seconds:g}", "--rate", "250", "--nonblocking", "--format", "raw"]
    done = subprocess.run([*command, "--output", str(out)], capture_output=True, text=True)
    load_result = parse_wrk(load.communicate()[0])
    if not out.exists():
        return {"error": done.stderr[-500:], "requests": load_result["requests"]}
    return {
        "file": str(out.relative_to(ROOT)),
        "command": shlex.join(["py-spy", *command[1:], "--output", out.name]),
        "rps_while_profiled": load_result["rps"],
        "requests": load_result["requests"],
        **summarize_profile(out),
    }


def _access_lines(server: Server) -> dict[str, int]:
    """Access-log lines per cache outcome in the server's stderr (d: all ``l1``)."""
    counts: Counter[str] = Counter()
    with open(server.log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if '"logger":"chemagent.access"' in line:
                match = re.search(r'"cache":"(\w+)"', line)
                counts[match.group(1) if match else "?"] += 1
    return dict(counts)


# --------------------------------------------------------------------------- run


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 3)


def _summarize(
    runs: dict[str, list[dict[str, Any]]],
    commands: dict[str, str],
    served: Counter[str],
    exported: dict[str, int],
) -> dict[str, dict[str, Any]]:
    """Medians and ratios per variant; OTLP totals over everything the server answered."""
    base = runs["a"]
    out: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        mine = runs[variant.key]
        rps, cpu = _median(mine, "rps"), _median(mine, "cpu_us_per_request")
        out[variant.key] = {
            "label": variant.label,
            "command": commands[variant.key],
            "path": variant.path,
            "rps": rps,
            "p50_ms": _median(mine, "p50_ms"),
            "p99_ms": _median(mine, "p99_ms"),
            "cpu_us_per_request": cpu,
            "ratio": round(rps / _median(base, "rps"), 3),
            "cpu_ratio": round(_median(base, "cpu_us_per_request") / cpu, 3),
            "others_cores": _median(mine, "others_cores"),
            "round_ratios": [
                round(m["rps"] / b["rps"], 3) for m, b in zip(mine, base, strict=True)
            ],
            "served": served[variant.key],
            "otlp_trace_posts": exported.get(f"/{variant.key}/v1/traces requests", 0),
            "otlp_trace_bytes_per_request": round(
                exported.get(f"/{variant.key}/v1/traces bytes", 0) / served[variant.key], 1
            ),
            "otlp_metric_posts": exported.get(f"/{variant.key}/v1/metrics requests", 0),
            "runs": mine,
        }
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Measure every variant ``rounds`` times, interleaved; profile d2; check the logs."""
    rounds, seconds = (2, 2) if quick else (3, 3)  # wrk takes whole seconds
    runs: dict[str, list[dict[str, Any]]] = {v.key: [] for v in VARIANTS}
    served: Counter[str] = Counter()  # requests each server answered (warm-up, runs, profile)
    load_before = [round(x, 2) for x in os.getloadavg()]
    span_off = span_off_cost()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp, sink() as otlp:
        started = time.perf_counter()
        with servers(otlp.url, Path(tmp)) as started_servers:
            ready_s = round(time.perf_counter() - started, 1)
            inproc = middleware_in_process(otlp.url, Path(tmp), 1000 if quick else 3000)
            _log(f"{len(started_servers)} servers ready in {ready_s} s; sink {otlp.url}")
            for server in started_servers:  # warm-up: 1 s each, not recorded
                served[server.variant.key] += wrk(server.url, 1)["requests"]
            for r in range(rounds):
                shift = r % len(started_servers)
                for server in started_servers[shift:] + started_servers[:shift]:
                    result = {**_run_once(server, seconds, otlp), "round": r, "seconds": seconds}
                    runs[server.variant.key].append(result)
                    served[server.variant.key] += result["requests"]
                    _log(
                        f"round {r + 1}/{rounds} {server.variant.key:7} {result['rps']:8.0f} "
                        f"req/s p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms "
                        f"cpu {result['cpu_us_per_request']:.0f} us/req, others "
                        f"{result['others_cores']:.2f} cores"
                    )
            by_key = {s.variant.key: s for s in started_servers}
            prof = profile(by_key["d2"], 5.0 if not quick else 3.0)
            served["d2"] += prof.get("requests", 0)
            commands = {s.variant.key: s.shown() for s in started_servers}
        access = {k: _access_lines(s) for k, s in by_key.items() if s.variant.service}
        exported = dict(otlp.stats())  # after shutdown: the last flushes included
    variants = _summarize(runs, commands, served, exported)
    for key, counts in access.items():
        variants[key]["access_lines"] = counts
    d2 = variants["d2"]["ratio"]
    _log(f"d2 / a = {d2:.2f} (goal >= {GOAL})")
    return {
        "wrk": f"wrk -t{THREADS} -c{CONNECTIONS} -d{seconds:g}s --latency",
        "rounds": rounds,
        "seconds": seconds,
        "servers_ready_s": ready_s,
        "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "span_off": span_off,
        "middleware_in_process": inproc,
        "variants": variants,
        "sink_totals": exported,
        "profile_d2": prof,
        "goal": {"ratio": d2, "target": GOAL, "pass": d2 >= GOAL},
    }


# --------------------------------------------------------------------------- rendering
# Called by report.py: summary rows and section 6 of docs/BENCHMARKS.md.

Row = tuple[str, str, str, str, str, str]


def summary_rows(results: dict[str, Any]) -> list[Row]:
    h = results.get("http", {})
    if "variants" not in h:
        return []
    v, goal = h["variants"], h["goal"]
    base = f"{v['a']['rps']:.0f} req/s (bare FastAPI route)"
    return [
        (
            "HTTP overhead: cached compound lookup, all telemetry, OTLP at default sampling",
            f"{v['d2']['rps']:.0f} req/s, p99 {v['d2']['p99_ms']:.1f} ms",
            base,
            f"{goal['ratio']:.2f}x",
            f">= {goal['target']:g}x",
            "PASS" if goal["pass"] else "MISS",
        ),
        (
            "HTTP overhead: native FastAPI telemetry vs our middleware (bare route, ratio 0.1)",
            f"ours {v['c-ratio']['rps']:.0f} req/s ({v['c-ratio']['ratio']:.2f}x), "
            f"native {v['b']['rps']:.0f} req/s ({v['b']['ratio']:.2f}x)",
            base,
            f"ours/native {v['c-ratio']['rps'] / v['b']['rps']:.2f}x",
            "decide native vs own",
            "info",
        ),
    ]


def markdown_section(results: dict[str, Any]) -> list[str]:
    """Section 6 of docs/BENCHMARKS.md (empty when the part did not run)."""
    h = results.get("http")
    if not h:
        return []
    out = ["", "## 6. HTTP instrumentation overhead (issue 5)", ""]
    if "error" in h:
        return [*out, f"Failed: {h['error']}"]
    v = h["variants"]
    out += [
        f"Measured by `{results['command']}` ({results['date']}; load average "
        f"{h['loadavg_before']} before, {h['loadavg_after']} after). Each variant is its own",
        "uvicorn process (1 worker, uvloop + httptools, `--no-access-log`, log level warning),",
        "all started together and warmed, then driven one at a time by",
        f"`{h['wrk']}` on loopback, {h['rounds']} rounds interleaved (the order rotates",
        "each round); medians are shown. The 2 cores are shared by wrk (2 threads), the",
        "server and the OTLP sink, so RPS is what the server gets of ~1 core; *CPU us/req*",
        "is the server process's CPU time (all threads: the exporter too) per request.",
        "Ratio = variant RPS / (a) RPS (medians); per-round ratios in brackets. *CPU ratio*",
        "= (a) CPU us/req / variant CPU us/req: the same comparison by cost, steadier when",
        "other work takes CPU from a run. *Others' cores*: CPU the rest of the machine (not",
        "the server, wrk or the sink) used during the run, from /proc/stat (median).",
        "",
    ]
    body = [
        [
            f"({k}) {x['label']}",
            f"{x['rps']:.0f}",
            f"{x['p50_ms']:.2f}",
            f"{x['p99_ms']:.2f}",
            f"{x['cpu_us_per_request']:.0f}",
            f"**{x['ratio']:.2f}x** [{', '.join(f'{r:.2f}' for r in x['round_ratios'])}]",
            f"{x['cpu_ratio']:.2f}x",
            f"{x['others_cores']:.2f}",
            f"{x['otlp_trace_bytes_per_request']:.0f}" if x["otlp_trace_posts"] else "-",
        ]
        for k, x in v.items()
    ]
    out += md_table(
        [
            "variant",
            "req/s",
            "p50 ms",
            "p99 ms",
            "CPU us/req",
            "ratio to (a)",
            "CPU ratio",
            "others' cores",
            "OTLP B/req",
        ],
        body,
    )
    goal = h["goal"]
    out += [
        "",
        f"Goal: d2 / a = **{goal['ratio']:.2f}x** against >= {goal['target']:g}x -> "
        f"**{'PASS' if goal['pass'] else 'MISS'}**. *OTLP B/req*: trace bytes the sink got "
        "from that server (each posts to its own path) over every request it answered.",
        "",
    ]
    out += _findings(h)
    out += _in_process_section(h.get("middleware_in_process", []))
    out += ["", "Commands (ports differ per run; the sink URL ends in the variant's key):", ""]
    out += [f"- ({k}) `{x['command']}` -> `GET {x['path']}`" for k, x in v.items()]
    out += _profile_section(h.get("profile_d2", {}))
    return out


def _findings(h: dict[str, Any]) -> list[str]:
    v, off = h["variants"], h["span_off"]
    cpu = {k: x["cpu_us_per_request"] for k, x in v.items()}
    out = [
        "- **Native vs own** (same bare route, sampler and exporter): ours "
        f"{v['c-ratio']['rps']:.0f} req/s ({v['c-ratio']['ratio']:.2f}x, {cpu['c-ratio']:.0f} "
        f"us/req), FastAPI native {v['b']['rps']:.0f} req/s ({v['b']['ratio']:.2f}x, "
        f"{cpu['b']:.0f} us/req); always_on: ours {v['c-on']['rps']:.0f} "
        f"({v['c-on']['ratio']:.2f}x), native {v['b-on']['rps']:.0f} ({v['b-on']['ratio']:.2f}x)."
        " Ours also writes the JSON access log and the Prometheus HTTP metrics; native records"
        " OTel metrics and opens operation spans (dependencies, endpoint, serialization).",
        f"- **The app itself**: the cached lookup without our middleware (d0; it goes through "
        f"the compound fast path, `api/fast_path.py`) runs at {v['d0']['ratio']:.2f}x of (a) "
        f"({cpu['d0']:.0f} us/req against {cpu['a']:.0f}); d1 (all telemetry, no exporter) "
        f"keeps {cpu['d0'] / cpu['d1']:.0%} of d0's capacity by CPU, d2 "
        f"{cpu['d0'] / cpu['d2']:.0%}, d3 {cpu['d0'] / cpu['d3']:.0%}.",
        f"- **Export at the default sampler** (d2 vs d1): {cpu['d2'] - cpu['d1']:+.0f} us/req "
        f"of CPU; always_on (d3) {cpu['d3'] - cpu['d1']:+.0f} us/req. On the bare route: "
        f"c-ratio vs c {cpu['c-ratio'] - cpu['c']:+.0f}, c-on vs c {cpu['c-on'] - cpu['c']:+.0f}.",
        f"- **No exporter**: the server span the middleware still makes (a non-recording span "
        f"for the trace id) and its two id headers cost {off['us_per_request']:.1f} us "
        f"in-process (best of 5 x 20,000), {off['us_per_request'] / cpu['a']:.0%} of a bare "
        f"request's {cpu['a']:.0f} us of CPU.",
        f"- **The access log** (d4 vs d2): {cpu['d2'] - cpu['d4']:+.0f} us/req of CPU; "
        f"{v['d4']['rps']:.0f} vs {v['d2']['rps']:.0f} req/s.",
    ]
    access = {k: x["access_lines"] for k, x in v.items() if "access_lines" in x}
    if access:
        out.append(
            "- Check: access-log lines per cache outcome in the servers' stderr (one `miss` "
            "is the warm-up's first request): "
            + "; ".join(f"{k} {c or 'none'}" for k, c in access.items())
            + "."
        )
    return out


def _in_process_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    base = rows[0]["min_us"]
    out = [
        "",
        "### The middleware alone, in-process",
        "",
        "`TelemetryMiddleware` around a do-nothing ASGI app, called with the same fake",
        "request in a fresh interpreter per row (`bench_http._INPROC`), after 2,000 warm-up",
        "calls; best and median of 5 passes. No HTTP, no scheduler: the cost of the code",
        "itself, hot in the CPU caches (a real server runs it colder, so slower).",
        "",
    ]
    body = [
        [
            r["label"],
            f"{r['min_us']:.1f}",
            f"{r['median_us']:.1f}",
            "-" if i == 0 else f"{r['min_us'] - base:+.1f}",
        ]
        for i, r in enumerate(rows)
    ]
    return out + md_table(["what", "best us/req", "median us/req", "over the app"], body)


def _profile_section(p: dict[str, Any]) -> list[str]:
    if "samples" not in p or not p["samples"]:
        return ["", f"Profile of d2: {p.get('error', 'not taken')}."]
    out = [
        "",
        f"### Where d2's time goes (py-spy, {p['samples']} samples, "
        f"{p['rps_while_profiled']:.0f} req/s while profiled)",
        "",
        f"`{p['command']}` while wrk drove d2; raw stacks in `{p['file']}` (gitignored).",
        "Each sample is put in the first category found from the leaf up. py-spy samples",
        "runnable threads too, so the socket writes (the loopback `send`, which wakes wrk)",
        "include time the server waited for a CPU; *Python work* leaves them and the C",
        "event loop out:",
        "",
    ]
    out += md_table(
        ["category", "share of all samples", "share of the Python work"],
        [
            [k, f"{s:.1%}", "-" if w is None else f"{w:.1%}"]
            for k, (s, w) in p["categories"].items()
        ],
    )
    out += ["", "Top self-time frames (the leaf of each sample):", ""]
    out += md_table(["frame", "self"], [[f"`{f}`", f"{s:.1%}"] for f, s in p["top_self"]])
    return out
