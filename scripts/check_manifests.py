#!/usr/bin/env python3
"""Render every kustomize overlay under kubernetes/ and check each object before a cluster does.

    python scripts/check_manifests.py            # render, validate and check every overlay
    python scripts/check_manifests.py --sync     # first copy grafana/dashboards to kubernetes/
    python scripts/check_manifests.py --rendered out.yaml --target prod   # check a rendering

Checks, each error a line naming overlay and object (docs/DEPLOYMENT.md#what-ci-checks): the
dashboard copies under kubernetes/base/monitoring match grafana/dashboards; every object
validates (kubernetes-validate, strict; the Operator's CRs against kubernetes/schemas); the
project's rules hold: probes, resources, security context, shutdown arithmetic, HPA,
Secrets, Redis memory, labels, network policy, TLS. Exit status: 0 when all pass, 1 on
any error, 2 when kubectl cannot render an overlay.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "kubernetes"
TARGET_DIRS = (K8S / "overlays", K8S / "examples")
DASHBOARDS_SRC = ROOT / "grafana" / "dashboards"
MONITORING = K8S / "base" / "monitoring"  # its kustomization lists the dashboard copies
CRD_SCHEMAS = {
    "ServiceMonitor": K8S / "schemas" / "servicemonitor-v1.json",
    "PrometheusRule": K8S / "schemas" / "prometheusrule-v1.json",
}
ADAPTER_RULES = K8S / "addons" / "prometheus-adapter-rules.yaml"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the manifests support
API_LABELS = {"app.kubernetes.io/name": "chemagent", "app.kubernetes.io/component": "api"}
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")
NEEDED_KINDS = "Deployment Service Ingress NetworkPolicy ServiceAccount PodDisruptionBudget"
NEEDED_KINDS += " HorizontalPodAutoscaler ServiceMonitor PrometheusRule"
APP_UID = 10001
EGRESS_PORTS = {53, 443, 6379, 6380}  # DNS, HTTPS (ChEMBL, LLM), Redis, Redis over TLS
FAKE_MARKERS = ("example", "not-a-secret", "changeme", "fake", "dummy")
HPA_PROD = (3, 10)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~20x faster on dashboards

Obj = dict[str, Any]
Report = Callable[[str], None]


def scoped(report: Report, prefix: str) -> Report:
    """``report`` with every message prefixed (``dev: Deployment/chemagent: ...``)."""
    return lambda message: report(f"{prefix}: {message}")


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def selects_api(selector: Obj | None) -> bool:
    labels = (selector or {}).get("matchLabels", selector or {})
    return all(labels.get(key) == value for key, value in API_LABELS.items())


K8S_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
REDIS_UNITS = {"k": 1e3, "kb": 2**10, "m": 1e6, "mb": 2**20, "g": 1e9, "gb": 2**30}


def size(value: str | int, units: dict[str, float]) -> float:
    """``512Mi`` (Kubernetes, K8S_UNITS), ``1gb`` (redis.conf, REDIS_UNITS) as a number."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit] if unit else float(number)


def sync_dashboards(write: bool, error: Report) -> None:
    """Copy (``write``) or compare grafana/dashboards/*.json to kubernetes/, and check that
    the monitoring kustomization makes a ConfigMap of each."""
    sources = {path.name: path.read_text() for path in DASHBOARDS_SRC.glob("*.json")}
    copies = MONITORING / "dashboards"
    stale = {p.name for p in copies.glob("*.json")} - set(sources)
    for name, text in sources.items():
        if write:
            copies.mkdir(exist_ok=True)
            (copies / name).write_text(text)
        elif not (copies / name).is_file() or (copies / name).read_text() != text:
            error(f"dashboards: {copies.relative_to(ROOT)}/{name} differs from grafana/: --sync")
    for name in stale:
        if write:
            (copies / name).unlink()
        else:
            error(f"dashboards: {name} has no source in grafana/dashboards: --sync removes it")
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    listed = {Path(f).name for g in kustomization.get("configMapGenerator", []) for f in g["files"]}
    for name in sorted(listed ^ set(sources)):
        where = "has no source in grafana/dashboards" if name not in sources else "is not listed"
        error(f"dashboards: {name} {where}: edit {MONITORING.relative_to(ROOT)}/kustomization.yaml")


def render(target: Path) -> list[Obj]:
    """``kubectl kustomize target`` as a list of objects (exit 2 when it fails)."""
    if shutil.which("kubectl") is None:
        raise SystemExit("check_manifests: kubectl not found (it renders the overlays)")
    done = subprocess.run(["kubectl", "kustomize", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(f"{target.name}: kubectl kustomize failed:\n{done.stderr}")
        raise SystemExit(2)
    return [doc for doc in yaml.load_all(done.stdout, Loader=LOADER) if doc]


def check_schema(obj: Obj, error: Report) -> None:
    """One object against its Kubernetes schema, or its CRD's (kubernetes/schemas)."""
    for message in schema_errors(json.dumps(obj, sort_keys=True)):
        error(message)


@functools.cache  # overlays and the tests' broken renderings repeat most objects
def schema_errors(text: str) -> tuple[str, ...]:
    obj = json.loads(text)
    if obj.get("kind") in CRD_SCHEMAS:
        schema = json.loads(CRD_SCHEMAS[obj["kind"]].read_text())
        problems = jsonschema.Draft202012Validator(schema).iter_errors(obj)
        return tuple(
            f"schema: {'.'.join(map(str, p.absolute_path))}: {p.message}" for p in problems
        )
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(map(str, exc.path))
        return (f"schema (Kubernetes {K8S_VERSION}): {where}: {exc.message}",)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return (f"schema: {exc.message}",)
    return ()


def container_env(container: Obj, objects: list[Obj]) -> dict[str, str]:
    """A container's plain environment: its ConfigMaps (envFrom), then its ``env`` values."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps.get(source.get("configMapRef", {}).get("name"), {}))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def graceful_timeout(env: dict[str, str]) -> int:
    """gunicorn's graceful_timeout under ``env``, as chemagent.gunicorn_config computes it."""
    from chemagent import gunicorn_config

    option = re.search(r"--graceful-timeout[= ](\d+)", env.get("GUNICORN_CMD_ARGS", ""))
    if option or env.get("GUNICORN_GRACEFUL_TIMEOUT"):
        return int(option.group(1) if option else env["GUNICORN_GRACEFUL_TIMEOUT"])
    saved = dict(os.environ)
    for key in ("CHEMAGENT_DRAIN_SECONDS", "CHEMAGENT_REQUEST_TIMEOUT_SECONDS"):
        os.environ.pop(key, None)
        os.environ.update({key: env[key]} if key in env else {})
    try:
        return gunicorn_config.default_graceful_timeout()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_pod(obj: Obj, objects: list[Obj], error: Report) -> None:
    """Probes, resources and the restricted security context of every container."""
    pod = obj["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        error("automountServiceAccountToken must be false (no pod calls the Kubernetes API)")
    for c in pod["containers"]:
        sc, say = c.get("securityContext", {}), scoped(error, c["name"])
        resources = c.get("resources", {})
        missing = [p for p in ("startupProbe", "livenessProbe", "readinessProbe") if p not in c]
        missing += [f"resources.{kind}.{res}" for kind in ("requests", "limits")
                    for res in ("cpu", "memory") if res not in resources.get(kind, {})]  # fmt: skip
        if missing:
            say(f"missing {', '.join(missing)}")
        eff = {key: pod_sc[key] for key in ("runAsNonRoot", "seccompProfile") if key in pod_sc}
        eff |= sc
        required = {
            "runAsNonRoot: true": eff.get("runAsNonRoot") is True,
            "allowPrivilegeEscalation: false": eff.get("allowPrivilegeEscalation") is False,
            "readOnlyRootFilesystem: true": eff.get("readOnlyRootFilesystem") is True,
            "capabilities.drop: [ALL]": "ALL" in eff.get("capabilities", {}).get("drop", []),
            "seccompProfile.type: RuntimeDefault": eff.get("seccompProfile", {}).get("type")
            == "RuntimeDefault",
        }
        if failed := [rule for rule, ok in required.items() if not ok]:
            say(f"securityContext needs {', '.join(failed)}")
        if c.get("command", [""])[0] == "chemagent":
            check_api_container(c, pod, container_env(c, objects), say)


def check_api_container(c: Obj, pod: Obj, env: dict[str, str], say: Report) -> None:
    """The API: user, command, port, probe paths, emptyDirs and the shutdown arithmetic."""
    pod_sc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
    for key in ("runAsUser", "runAsGroup"):
        if sc.get(key, pod_sc.get(key)) != APP_UID:
            say(f"securityContext.{key} must be {APP_UID} (the image's user)")
    if pod.get("enableServiceLinks") is not False:
        say("enableServiceLinks must be false (the Service `chemagent` would set CHEMAGENT_PORT)")
    argv = c.get("command", []) + c.get("args", [])
    if argv[:2] != ["chemagent", "serve"] or "--workers" not in argv[:-1]:
        say("command must be `chemagent serve ... --workers N`")
    elif int(argv[argv.index("--workers") + 1]) < 2:
        say("--workers must be >= 2: gunicorn empties PROMETHEUS_MULTIPROC_DIR at start")
    if "http" not in [p.get("name") for p in c.get("ports", [])]:
        say("no container port named http")
    paths = [
        c.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe")
    ]
    if paths != ["/healthz", "/readyz"]:
        say(f"probes must be liveness /healthz and readiness /readyz, not {paths}")
    startup = c.get("startupProbe", {})
    if startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) < 60:
        say("startupProbe must allow the library load at least 60 s")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in c.get("volumeMounts", [])}
    if "emptyDir" not in mounts.get("/tmp", {}):
        say("/tmp must be an emptyDir (the root filesystem is read-only)")
    metrics_dir = env.get("PROMETHEUS_MULTIPROC_DIR", "")
    metrics = mounts.get(metrics_dir, {}).get("emptyDir", {})
    if metrics.get("medium") != "Memory" or "sizeLimit" not in metrics:
        say(f"PROMETHEUS_MULTIPROC_DIR {metrics_dir!r} must be a memory emptyDir with sizeLimit")
    pre_stop = c.get("lifecycle", {}).get("preStop", {})
    command = pre_stop.get("exec", {}).get("command", [])
    sleep = pre_stop.get("sleep", {}).get("seconds")
    if sleep is None and len(command) == 2 and command[0] == "sleep":
        sleep = int(command[1])
    grace, drain = pod.get("terminationGracePeriodSeconds", 30), graceful_timeout(env)
    if sleep is None:
        say("no preStop sleep: requests routed before the endpoints update would fail")
    elif grace <= sleep + drain:
        say(f"terminationGracePeriodSeconds {grace} must exceed preStop {sleep} s + gunicorn's "
            f"graceful_timeout {drain} s")  # fmt: skip


def check_hpa(hpa: Obj, target: str, pods_metrics: set[str], error: Report) -> None:
    spec, behavior = hpa["spec"], hpa["spec"].get("behavior", {})
    if hpa["apiVersion"] != "autoscaling/v2":
        error("must be autoscaling/v2")
    metrics = {m["type"]: m for m in spec.get("metrics", [])}
    if metrics.get("Resource", {}).get("resource", {}).get("name") != "cpu":
        error("needs a CPU utilization metric")
    if target != "dev" and "Pods" not in metrics:
        error("needs a Pods metric (requests per second)")
    if "Pods" in metrics and metrics["Pods"]["pods"]["metric"]["name"] not in pods_metrics:
        error(f"its Pods metric is none of the adapter's {sorted(pods_metrics)}")
    if behavior.get("scaleDown", {}).get("stabilizationWindowSeconds") != 300:
        error("behavior.scaleDown.stabilizationWindowSeconds must be 300")
    if behavior.get("scaleUp", {}).get("stabilizationWindowSeconds", 300) > 60:
        error("behavior.scaleUp.stabilizationWindowSeconds must be <= 60 (scale up fast)")
    bounds = (spec.get("minReplicas", 1), spec["maxReplicas"])
    if target.startswith("prod") and bounds != HPA_PROD:
        error(f"prod must scale {HPA_PROD[0]}..{HPA_PROD[1]}, not {bounds[0]}..{bounds[1]}")
    elif bounds[1] > HPA_PROD[1]:
        error(f"{target} must not scale beyond prod's {HPA_PROD[1]} pods")


def check_secret(secret: Obj, target: str, error: Report) -> None:
    if target.startswith(("prod", "staging")):
        error("no Secret may be rendered for staging/prod: create it in the cluster")
    data = secret.get("data", {})
    values = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    values |= secret.get("stringData", {})
    for key, value in values.items():
        if value and not any(marker in value.lower() for marker in FAKE_MARKERS):
            error(f"{key} looks real: committed values must contain one of {FAKE_MARKERS}")


def check_redis(objects: list[Obj], error: Report) -> None:
    """maxmemory and allkeys-lru in redis.conf (its includes too), within the pod's limit."""
    for cm in (
        o for o in objects if "redis.conf" in o.get("data", {}) and o["kind"] == "ConfigMap"
    ):
        files, settings, say = cm["data"], {}, scoped(error, name_of(cm))
        lines = files["redis.conf"].splitlines()
        for index, line in enumerate(lines):  # an include is read in place, as Redis does
            words = line.split(None, 1)
            if len(words) < 2 or words[0].startswith("#"):
                continue
            if words[0] == "include":
                lines[index + 1 : index + 1] = files.get(Path(words[1]).name, "").splitlines()
            settings[words[0]] = words[1].strip()
        if settings.get("maxmemory-policy") != "allkeys-lru":
            say("redis.conf needs maxmemory-policy allkeys-lru")
        if "maxmemory" not in settings:
            say("redis.conf needs maxmemory")
            continue
        for sts in (o for o in objects if o["kind"] == "StatefulSet"):
            pod = sts["spec"]["template"]["spec"]
            mounted = {v.get("configMap", {}).get("name") for v in pod["volumes"]}
            if cm["metadata"]["name"] in mounted:
                limits = pod["containers"][0].get("resources", {}).get("limits", {})
                limit = size(limits.get("memory", 0), K8S_UNITS)
                if size(settings["maxmemory"].lower(), REDIS_UNITS) > limit * 2 / 3:
                    say(f"maxmemory {settings['maxmemory']} is over 2/3 of {name_of(sts)}'s memory "
                        "limit: too little room for fragmentation and snapshot forks")  # fmt: skip


def adapter_metric_names(error: Report) -> set[str]:
    """The metrics the prometheus-adapter addon serves (its rules' ``name.as``), checked."""
    names: set[str] = set()
    for doc in (d for d in yaml.load_all(ADAPTER_RULES.read_text(), Loader=LOADER) if d):
        say = scoped(error, f"addons: {name_of(doc)}")
        check_schema(doc, say)
        config = yaml.safe_load(doc.get("data", {}).get("config.yaml", "")) or {}
        for rule in config.get("rules", []):
            query = rule.get("metricsQuery", "")
            if not all(f"<<.{part}>>" in query for part in ("Series", "LabelMatchers", "GroupBy")):
                say(f"metricsQuery needs <<.Series>>, <<.LabelMatchers>> and <<.GroupBy>>: {query}")
            if not rule.get("seriesQuery") or "resources" not in rule:
                say("each rule needs seriesQuery and resources")
            names.add(rule.get("name", {}).get("as", ""))
    return names


def check_network_policy(spec: Obj, say: Report) -> None:
    if set(spec.get("policyTypes", [])) != {"Ingress", "Egress"}:
        say("the API's policy must restrict both Ingress and Egress")
    if any(not rule.get("from") for rule in spec.get("ingress", [])):
        say("every ingress rule must name its peers (an empty `from` admits everyone)")
    ports = [p.get("port") for rule in spec.get("egress", []) for p in rule.get("ports") or [{}]]
    if bad := [port for port in ports if port not in EGRESS_PORTS]:
        say(f"egress to ports {bad}; allowed: {sorted(EGRESS_PORTS)} (None: every port)")


def check_target(target: str, objects: list[Obj], pods_metrics: set[str], error: Report) -> None:
    """Every object of one rendered overlay: schema, labels, then the rules of its kind."""
    if missing_kinds := set(NEEDED_KINDS.split()) - {obj.get("kind") for obj in objects}:
        error(f"{target}: no {', '.join(sorted(missing_kinds))}")
    dashboards = [o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard")]
    if len(dashboards) != len(list(DASHBOARDS_SRC.glob("*.json"))):
        error(f"{target}: {len(dashboards)} dashboard ConfigMaps for grafana/dashboards/*.json")
    for obj in objects:
        kind, spec, labels = obj["kind"], obj.get("spec", {}), obj["metadata"].get("labels", {})
        say = scoped(error, f"{target}: {name_of(obj)}")
        check_schema(obj, say)
        if missing := [key for key in REQUIRED_LABELS if key not in labels]:
            say(f"missing recommended labels {missing}")
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            check_pod(obj, objects, say)
        elif kind == "HorizontalPodAutoscaler":
            check_hpa(obj, target, pods_metrics, say)
        elif kind == "Secret":
            check_secret(obj, target, say)
        elif kind == "ServiceAccount" and obj.get("automountServiceAccountToken") is not False:
            say("automountServiceAccountToken must be false")
        elif kind == "Service" and selects_api(spec.get("selector")):
            if "http" not in [p.get("name") for p in spec.get("ports", [])]:
                say("the API's Service needs a port named http")
        elif kind == "ServiceMonitor":
            if ("http", "/metrics") not in {
                (e.get("port"), e.get("path")) for e in spec["endpoints"]
            }:
                say("must scrape port http, path /metrics")
        elif kind == "Ingress":
            hosts = {rule.get("host") for rule in spec.get("rules", [])}  # None: any host
            if not hosts <= {host for tls in spec.get("tls", []) for host in tls.get("hosts", [])}:
                say("every host needs TLS")
        elif kind == "NetworkPolicy" and selects_api(spec.get("podSelector")):
            check_network_policy(spec, say)
    check_redis(objects, scoped(error, target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", action="store_true", help="write the dashboard copies first")
    parser.add_argument("--rendered", type=Path, help="check this rendering, not the overlays")
    parser.add_argument("--target", default="prod", help="the overlay --rendered comes from")
    args = parser.parse_args(argv)
    errors: list[str] = []
    sync_dashboards(args.sync, errors.append)
    pods_metrics = adapter_metric_names(errors.append)
    if args.rendered:
        text = args.rendered.read_text()
        rendered = {args.target: [d for d in yaml.load_all(text, Loader=LOADER) if d]}
    else:
        paths = [p for d in TARGET_DIRS for p in sorted(d.glob("*/kustomization.yaml"))]
        rendered = {path.parent.name: render(path.parent) for path in paths}
    for target, objects in rendered.items():
        check_target(target, objects, pods_metrics, errors.append)
        print(f"{target}: {len(objects)} objects checked")
    for line in errors:
        print(f"ERROR {line}", file=sys.stderr)
    print(f"check_manifests: {len(errors)} error(s) in {', '.join(rendered)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
