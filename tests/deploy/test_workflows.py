"""The GitHub Actions workflows (.github/workflows): linted, secure, and shaped as promised.

- ``scripts/check_workflows.sh`` (actionlint + zizmor) passes on them, and fails on a
  workflow broken in a way only actionlint sees, and on one only zizmor sees, so both
  tools are really wired in.
- Every action is pinned by a full commit SHA with a ``# vX.Y.Z`` comment, one SHA per action.
- Permissions: ``contents: read`` at the top of each workflow; writes only where named.
- ci.yml runs every command of .ci/run; cd.yml builds, deploys, smoke-tests and rolls back
  in the promised order; security.yml runs weekly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
CHECK = REPO / "scripts" / "check_workflows.sh"
NAMES = ("ci.yml", "cd.yml", "security.yml")

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def run_commands(workflow: dict[str, Any]) -> list[str]:
    """Every line of every ``run:`` script, stripped."""
    return [
        line.strip()
        for step in steps(workflow)
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: scripts/check_workflows.sh needs Node.js 20+")
    return subprocess.run(
        ["bash", str(CHECK), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_workflows_pass_actionlint_and_zizmor() -> None:
    result = check()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    count = len(list(WORKFLOWS.glob("*.y*ml")))
    assert f"actionlint: {count} file(s), 0 finding(s)" in output
    assert f"check_workflows: ok ({count} workflows)" in output


def test_the_check_fails_on_what_only_actionlint_finds(tmp_path: Path) -> None:
    # A job that needs a job that does not exist: valid YAML, no security smell.
    broken = tmp_path / "needs.yml"
    broken.write_text(
        "name: broken\non: push\npermissions:\n  contents: read\njobs:\n"
        "  a:\n    runs-on: ubuntu-24.04\n    needs: [missing]\n    steps:\n"
        "      - run: echo hi\n"
    )
    result = check(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'job "a" needs job "missing" which does not exist' in result.stdout
    assert "actionlint: 1 file(s), 1 finding(s)" in result.stdout
    assert "check_workflows: FAILED" in result.stderr


def test_the_check_fails_on_what_only_zizmor_finds(tmp_path: Path) -> None:
    # Well-formed for actionlint, but an action pinned by a mutable tag.
    broken = tmp_path / "unpinned.yml"
    broken.write_text(
        "name: broken\non: push\npermissions:\n  contents: read\njobs:\n"
        "  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n"
    )
    result = check(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "actionlint: 1 file(s), 0 finding(s)" in result.stdout
    assert "unpinned-uses" in result.stdout
    assert "check_workflows: FAILED" in result.stderr


def test_the_check_refuses_a_missing_file(tmp_path: Path) -> None:
    result = check(tmp_path / "absent.yml")
    assert result.returncode != 0
    assert "cannot read" in result.stderr


def test_every_action_is_pinned_by_sha_with_its_version() -> None:
    sha_of: dict[str, set[str]] = {}
    for name in NAMES:
        lines = (WORKFLOWS / name).read_text().splitlines()
        for line in (line.strip().removeprefix("- ") for line in lines):
            if not line.startswith("uses:"):
                continue
            reference = line.removeprefix("uses:").strip()
            assert PINNED.match(reference), f"{name}: {reference!r} is not SHA-pinned"
            action, sha = reference.split(" #")[0].split("@")
            sha_of.setdefault(action, set()).add(sha)
    assert {"actions/checkout", "docker/build-push-action"} <= sha_of.keys()
    mixed = {action: shas for action, shas in sha_of.items() if len(shas) > 1}
    assert not mixed, f"one SHA per action, found {mixed}"


def test_permissions_are_least_privilege() -> None:
    writes = {}
    for name in NAMES:
        workflow = load(name)
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_id, job in workflow["jobs"].items():
            for scope, level in job.get("permissions", {}).items():
                if level != "read":
                    writes[f"{name}:{job_id}"] = f"{scope}: {level}"
    assert writes == {"cd.yml:image": "packages: write"}


def test_checkouts_leave_no_credentials_behind() -> None:
    for name in NAMES:
        for step in steps(load(name)):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def ci_run_commands() -> list[str]:
    """The commands .ci/run runs: lines that call make, a script or a tool of the project."""
    commands = []
    for raw in (REPO / ".ci" / "run").read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if re.match(r"(make|bash|python3?|\.venv/bin/|scripts/|promtool|docker|npm|node)\b", line):
            commands.append(normalise(line))
    return commands


def normalise(command: str) -> str:
    """The same command however it is spelled: no `bash `, `./`, venv path or env prefix."""
    command = re.sub(r"^(\w+=\S+\s+)+", "", command)
    command = re.sub(r"^bash\s+", "", command)
    command = re.sub(r"(^|\s)(\./|\.venv/bin/|\$\(?BIN\)?/)", r"\1", command)
    return " ".join(command.split())


def test_ci_runs_every_command_of_ci_run() -> None:
    commands = ci_run_commands()
    assert commands, ".ci/run names no command this test recognises"
    in_ci = [normalise(line) for line in run_commands(load("ci.yml"))]

    def runs(command: str, line: str) -> bool:
        return re.search(rf"(^|\s){re.escape(command)}(\s|$)", line) is not None

    missing = [c for c in commands if not any(runs(c, line) for line in in_ci)]
    assert not missing, f"ci.yml does not run these commands of .ci/run: {missing}"


def test_ci_checks_lint_types_tests_manifests_rules_and_workflows() -> None:
    commands = "\n".join(run_commands(load("ci.yml")))
    for expected in (
        "make test",
        "scripts/check_manifests.py",
        "scripts/gen_alerts.py --check",
        "scripts/gen_dashboards.py --check",
        "scripts/metrics_catalogue.py --check",
        "promtool check rules",
        "scripts/check_workflows.sh",
        "docker compose config",
        "make image-test",
        "scripts/smoke_test.sh",
    ):
        assert expected in commands, expected
    smoke = load("ci.yml")["jobs"]["smoke"]
    assert smoke["services"]["redis"]["image"].startswith("redis:")


def test_cd_builds_deploys_smoke_tests_and_rolls_back() -> None:
    cd = load("cd.yml")
    assert cd["on"] == {"push": {"tags": ["v*"]}}
    jobs = cd["jobs"]
    build = next(s for s in jobs["image"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["file"] == "Dockerfile.prod"
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    meta = next(s for s in jobs["image"]["steps"] if "metadata-action" in s.get("uses", ""))
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]
    assert "type=sha" in meta["with"]["tags"]

    assert jobs["staging"]["needs"] == "image"
    assert jobs["staging"]["environment"]["name"] == "staging"
    assert jobs["production"]["needs"] == ["image", "staging"]
    assert jobs["production"]["environment"]["name"] == "production"

    prod = [step.get("run", "") for step in jobs["production"]["steps"]]
    order = ["scripts/deploy.sh prod", 'scripts/smoke_test.sh "$URL"', "scripts/rollback.sh prod"]
    positions = [next(i for i, run in enumerate(prod) if want in run) for want in order]
    assert positions == sorted(positions), f"production steps out of order: {prod}"
    rollback = jobs["production"]["steps"][-1]
    assert rollback["run"] == "scripts/rollback.sh prod"
    assert rollback["if"].startswith("${{ failure()")
    assert "scripts/deploy.sh staging" in "\n".join(run_commands({"jobs": {"s": jobs["staging"]}}))


def test_security_scans_run_on_pull_requests_and_weekly() -> None:
    security = load("security.yml")
    assert "pull_request" in security["on"]
    assert security["on"]["schedule"][0]["cron"].split()[-1] == "1"  # weekly, on Mondays
    commands = "\n".join(run_commands(security))
    assert "bandit -r src" in commands
    assert "pip-audit" in commands
    uses = [str(step.get("uses", "")) for step in steps(security)]
    assert any(u.startswith("aquasecurity/trivy-action@") for u in uses)
