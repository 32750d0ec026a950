"""Fixtures for the integration tier: real ``chemagent`` processes on 127.0.0.1.

``serve(env=..., args=...)`` spawns ``chemagent serve`` on a free port with its own
``CHEMAGENT_*`` environment, waits for ``/readyz`` (30 s at most; a dead or stuck process
fails the test with its stderr) and always stops it in teardown: SIGTERM, then SIGKILL.
``cli(...)`` runs any other ``chemagent`` command to completion.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.05


def chemagent_executable() -> str:
    """The console script of the interpreter running the tests (the project's venv)."""
    beside = Path(sys.executable).with_name("chemagent")
    found = str(beside) if beside.exists() else shutil.which("chemagent")
    if found is None:
        pytest.fail("the `chemagent` console script is not installed; run `pip install -e .`")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any ``CHEMAGENT_*``/``OTEL_*``, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHEMAGENT_", "OTEL_"))}
    base["PYTHONUNBUFFERED"] = "1"
    base["CHEMAGENT_DRAIN_SECONDS"] = "0"  # no load balancer to drain: stop at once
    base.update(env or {})
    return base


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client that talks to ``base_url`` directly (proxy variables ignored)."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.Client(base_url=base_url, trust_env=False, **kwargs)


@dataclass
class ServerProcess:
    """One running ``chemagent serve``; ``stop()`` is idempotent."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    spawned_at: float
    ready_seconds: float = 0.0
    ready_body: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **kwargs: Any) -> httpx.Client:
        return client(self.url, **kwargs)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM (the graceful stop Kubernetes sends) if still running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM, wait ``timeout`` s, then SIGKILL; returns the exit code."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(server: ServerProcess, timeout: float) -> str | None:
    """Poll /readyz until 200; None when ready, else why not."""
    deadline = server.spawned_at + timeout
    with server.client(timeout=2.0) as http:
        while True:
            code = server.process.poll()
            if code is not None:
                return f"exited with code {code} before it was ready"
            try:
                response = http.get("/readyz")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                server.ready_seconds = time.monotonic() - server.spawned_at
                server.ready_body = response.json()
                return None
            if time.monotonic() > deadline:
                return f"not ready after {timeout:.0f} s"
            time.sleep(POLL_SECONDS)


ServeFn = Callable[..., ServerProcess]
# (test name, arguments, seconds from spawn to a 200 from /readyz), printed at the end.
STARTUP_TIMES: list[tuple[str, str, float]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STARTUP_TIMES:
        return
    terminalreporter.section("chemagent serve: spawn to ready")
    for name, args, seconds in STARTUP_TIMES:
        terminalreporter.write_line(f"{seconds:6.2f} s  {name} {args}".rstrip())


def start_server(
    logs: Path,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    ready_timeout: float = READY_TIMEOUT_SECONDS,
) -> ServerProcess:
    """``chemagent serve`` on a free port, ready (a 200 from /readyz), its stderr in ``logs``;
    the caller stops it. Fails the test, with the server's last lines, when it does not
    come up."""
    why = ""
    for attempt in range(3):  # the free port can be taken between bind and listen
        port = free_port()
        stderr_path = logs / f"serve-{port}-{attempt}.stderr"
        command = [chemagent_executable(), "serve", "--host", HOST, "--port", str(port)]
        spawned_at = time.monotonic()
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [*command, *args],
                env=clean_env(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        server = ServerProcess(process, port, stderr_path, spawned_at)
        failure = _wait_ready(server, ready_timeout)
        if failure is None:
            return server
        server.stop(timeout=5)
        why = f"`{' '.join(command)}` {failure}; stderr:\n{_tail(server.stderr())}"
        if "address already in use" not in server.stderr():
            break
    pytest.fail(why, pytrace=False)


@pytest.fixture
def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeFn]:
    """Start ``chemagent serve`` processes; every one is stopped at teardown."""
    started: list[ServerProcess] = []
    logs = tmp_path_factory.mktemp("server-logs")

    def start(
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT_SECONDS,
    ) -> ServerProcess:
        server = start_server(logs, env, args, ready_timeout)
        started.append(server)
        STARTUP_TIMES.append((request.node.name, " ".join(args), server.ready_seconds))
        return server

    yield start
    for server in started:
        server.stop()


CliFn = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli() -> CliFn:
    """Run ``chemagent ARGS...`` to completion with a clean environment plus ``env``."""

    def run(
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [chemagent_executable(), *map(str, args)],
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
