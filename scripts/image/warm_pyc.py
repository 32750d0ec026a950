"""Byte-compile exactly the modules the service imports, found by running it once.

    python3 scripts/image/warm_pyc.py --out /opt/pyc --root /opt/venv --root /opt/app \\
        --python /opt/venv/bin/python -- /opt/app/bin/chemagent serve --workers 2

Dockerfile.prod's app stage runs this; the runtime stage copies the tree it writes over
/ (a small layer of its own: the ~330 MB dependency layer stays byte-identical when only
the code changes). Steps:

1. Start the given server command with PYTHONPYCACHEPREFIX set to a scratch directory,
   so every Python process of the run (the CLI, gunicorn's master, each worker) writes a
   .pyc for each module it imports there and nowhere else.
2. Wait for /readyz, then send the requests a deployment sees (lookup, property panels,
   similarity and substructure search, standardization, depiction, batch, a question,
   errors, /metrics, /v1/performance, the OpenAPI document). Any status other than the
   expected one fails the build: this is also the build's own check that the pruned
   venv (scripts/image/prune_venv.py) still runs the service.
3. Stop it with SIGTERM, then import what tracing loads when OTEL_* asks for export
   (the OTLP exporters for both protocols), which the run above leaves off.
4. For each imported source file under a --root, write an unchecked-hash .pyc to its
   usual __pycache__ place under --out. Unchecked: Python loads it without comparing the
   source's mtime, which a COPY between stages need not keep; the image's files never
   change after the build.

Installing with pip --no-compile and keeping only these saves ~30 MB of .pyc for modules
no worker imports (test helpers, SciPy, Pygments' lexers, unused numpy parts). A module
imported later (a code path the run does not take) is compiled in memory on first import,
as with no .pyc at all: a few milliseconds, once per process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import py_compile
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# Generous: cd.yml builds the arm64 image under QEMU, where loading the library is ~10x slower.
READY_SECONDS = 600
STOP_SECONDS = 60
# (method, path, JSON body or None, expected status)
REQUESTS: list[tuple[str, str, object, int]] = [
    ("GET", "/healthz", None, 200),
    ("GET", "/version", None, 200),
    ("GET", "/v1/compounds/CHEMBL25", None, 200),
    ("GET", "/v1/compounds/chembl521?routed=1", None, 200),
    ("GET", "/v1/compounds/CHEMBL25/properties", None, 200),
    ("POST", "/v1/properties", {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}, 200),
    ("POST", "/v1/similarity", {"query": "CC(=O)Oc1ccccc1C(=O)O", "threshold": 0.4}, 200),
    ("POST", "/v1/substructure", {"smarts": "S(=O)(=O)N", "limit": 5}, 200),
    ("POST", "/v1/standardize", {"smiles": "CC(=O)[O-].[Na+]"}, 200),
    ("GET", "/v1/compounds/CHEMBL25/image.svg", None, 200),
    ("GET", "/v1/depict?smiles=CCO", None, 200),
    ("POST", "/v1/batch", {"ids": ["CHEMBL25", "CHEMBL521"]}, 200),
    ("POST", "/v1/query", {"query": "Which has higher LogP: aspirin or ibuprofen?"}, 200),
    ("POST", "/v1/query", {"query": "Find compounds similar to aspirin"}, 200),
    ("GET", "/v1/compounds/CHEMBL0", None, 404),
    ("POST", "/v1/properties", {"smiles": "not a molecule"}, 422),
    ("GET", "/v1/performance", None, 200),
    ("GET", "/openapi.json", None, 200),
    ("GET", "/metrics", None, 200),
]
# What tracing.configure_tracing imports when export is on, for each OTLP protocol.
TRACING_IMPORTS = """
from chemagent.observability import tracing
for protocol in ("http/protobuf", "grpc"):
    endpoint = "http://127.0.0.1:4318"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    tracing.configure_tracing("warm", env)
    tracing.shutdown_tracing()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(base: str, method: str, path: str, body: object) -> int:
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(base + path, data, headers, method=method), timeout=60
        ) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it was ready")
        try:
            if request(base, "GET", "/readyz", None) == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"not ready within {READY_SECONDS} s")


def run_service(command: list[str], env: dict[str, str], log: Path) -> None:
    port = free_port()
    env = env | {"CHEMAGENT_HOST": "127.0.0.1", "CHEMAGENT_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(base, server)
            wrong = []
            for method, path, body, expected in REQUESTS:
                status = request(base, method, path, body)
                if status != expected:
                    wrong.append(f"{method} {path}: {status}, expected {expected}")
            if wrong:
                raise RuntimeError("unexpected answers: " + "; ".join(wrong))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if server.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the server exited with {server.returncode} after SIGTERM")


def imported_sources(prefix: Path, roots: list[Path]) -> list[Path]:
    """The source files whose .pyc the run wrote under ``prefix`` (a mirror of /)."""
    sources = []
    tag = sys.implementation.cache_tag
    for pyc in prefix.rglob(f"*.{tag}.pyc"):
        source = Path(
            "/", pyc.parent.relative_to(prefix), pyc.name.removesuffix(f".{tag}.pyc") + ".py"
        )
        if source.is_file() and any(source.is_relative_to(root) for root in roots):
            sources.append(source)
    return sorted(sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="where to write the .pyc tree (mirrors /)"
    )
    parser.add_argument(
        "--root", type=Path, action="append", required=True, help="compile modules under this"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the service's interpreter (for step 3)"
    )
    parser.add_argument("command", nargs="+", help="the server command (after --)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="warm-pyc-"))
    prefix, metrics, log = scratch / "prefix", scratch / "metrics", scratch / "server.log"
    metrics.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {
        "PYTHONPYCACHEPREFIX": str(prefix),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "CHEMAGENT_DRAIN_SECONDS": "0",
        "CHEMAGENT_LOG_FORMAT": "json",
    }
    started = time.monotonic()
    try:
        run_service(args.command, env, log)
        subprocess.run(
            [args.python, "-c", TRACING_IMPORTS], env=env, check=True, stdout=subprocess.DEVNULL
        )
        sources = imported_sources(prefix, [root.resolve() for root in args.root])
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"warm_pyc: {error}; the server's last lines:", file=sys.stderr)
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = 0
    for source in sources:
        target = args.out / Path(importlib.util.cache_from_source(str(source))).relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=str(source),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        total += target.stat().st_size
    print(
        f"warm_pyc: {len(sources)} modules imported by the service, "
        f"{total / 2**20:.1f} MiB of .pyc under {args.out} ({time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
