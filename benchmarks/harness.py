"""Shared pieces of the benchmarks: servers on loopback, timing, percentiles, RSS, machine."""

from __future__ import annotations

import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
DATA = BENCH / ".data"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent
CHEMAGENT = BIN / "chemagent"
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean/min/max in milliseconds of a list of durations in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"),
        "min_ms": round(min(ms), 3) if ms else float("nan"),
        "max_ms": round(max(ms), 3) if ms else float("nan"),
    }


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50/p95/p99, mean and max in milliseconds (4 decimals): :data:`STAT_HEADER` rows."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p95_ms": round(percentile(ms, 95), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "max_ms": round(max(ms), 4),
    }


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 3) if baseline else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, result)."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize of ``pid`` in kB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize", "Threads"):
                values[key] = int(rest.split()[0])
    return values


def rss_mb(pid: int) -> float:
    return round(proc_status(pid)["VmRSS"] / 1024.0, 1)


def hwm_mb(pid: int) -> float:
    return round(proc_status(pid)["VmHWM"] / 1024.0, 1)


def children(pid: int) -> list[int]:
    """Direct child PIDs of ``pid`` (so a multi-worker server could be summed)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Server:
    """A ``chemagent serve`` process on loopback; ``ready_seconds`` is spawn -> first 200."""

    proc: subprocess.Popen[bytes]
    port: int
    command: list[str]
    env: dict[str, str]
    log_path: Path
    ready_seconds: float = float("nan")
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"http://{HOST}:{self.port}", timeout=120.0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def shown_command(self) -> str:
        """The command line as one would type it, with the CHEMAGENT_* variables set."""
        return shown_command(self.env, self.command)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


def shown_command(env: dict[str, str], command: list[str]) -> str:
    """``command`` as one would type it in a shell, with ``env`` set before it."""
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    return f"{assignments} {shlex.join(command)}".strip()


def log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a server's log ('' when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(server: Server, started: float, timeout: float) -> float:
    """Poll /readyz every 5 ms until it answers 200; return seconds since ``started``."""
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {server.proc.returncode} before it was ready:\n"
                    f"{server.log_tail()}"
                )
            try:
                response = client.get(f"{server.url}/readyz")
                if response.status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{server.log_tail()}")
            time.sleep(0.005)


@contextmanager
def serve(
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 120.0,
    log_name: str = "server",
    launcher: Sequence[str] = (),
) -> Iterator[Server]:
    """Spawn ``chemagent serve`` on a free loopback port, wait for /readyz, stop on exit.

    ``launcher`` replaces the ``chemagent`` executable (e.g. a patched server for an experiment).
    """
    # No drain at stop (CHEMAGENT_DRAIN_SECONDS): nothing routes traffic to a bench server.
    extra = {"CHEMAGENT_LOG_LEVEL": "WARNING", "CHEMAGENT_DRAIN_SECONDS": "0", **(env or {})}
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / f"{log_name}.log"
    for _attempt in range(3):
        port = free_port()
        command = [*(launcher or [str(CHEMAGENT)]), "serve", "--host", HOST, "--port", str(port)]
        full_env = {**os.environ, **extra}
        with open(log_path, "wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                command, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        server = Server(proc, port, command, extra, log_path)
        try:
            server.ready_seconds = _wait_ready(server, started, timeout)
        except RuntimeError:
            _stop(server)
            if "address already in use" in server.log_tail().lower():
                continue  # the port was taken between free_port() and bind: try another
            raise
        try:
            yield server
        finally:
            _stop(server)
        return
    raise RuntimeError("could not bind a free port in 3 attempts")


def _stop(server: Server) -> None:
    server.client.close()
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


def run_python(code: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter of this venv; return its stdout (raise on error)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -c failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def busy_wait(seconds: float) -> None:
    """Wait without sleeping, so this process stays on its CPU with warm caches."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


_ECHO = """
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while data := c.recv(65536):
    c.sendall(data)
"""


def loopback_latency(rounds: int = 200, idle_rounds: int = 50) -> dict[str, float]:
    """Round trip of 200 bytes to a minimal Python TCP echo process on loopback: back to
    back, and after the echo process sat idle 30 ms (this process busy-waits meanwhile).
    The platform's own cost of waking an idle process, with no web stack in the way."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection((HOST, port)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def round_trip() -> float:
                started = time.perf_counter()
                conn.sendall(b"x" * 200)
                conn.recv(65536)
                return time.perf_counter() - started

            for _ in range(50):
                round_trip()
            hot = [round_trip() for _ in range(rounds)]
            idle = []
            for _ in range(idle_rounds):
                busy_wait(0.03)
                idle.append(round_trip())
    finally:
        proc.kill()
        proc.wait()
    return {
        "hot_p50_ms": round(percentile(hot, 50) * 1000, 3),
        "after_idle_p50_ms": round(percentile(idle, 50) * 1000, 3),
    }


_BARE_ASGI = """
import sys
import uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def bare_uvicorn_latency(rounds: int = 200, idle_rounds: int = 50) -> dict[str, Any]:
    """GET / on a do-nothing ASGI app under uvicorn (same defaults as ``chemagent serve``:
    uvloop + httptools), through the same httpx client: back to back and after the server
    idled 30 ms. Separates uvicorn's own cost from FastAPI's and chemagent's."""
    port = free_port()
    command = [sys.executable, "-c", _BARE_ASGI, str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10) as client:
            deadline = time.perf_counter() + 30
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    if time.perf_counter() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.02)
            for _ in range(50):
                client.get("/")
            hot = [timed(lambda: client.get("/"))[0] for _ in range(rounds)]
            idle = []
            for _ in range(idle_rounds):
                busy_wait(0.03)
                idle.append(timed(lambda: client.get("/"))[0])
    finally:
        proc.terminate()
        proc.wait()
    return {
        "command": f"{sys.executable} -c <harness._BARE_ASGI> {port}",
        "hot_p50_ms": round(percentile(hot, 50) * 1000, 3),
        "after_idle_p50_ms": round(percentile(idle, 50) * 1000, 3),
    }


# --------------------------------------------------------------------------- machine


def _git() -> dict[str, Any]:
    """The commit measured and whether src/ has uncommitted changes (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    return {"commit": commit or "unknown", "src_dirty": bool(git("status", "--porcelain", "src"))}


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, kernel, Python and the key package versions."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg()
    versions: dict[str, str] = {}
    for dist in ("chemagent", "rdkit", "FPSim2", "fastapi", "uvicorn", "numpy", "httpx", "py-spy"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "?"
    return {
        "git": _git(),
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "versions": versions,
    }


# --- markdown for docs/BENCHMARKS.md -----------------------------------------------------

STAT_HEADER = ["measure", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms"]
"""The header of a :func:`stat_row` table."""


def md_table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def stat_row(label: str, s: dict[str, float], digits: int = 3) -> list[str]:
    """One row of a :data:`STAT_HEADER` table from a :func:`summary_ms`-style dict."""
    cells = [s["p50_ms"], s["p95_ms"], s["p99_ms"], s["mean_ms"], s["max_ms"]]
    return [label, str(int(s["n"])), *(f"{v:.{digits}f}" for v in cells)]
