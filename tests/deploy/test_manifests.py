"""The Kubernetes manifests: every overlay renders and passes scripts/check_manifests.py, and
the check fails, naming the problem, on renderings broken the ways that matter in production.

Needs kubectl (renders the overlays with its built-in kustomize) and kubernetes-validate
(the dev extra). The mutations work on one rendering of the prod overlay, written to a file
and checked with ``--rendered``, as CI would check a rendering before applying it.
"""

from __future__ import annotations

import base64
import importlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROD = REPO_ROOT / "kubernetes" / "overlays" / "prod"

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def check() -> Iterator[ModuleType]:
    """``scripts/check_manifests.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT / "scripts"))
        yield importlib.import_module("check_manifests")


@pytest.fixture(scope="module")
def prod(check: ModuleType) -> list[Obj]:
    return check.render(PROD)


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    """The object of ``kind`` whose name is ``name`` or starts with ``name-`` (a hash)."""
    for obj in objects:
        obj_name = obj["metadata"]["name"]
        if obj["kind"] == kind and (obj_name == name or obj_name.startswith(f"{name}-")):
            return obj
    raise LookupError(f"no {kind}/{name}")


def api(objects: list[Obj]) -> Obj:
    """The API container of the chemagent Deployment."""
    return find(objects, "Deployment", "chemagent")["spec"]["template"]["spec"]["containers"][0]


def run_on(check: ModuleType, objects: list[Obj], tmp_path: Path, target: str = "prod") -> int:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(
        yaml.dump_all(objects, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    )
    return int(check.main(["--rendered", str(rendered), "--target", target]))


def test_kubectl_is_installed() -> None:
    assert shutil.which("kubectl"), "kubectl renders the overlays (kubectl kustomize)"


def test_every_overlay_renders_and_passes(
    check: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main([]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    for overlay in ("dev", "staging", "prod", "prod-managed-redis"):
        assert f"{overlay}: " in out
    assert "0 error(s)" in out


def test_prod_shape(prod: list[Obj]) -> None:
    hpa = find(prod, "HorizontalPodAutoscaler", "chemagent")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    assert [m["type"] for m in hpa["metrics"]] == ["Resource", "Pods"]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert not [obj for obj in prod if obj["kind"] == "Secret"]
    labels = find(prod, "ServiceMonitor", "chemagent")["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"


def test_managed_redis_example_drops_the_statefulset(check: ModuleType) -> None:
    objects = check.render(REPO_ROOT / "kubernetes" / "examples" / "prod-managed-redis")
    assert not [obj for obj in objects if obj["kind"] == "StatefulSet"]
    env = {e["name"]: e for e in api(objects)["env"]}
    assert env["CHEMAGENT_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "chemagent-redis"


def test_unmodified_rendering_passes(check: ModuleType, prod: list[Obj], tmp_path: Path) -> None:
    assert run_on(check, prod, tmp_path) == 0


def _drop_readiness(objects: list[Obj]) -> None:
    del api(objects)["readinessProbe"]


def _short_grace(objects: list[Obj]) -> None:
    find(objects, "Deployment", "chemagent")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ] = 45


def _longer_requests(objects: list[Obj]) -> None:
    # graceful_timeout grows with the request deadline: 5 + 60 + 5 = 70 s > 60 - 10.
    find(objects, "ConfigMap", "chemagent-config")["data"]["CHEMAGENT_REQUEST_TIMEOUT_SECONDS"] = (
        "60"
    )


def _writable_root(objects: list[Obj]) -> None:
    api(objects)["securityContext"]["readOnlyRootFilesystem"] = False


def _service_links(objects: list[Obj]) -> None:
    del find(objects, "Deployment", "chemagent")["spec"]["template"]["spec"]["enableServiceLinks"]


def _small_hpa(objects: list[Obj]) -> None:
    find(objects, "HorizontalPodAutoscaler", "chemagent")["spec"]["maxReplicas"] = 5


def _real_secret(objects: list[Obj]) -> None:
    token = base64.b64encode(b"9f2c4e1ab77d40c3b5e8a6f1d2c3b4a5").decode()
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "chemagent-secrets", "labels": {}},
            "data": {"CHEMAGENT_ADMIN_TOKEN": token},
        }
    )


def _unknown_field(objects: list[Obj]) -> None:
    find(objects, "Deployment", "chemagent")["spec"]["replica"] = 3  # a typo of replicas


def _bad_service_monitor(objects: list[Obj]) -> None:
    find(objects, "ServiceMonitor", "chemagent")["spec"]["endpoints"][0]["interval"] = "15 sec"


def _redis_policy(objects: list[Obj]) -> None:
    conf = find(objects, "ConfigMap", "chemagent-redis-config")["data"]
    conf["redis.conf"] = conf["redis.conf"].replace("allkeys-lru", "noeviction")


def _redis_too_big(objects: list[Obj]) -> None:
    find(objects, "ConfigMap", "chemagent-redis-config")["data"]["overrides.conf"] = "maxmemory 2gb"


def _open_egress(objects: list[Obj]) -> None:
    policy = find(objects, "NetworkPolicy", "chemagent")
    policy["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})


def _drop_pdb(objects: list[Obj]) -> None:
    objects.remove(find(objects, "PodDisruptionBudget", "chemagent"))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_drop_readiness, "missing readinessProbe"),
        (_short_grace, "terminationGracePeriodSeconds 45 must exceed preStop 10 s"),
        (_longer_requests, "graceful_timeout 70 s"),
        (_writable_root, "readOnlyRootFilesystem: true"),
        (_service_links, "enableServiceLinks must be false"),
        (_small_hpa, "prod must scale 3..10, not 3..5"),
        (_real_secret, "CHEMAGENT_ADMIN_TOKEN looks real"),
        (_real_secret, "no Secret may be rendered for staging/prod"),
        (_unknown_field, "schema (Kubernetes 1.30.0)"),
        (_bad_service_monitor, "schema: spec.endpoints.0.interval"),
        (_redis_policy, "maxmemory-policy allkeys-lru"),
        (_redis_too_big, "maxmemory 2gb is over 2/3"),
        (_open_egress, "egress to ports [None]"),
        (_drop_pdb, "prod: no PodDisruptionBudget"),
    ],
)
def test_broken_rendering_fails(
    check: ModuleType,
    prod: list[Obj],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[list[Obj]], None],
    message: str,
) -> None:
    objects = json.loads(json.dumps(prod))  # a deep copy
    break_it(objects)
    assert run_on(check, objects, tmp_path) == 1
    assert message in capsys.readouterr().err


def test_dashboard_copies_follow_grafana(
    check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, monitoring = tmp_path / "grafana", tmp_path / "monitoring"
    shutil.copytree(check.DASHBOARDS_SRC, source)
    shutil.copytree(check.MONITORING, monitoring)
    monkeypatch.setattr(check, "DASHBOARDS_SRC", source)
    monkeypatch.setattr(check, "MONITORING", monitoring)
    monkeypatch.setattr(check, "ROOT", tmp_path)
    errors: list[str] = []
    check.sync_dashboards(False, errors.append)
    assert errors == []

    first = sorted(source.glob("*.json"))[0]
    first.write_text(first.read_text().replace('"title"', '"title" ', 1))
    (source / "chemagent-new.json").write_text("{}")
    check.sync_dashboards(False, errors.append)
    assert any(f"{first.name} differs from grafana/" in e for e in errors), errors
    assert any("chemagent-new.json is not listed" in e for e in errors), errors

    errors.clear()
    check.sync_dashboards(True, errors.append)  # copies; the listing stays a manual edit
    assert (monitoring / "dashboards" / first.name).read_text() == first.read_text()
    assert [e for e in errors if "is not listed" in e]
    assert not [e for e in errors if "differs" in e]
