"""gunicorn settings: workers under a container CPU limit, the stop deadline, light imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chemagent import gunicorn_config
from chemagent.gunicorn_config import cgroup_cpu_limit, default_graceful_timeout, default_workers

AFFINITY = len(os.sched_getaffinity(0))


def cgroup(tmp_path: Path, proc_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup tree and /proc/self/cgroup; returns (root, proc file)."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(proc_line + "\n")
    return root, proc


def test_v2_quota_of_the_own_cgroup_and_its_ancestors(tmp_path: Path) -> None:
    root, proc = cgroup(
        tmp_path,
        "0::/kubepods/pod1/app",
        {
            "kubepods/pod1/app/cpu.max": "max 100000",  # the container: no own limit
            "kubepods/pod1/cpu.max": "150000 100000",  # the pod: 1.5 CPUs
            "kubepods/cpu.max": "800000 100000",
        },
    )
    assert cgroup_cpu_limit(root, proc) == 1.5
    # A fractional quota rounds down: one Python process per whole CPU.
    assert default_workers(root, proc) == 1


def test_v2_inside_a_cgroup_namespace(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "0::/", {"cpu.max": "400000 100000"})
    assert cgroup_cpu_limit(root, proc) == 4.0
    assert default_workers(root, proc) == min(AFFINITY, 4)  # affinity still caps it


def test_v1_quota_seen_from_inside_a_container(tmp_path: Path) -> None:
    # cgroup v1 has no namespace: the host path is shown, the own cgroup is the mount root.
    root, proc = cgroup(
        tmp_path,
        "4:cpu,cpuacct:/docker/0123abcd",
        {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"},
    )
    assert cgroup_cpu_limit(root, proc) == 0.5
    assert default_workers(root, proc) == 1  # never fewer than one


@pytest.mark.parametrize(
    ("proc_line", "files"),
    [
        ("0::/", {"cpu.max": "max 100000"}),
        ("4:cpu,cpuacct:/", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}),
        ("0::/", {"cpu.max": "garbage"}),
        ("0::/", {}),
        ("3:memory:/x", {"memory/cpu.max": "100000 100000"}),
    ],
    ids=["v2-max", "v1-unlimited", "unreadable", "no-files", "other-controller"],
)
def test_no_quota_means_the_affinity(tmp_path: Path, proc_line: str, files: dict[str, str]) -> None:
    root, proc = cgroup(tmp_path, proc_line, files)
    assert cgroup_cpu_limit(root, proc) is None
    assert default_workers(root, proc) == AFFINITY


def test_graceful_timeout_covers_drain_request_and_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHEMAGENT_DRAIN_SECONDS", raising=False)
    monkeypatch.delenv("CHEMAGENT_REQUEST_TIMEOUT_SECONDS", raising=False)
    assert default_graceful_timeout() == 5 + 30 + 5
    monkeypatch.setenv("CHEMAGENT_DRAIN_SECONDS", "2.5")
    monkeypatch.setenv("CHEMAGENT_REQUEST_TIMEOUT_SECONDS", "10")
    assert default_graceful_timeout() == 18  # ceil(2.5 + 10 + 5)
    # A bad value is the workers' Settings' to report; here the default stands.
    monkeypatch.setenv("CHEMAGENT_DRAIN_SECONDS", "soon")
    assert default_graceful_timeout() == 5 + 10 + 5


def test_module_defaults() -> None:
    assert gunicorn_config.worker_class == "chemagent.api.draining.DrainingUvicornWorker"
    assert gunicorn_config.keepalive <= 5  # <= CHEMAGENT_DRAIN_SECONDS' default
    assert gunicorn_config.max_requests_jitter == gunicorn_config.max_requests // 10


def test_gunicorns_master_imports_no_prometheus_client() -> None:
    """The master imports the config and the worker class before ``on_starting`` sets
    PROMETHEUS_MULTIPROC_DIR; prometheus_client picks its mode once, at its import."""
    code = (
        "import sys, chemagent.gunicorn_config, chemagent.api.draining;"
        "print(sorted(m for m in ('prometheus_client', 'rdkit', 'fastapi') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
