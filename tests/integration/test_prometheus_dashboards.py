"""Every dashboard and alert expression, run against a real Prometheus scraping the service.

The service runs under gunicorn (2 workers) with a real Redis (the L2 tier) and a fake
OpenAI-compatible LLM (an upstream with its own metrics); Debian's ``prometheus`` scrapes
it every second with ``prometheus/alerts.yml`` loaded, as a ServiceMonitor would: job
``chemagent`` and ``namespace``/``pod`` labels. After three rounds of traffic (lookups,
properties, searches, queries, a 404, a 4xx, an LLM fallback that answers, one that is
invalid, one that fails and one that runs past the request deadline) every expression of
every dashboard panel, every variable query and every rule goes through /api/v1/query
with the template variables filled in. Each must be valid; each must return a finite
value unless :data:`EXPECTED_EMPTY` says why not; and none may name a metric the service
does not expose. Prometheus must have loaded the very rules ``scripts/gen_alerts.py``
defines, evaluated them without error, and hold the shed request's alert pending.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ServeFn, ServerProcess
from tests.redis_server import RedisServer, free_port
from tests.service.fake_llm import FakeLLM, running_fake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = ROOT / "prometheus" / "alerts.yml"
NAMESPACE, POD = "ci", "chemagent-ci-0"
READY_SECONDS = 20.0
SETTLE_SECONDS = 20.0
REQUEST_DEADLINE = 1.0  # CHEMAGENT_REQUEST_TIMEOUT_SECONDS: the slow LLM answer runs past it

# What Grafana would put in place of each variable: the test's namespace, All for the rest.
VARIABLES = {
    "__rate_interval": "1m",
    "__range": "5m",
    "__interval": "15s",
    "job": "chemagent",
    "namespace": NAMESPACE,
    "pod": ".*",
    "route": ".*",
    "step": ".*",
    "intent": ".*",
    "upstream": ".*",
}
# Panels allowed (and expected) to show nothing here, and why.
EXPECTED_EMPTY = {
    ("chemagent-cache", "Stale values served"): (
        "only upstream-backed kinds (targets) have stale windows, and targets needs the "
        "ChEMBL upstream, which this offline service does not have"
    ),
}
# Series Prometheus makes itself, not the service.
PROMETHEUS_BUILTINS = {"up", "ALERTS"}
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")
LABEL_VALUES = re.compile(r"label_values\((.+), (\w+)\)$")
LLM_QUERY = "gimme the stuff about asprin pls"  # the rules cannot read it: the LLM is asked


def substitute(expr: str) -> str:
    """``expr`` with Grafana's variables replaced as a dashboard with All selected would."""
    return re.sub(r"\$(\w+)", lambda m: VARIABLES[m.group(1)], expr)


class Prometheus:
    """A ``prometheus`` process on a free port; ``stop()`` is idempotent."""

    def __init__(self, workdir: Path, target: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed; run scripts/install-system-deps.sh")
        config = workdir / "prometheus.yml"  # JSON is YAML: no YAML library needed
        config.write_text(json.dumps(scrape_config(target), indent=2), encoding="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.http = httpx.Client(base_url=self.url, trust_env=False, timeout=10.0)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log.read_text(errors='replace')}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready in {READY_SECONDS} s: {self.log.read_text()}")

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """The JSON answer of an instant query (status success or error)."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        answer: dict[str, Any] = self.http.get("/api/v1/query", params=params).json()
        return answer

    def series(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def scrape_config(target: str) -> dict[str, Any]:
    """Scrape ``target`` every second as job chemagent with the labels a ServiceMonitor
    adds, and evaluate the rules every second."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "chemagent",
                "static_configs": [
                    {"targets": [target], "labels": {"namespace": NAMESPACE, "pod": POD}}
                ],
            }
        ],
    }


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[str], Prometheus]]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        server = Prometheus(tmp_path, target)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def gen_alerts() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "scripts"))
        yield importlib.import_module("gen_alerts")


# --- traffic ------------------------------------------------------------------------------


def drive(http: httpx.Client, fake: FakeLLM, round_number: int) -> None:
    """One round of traffic over every route family; statuses checked as we go. Each
    round repeats the last (cache hits) and adds a search never asked before (a cold
    miss, which takes the cross-pod lock)."""
    fresh = {"query": "ibuprofen", "threshold": 0.4 + round_number / 20, "top_k": 5}
    calls: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("GET", "/v1/compounds/CHEMBL25", None, 200),
        ("GET", "/v1/compounds/CHEMBL99999999", None, 404),
        ("GET", "/v1/compounds?name=ibuprofen", None, 200),
        ("GET", "/v1/compounds/CHEMBL25/properties", None, 200),
        ("POST", "/v1/properties", {"smiles": "CC(=O)Nc1ccc(O)cc1"}, 200),
        ("POST", "/v1/properties", {"smiles": "C1CC"}, 422),
        ("POST", "/v1/similarity", {"query": "ibuprofen", "threshold": 0.4, "top_k": 5}, 200),
        ("POST", "/v1/similarity", fresh, 200),
        ("POST", "/v1/substructure", {"smarts": "c1ccccc1C(=O)O", "limit": 5}, 200),
        ("POST", "/v1/standardize", {"smiles": "CC(=O)[O-].[Na+]"}, 200),
        ("GET", "/v1/depict?smiles=CCO", None, 200),
        ("POST", "/v1/query", {"query": "Calculate properties of aspirin"}, 200),
        ("POST", "/v1/query", {"query": "Find compounds similar to ibuprofen"}, 200),
        ("POST", "/v1/query", {"query": "Which has higher LogP: aspirin or ibuprofen?"}, 200),
        ("POST", "/v1/query", {"query": "What is CHEMBL99999999?"}, 404),  # failed
        ("GET", "/nope", None, 404),
    ]
    for method, path, body, status in calls:
        response = http.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text[:300])
    for answer, http_status in (
        ({"kind": "properties", "compounds": ["aspirin"]}, 200),  # ok
        ({"kind": "no such kind"}, 200),  # invalid
        ({"error": "overloaded"}, 500),  # unavailable
    ):
        fake.answer(answer, status=http_status)
        assert http.post("/v1/query", json={"query": LLM_QUERY}).status_code < 500


def run_past_the_deadline(http: httpx.Client, fake: FakeLLM) -> None:
    """A query whose LLM answer comes after the request deadline: 504, shed (deadline)."""
    fake.answer({"kind": "properties", "compounds": ["aspirin"]})
    fake.delay = REQUEST_DEADLINE + 0.5
    try:
        response = http.post("/v1/query", json={"query": LLM_QUERY})
    finally:
        fake.delay = 0.0
    assert response.status_code == 504, response.text[:300]


def served(server: ServerProcess) -> float:
    """Requests the service has answered (all workers), its own scrapes left out."""
    with server.client() as http:
        text = http.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] != "/metrics"
    )


def wait_until_scraped(prometheus: Prometheus, server: ServerProcess) -> None:
    """Until Prometheus holds a scrape that counts every request answered so far, so
    each round's increments land in a sample of their own."""
    answered = served(server)
    query = 'sum(http_requests_total{job="chemagent", route!="/metrics"})'
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        result = prometheus.series(query)
        if result and float(result[0]["value"][1]) >= answered:
            return
        assert time.monotonic() < deadline, (answered, result, prometheus.log.read_text())
        time.sleep(0.1)


def settled(prometheus: Prometheus, recorded: list[str]) -> bool:
    """Every recording rule has a value, and the shed request's alert is pending."""
    alert = prometheus.series('ALERTS{alertname="ChemAgentRequestsShed"}')
    return bool(alert) and all(has_finite_value(prometheus.series(name)) for name in recorded)


# --- what the expressions name --------------------------------------------------------------


def exposed_names(server: ServerProcess) -> set[str]:
    """Sample names in the service's /metrics (all workers summed)."""
    with server.client() as http:
        text = http.get("/metrics").text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def variable_query(definition: str) -> str:
    """``label_values(selector, label)`` as the PromQL Grafana runs for it."""
    match = LABEL_VALUES.match(definition)
    assert match, definition
    return f"count by ({match.group(2)}) ({match.group(1)})"


def dashboard_expressions() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel or variable, expression) for every dashboard."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            found += [(board["uid"], panel["title"], t["expr"]) for t in panel["targets"]]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                found.append(
                    (board["uid"], f"${variable['name']}", variable_query(variable["definition"]))
                )
    return found


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def check_expression(prometheus: Prometheus, at: float, key: tuple[str, str], expr: str) -> str:
    """Why ``expr`` fails here, or the empty string."""
    answer = prometheus.query(substitute(expr), at)
    if answer["status"] != "success":
        return f"{key}: invalid: {answer.get('error')}\n  {expr}"
    result = answer["data"]["result"]
    if key in EXPECTED_EMPTY:
        return f"{key}: has data now; take it out of EXPECTED_EMPTY" if result else ""
    if not has_finite_value(result):
        return f"{key}: no data ({result[:3]})\n  {expr}"
    return ""


# --- the proof ------------------------------------------------------------------------------


def test_every_dashboard_and_rule_expression_runs_on_real_data(
    serve: ServeFn,
    redis_server: RedisServer,
    prometheus_factory: Callable[[str], Prometheus],
    gen_alerts: ModuleType,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    with running_fake() as fake:
        server = serve(
            args=["--workers", "2"],
            env={
                "CHEMAGENT_REDIS_URL": redis_server.url,
                "CHEMAGENT_LLM_URL": fake.url,
                "CHEMAGENT_REQUEST_TIMEOUT_SECONDS": str(REQUEST_DEADLINE),
                "CHEMAGENT_CACHE_LOCK_ABOVE_SECONDS": "0",  # cold searches take the lock
                "CHEMAGENT_ACCESS_LOG": "false",
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc"),
            },
        )
        prometheus = prometheus_factory(f"127.0.0.1:{server.port}")
        wait_until_scraped(prometheus, server)
        with server.client() as http:
            for round_number in range(3):  # new series, then increments of the same
                drive(http, fake, round_number)
                if round_number < 2:
                    # Twice: the shed counter's series is born at 1 with the first shed, so
                    # Prometheus sees no increase before the second (the service does not
                    # create its children at 0).
                    run_past_the_deadline(http, fake)
                wait_until_scraped(prometheus, server)
    recorded = [rule.record for rule in gen_alerts.RECORDINGS]
    deadline = time.monotonic() + SETTLE_SECONDS
    while not settled(prometheus, recorded):  # rules run every second
        assert time.monotonic() < deadline, {n: prometheus.series(n) for n in recorded}
        time.sleep(0.2)
    at = time.time()

    problems = [
        check_expression(prometheus, at, (uid, title), expr)
        for uid, title, expr in dashboard_expressions()
    ]
    for alert in gen_alerts.ALERTS:  # valid; whether they fire is promtool's part
        answer = prometheus.query(alert.expr, at)
        if answer["status"] != "success":
            problems.append(f"{alert.name}: invalid: {answer.get('error')}")
    failures = [p for p in problems if p]
    assert not failures, "\n".join(failures)

    exposed = exposed_names(server) | PROMETHEUS_BUILTINS | set(recorded)
    named = {
        name
        for expr in [e for _, _, e in dashboard_expressions()]
        + [r.expr for r in gen_alerts.RECORDINGS]
        + [a.expr for a in gen_alerts.ALERTS]
        for name in SELECTOR.findall(expr)
    }
    assert named - exposed == set(), "metrics named by dashboards or rules but not exposed"

    assert_rules_loaded_as_defined(prometheus, gen_alerts)
    pending = prometheus.series('ALERTS{alertname="ChemAgentRequestsShed"}')
    assert [(s["metric"]["reason"], s["metric"]["alertstate"]) for s in pending] == [
        ("deadline", "pending")
    ]
    assert time.monotonic() - started < 60


def assert_rules_loaded_as_defined(prometheus: Prometheus, gen_alerts: ModuleType) -> None:
    """Prometheus holds exactly the generator's rules (so the YAML it wrote reads back as
    meant) and evaluated every one without error."""
    groups = prometheus.http.get("/api/v1/rules").json()["data"]["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    defined = {r.record: r for r in gen_alerts.RECORDINGS} | {a.name: a for a in gen_alerts.ALERTS}
    assert set(loaded) == set(defined)
    for name, rule in loaded.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
        assert pretty(prometheus, rule["query"]) == pretty(prometheus, defined[name].expr), name
    for alert in gen_alerts.ALERTS:
        rule = loaded[alert.name]
        expected = alert.rule()
        assert rule["labels"] == expected["labels"]
        assert rule["annotations"] == expected["annotations"]
        assert rule["duration"] == parse_duration(alert.for_)


def pretty(prometheus: Prometheus, expr: str) -> str:
    answer = prometheus.http.get("/api/v1/format_query", params={"query": expr}).json()
    assert answer["status"] == "success", (expr, answer)
    text: str = answer["data"]
    return text


def parse_duration(text: str) -> int:
    """Seconds of a Prometheus duration such as ``5m``."""
    number, unit = int(text[:-1]), text[-1]
    return number * {"s": 1, "m": 60, "h": 3600}[unit]
