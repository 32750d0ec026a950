"""SIGTERM under load: readiness fails first, the drain serves, nothing in flight is lost.

gunicorn with two workers (``chemagent serve --workers 2``), Redis as L2, real HTTP. Four
keep-alive clients play the load balancer's traffic: they keep sending until they have
seen ``/readyz`` answer 503 for :data:`BALANCER_LAG` seconds, then send nowhere else
(that is what a balancer does once its probe fails). A late client ignores readiness and
sends until the process is gone, one connection per request. A slow client uploads its
body across the moment the listener closes. Then:

* every request of the balancer's clients is a complete 200, and those answered after
  the SIGTERM say ``Connection: close``;
* ``/readyz`` is 503 within 0.5 s of the SIGTERM and stays 503 until connections are
  refused, not before ``DRAIN`` seconds; Redis stays ``ok`` through the drain;
* the late client gets complete 200s until the drain ends; after it, only requests the
  app never saw fail (refused, or reset while still in the kernel's accept queue), and
  none is cut off mid-request;
* the slow upload, in flight when the listener closed, gets its 200;
* gunicorn exits 0 well within ``graceful_timeout``, and each worker logs "clients closed"
  after its last access line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.integration.cache_support import fresh_smiles, wait_for
from tests.integration.conftest import ServeFn, ServerProcess, clean_env, client
from tests.integration.outcomes import Outcome, send
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

DRAIN = 3.0  # CHEMAGENT_DRAIN_SECONDS
BALANCER_LAG = 1.0  # a balancer's probe period x failure threshold, shortened
REQUEST_TIMEOUT = 30.0  # the default CHEMAGENT_REQUEST_TIMEOUT_SECONDS
GRACEFUL_TIMEOUT = DRAIN + REQUEST_TIMEOUT + 5  # gunicorn_config.default_graceful_timeout()
REPO_ROOT = Path(__file__).resolve().parents[2]
IDS = ("CHEMBL25", "CHEMBL521", "CHEMBL112", "CHEMBL1200", "CHEMBL113")


def answered(outcome: Outcome) -> bool:
    return outcome.status == 200 and outcome.complete


def mixed_requests() -> Iterator[tuple[str, str, dict[str, object] | None]]:
    """Lookups, searches (the slow ones), property panels of new molecules."""
    smiles = fresh_smiles()
    for n in range(1_000_000):
        compound = IDS[n % len(IDS)]
        yield ("GET", f"/v1/compounds/{compound}", None)
        yield ("POST", "/v1/similarity", {"query": compound, "threshold": 0.2, "limit": 100})
        yield ("POST", "/v1/properties", {"smiles": next(smiles)})


class Readiness:
    """Polls ``/readyz`` every 50 ms on a new connection until connections are refused."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.probes: list[tuple[float, int | None, dict[str, object]]] = []
        self.first_503: float | None = None
        self.refused_at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Readiness:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=GRACEFUL_TIMEOUT)

    def _run(self) -> None:
        deadline = time.monotonic() + GRACEFUL_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with client(self.base_url, timeout=5) as http:
                    response = http.get("/readyz")
                self.probes.append((time.monotonic(), response.status_code, response.json()))
                if response.status_code == 503 and self.first_503 is None:
                    self.first_503 = time.monotonic()
            except httpx.ConnectError:
                self.refused_at = time.monotonic()
                return
            time.sleep(0.05)


Requests = Iterator[tuple[str, str, dict[str, object] | None]]


def balancer_client(
    base_url: str, ready: Readiness, requests: Requests, lock: threading.Lock
) -> list[Outcome]:
    """Keep-alive traffic until ``/readyz`` has been 503 for ``BALANCER_LAG`` seconds (or
    is refused: then the balancer would stop too, but these requests may have failed)."""
    outcomes = []
    give_up = time.monotonic() + GRACEFUL_TIMEOUT
    with client(base_url, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < give_up and ready.refused_at is None:
            if ready.first_503 is not None and time.monotonic() > ready.first_503 + BALANCER_LAG:
                break
            with lock:
                method, path, body = next(requests)
            outcomes.append(send(http, method, path, body))
    return outcomes


def late_client(server: ServerProcess, start: threading.Event) -> list[Outcome]:
    """One request after another, each on a new connection, until gunicorn has exited."""
    outcomes = []
    start.wait()
    give_up = time.monotonic() + GRACEFUL_TIMEOUT
    while server.process.poll() is None and time.monotonic() < give_up:
        with client(server.url, timeout=REQUEST_TIMEOUT) as http:
            outcomes.append(send(http, "GET", "/v1/compounds/CHEMBL25"))
        time.sleep(0.01)
    return outcomes


def slow_upload(base_url: str, start_at: float) -> Outcome:
    """A similarity search whose body arrives in three parts over 1.5 s, from ``start_at``."""
    body = json.dumps({"query": "CHEMBL521", "threshold": 0.3}).encode()

    def parts() -> Iterator[bytes]:
        yield body[:10]
        time.sleep(0.75)
        yield body[10:20]
        time.sleep(0.75)
        yield body[20:]

    time.sleep(max(0.0, start_at - time.monotonic()))
    with client(base_url, timeout=REQUEST_TIMEOUT) as http:
        return send(http, "POST", "/v1/similarity", content=parts())


def started_workers(stderr: str) -> set[int]:
    """Pids of the workers whose app has started (uvicorn's log line)."""
    return {
        json.loads(line)["pid"]
        for line in stderr.splitlines()
        if line.startswith("{") and '"Application startup complete."' in line
    }


def access_and_close_lines(stderr: str) -> tuple[dict[int, list[str]], dict[int, dict[str, int]]]:
    """Request ids served per worker pid, and the line numbers of its shutdown messages."""
    served: dict[int, list[str]] = {}
    marks: dict[int, dict[str, int]] = {}
    for number, line in enumerate(stderr.splitlines()):
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        pid = entry["pid"]
        if entry["logger"] == "chemagent.access":
            served.setdefault(pid, []).append(entry["request_id"])
            marks.setdefault(pid, {})["last access"] = number
        elif entry["message"].startswith(("SIGTERM: /readyz answers 503", "clients closed")):
            marks.setdefault(pid, {})[entry["message"].split(":")[0]] = number
    return served, marks


def test_sigterm_under_load_loses_no_request(serve: ServeFn, redis_server: RedisServer) -> None:
    env = {
        "CHEMAGENT_DRAIN_SECONDS": str(DRAIN),
        "CHEMAGENT_REDIS_URL": redis_server.url,
        "CHEMAGENT_MAX_WORKERS": "2",
        "CHEMAGENT_LOG_FORMAT": "json",
    }
    server = serve(args=["--workers", "2"], env=env)
    # /readyz answered once one worker was up; a worker still loading its library when the
    # SIGTERM comes stops without a drain (it never served), so wait for both.
    wait_for(lambda: len(started_workers(server.stderr())) == 2, 60, "both workers started")
    requests, lock, late_go = mixed_requests(), threading.Lock(), threading.Event()
    ready = Readiness(server.url).start()
    with ThreadPoolExecutor(max_workers=6) as pool:
        balancers = [
            pool.submit(balancer_client, server.url, ready, requests, lock) for _ in range(4)
        ]
        late = pool.submit(late_client, server, late_go)
        time.sleep(1.0)  # load before the SIGTERM
        sigterm_at = time.monotonic()
        server.terminate()
        late_go.set()
        slow = pool.submit(slow_upload, server.url, sigterm_at + DRAIN - 0.7)
        code = server.wait(timeout=GRACEFUL_TIMEOUT)
        stopped_after = time.monotonic() - sigterm_at
        ready.join()
        balanced = [o for f in balancers for o in f.result(timeout=30)]
        late_outcomes, slow_outcome = late.result(timeout=30), slow.result(timeout=30)
    stderr = server.stderr()

    # The balancer's traffic: all served, and told to reconnect once the drain began.
    assert len(balanced) > 20, len(balanced)
    assert all(map(answered, balanced)), [o for o in balanced if not answered(o)]
    after = [o for o in balanced if o.sent_at > sigterm_at + 0.2]
    assert after, "no request reached the server during the drain"
    assert all(o.connection == "close" for o in after), after

    # Readiness: 503 first, for the whole drain, Redis still open meanwhile.
    assert ready.first_503 is not None, ready.probes
    assert ready.refused_at is not None, ready.probes
    assert ready.first_503 - sigterm_at < 1.0  # a tick (0.1 s) plus a probe on a busy machine
    assert ready.refused_at - sigterm_at >= DRAIN
    draining = [(status, body) for at, status, body in ready.probes if at > ready.first_503]
    assert draining
    assert all(status == 503 for status, _ in draining), draining
    assert all(body["status"] == "draining" for _, body in draining), draining
    assert all(body["redis"] == "ok" for _, body in draining), draining

    # The late client: served during the drain; afterwards only never-seen requests fail.
    served, marks = access_and_close_lines(stderr)
    seen = {request_id for ids in served.values() for request_id in ids}
    during = [o for o in late_outcomes if o.sent_at < sigterm_at + DRAIN]
    assert len(during) >= 3, during
    assert all(map(answered, during)), [o for o in during if not answered(o)]
    failed = [o for o in late_outcomes if not answered(o)]
    assert all(o.status is None for o in failed), failed
    assert not {o.request_id for o in failed} & seen, failed  # none reached the app
    assert all(o.sent_at >= sigterm_at + DRAIN - 0.01 for o in failed), failed
    assert any(o.error.startswith("ConnectError") for o in failed), late_outcomes[-3:]

    # The slow upload was still in flight when the listener closed, and got its answer.
    assert answered(slow_outcome), slow_outcome
    assert slow_outcome.finished_at > ready.refused_at
    assert slow_outcome.request_id in seen

    # A clean exit, and each worker closed its clients after its last request.
    assert code == 0, stderr[-3000:]
    assert DRAIN <= stopped_after < GRACEFUL_TIMEOUT
    workers = {pid: m for pid, m in marks.items() if "last access" in m}
    assert len(workers) == 2, marks
    for pid, mark in workers.items():
        assert mark["SIGTERM"] < mark["last access"] < mark["clients closed"], (pid, mark)
    # Other than the access lines of the 503s (every 5xx is logged as an error).
    errors = [
        line
        for line in stderr.splitlines()
        if '"level":"error"' in line and '"logger":"chemagent.access"' not in line
    ]
    assert not errors, errors
    print(
        f"\n{len(balanced)} balanced + {len(late_outcomes)} late requests, "
        f"{len(failed)} refused after the drain; 503 after {ready.first_503 - sigterm_at:.2f} s, "
        f"refused after {ready.refused_at - sigterm_at:.2f} s, exit 0 after {stopped_after:.2f} s"
    )


def refused_at(url: str, give_up: float) -> float | None:
    """When a new connection to ``url`` is first refused (polled every 50 ms)."""
    while time.monotonic() < give_up:
        try:
            with client(url, timeout=2) as http:
                http.get("/healthz")
        except httpx.ConnectError:
            return time.monotonic()
        time.sleep(0.05)
    return None


def websocket_query(base_url: str, query: str) -> list[dict[str, Any]]:
    """The events of one query over ``/v1/ws/query``, up to its result or error."""
    events: list[dict[str, Any]] = []
    with ws_connect(f"{base_url}/v1/ws/query", open_timeout=5, proxy=None) as ws:
        ws.send(json.dumps({"query": query}))
        while not events or events[-1]["type"] not in ("result", "error"):
            events.append(json.loads(ws.recv(timeout=10)))
    return events


def test_one_worker_drains_too(serve: ServeFn) -> None:
    """``chemagent serve`` (uvicorn in-process): the same 503 first, then the drain."""
    drain = 3.0
    server = serve(env={"CHEMAGENT_DRAIN_SECONDS": str(drain), "CHEMAGENT_MAX_WORKERS": "2"})
    with server.client(timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        sigterm_at = time.monotonic()
        server.terminate()
        wait_for(lambda: http.get("/readyz").status_code == 503, 1.0, "/readyz 503")
        probe = http.get("/readyz")
        served = send(http, "GET", "/v1/compounds/CHEMBL25")
        events = websocket_query(server.url.replace("http://", "ws://"), "What is CHEMBL25?")
        within_drain = time.monotonic() - sigterm_at < drain
    assert within_drain, "too slow to check the drain"
    assert probe.json()["status"] == "draining"
    assert answered(served), served
    assert served.connection == "close"
    assert events[-1]["type"] == "result", events  # the handshake is not told to close
    closed = refused_at(server.url, sigterm_at + 15)
    assert closed is not None
    assert closed - sigterm_at >= drain
    assert server.wait(timeout=10) == 0, server.stderr()


def test_gunicorn_reads_the_repository_config() -> None:
    """``gunicorn -c gunicorn.conf.py`` (the image's way in): our worker class and the
    stop deadline derived from the drain, recycling off on request."""
    env = clean_env({"CHEMAGENT_DRAIN_SECONDS": "2", "GUNICORN_MAX_REQUESTS": "0"})
    command = [
        "-m",
        "gunicorn",
        "--print-config",
        "-c",
        "gunicorn.conf.py",
        "chemagent.app:create_app()",
    ]
    result = subprocess.run(
        [sys.executable, *command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        settings[name.strip()] = value.strip()
    assert settings["worker_class"] == "chemagent.api.draining.DrainingUvicornWorker"
    assert settings["graceful_timeout"] == "37"  # 2 + 30 + 5
    assert settings["max_requests"] == "0"
    assert settings["max_requests_jitter"] == "0"
    assert settings["keepalive"] == "5"
    assert settings["on_starting"] == "<on_starting()>"
