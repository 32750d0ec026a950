"""scripts/hpa_controller.py against hand-computed HPA decisions, scripts/hpa_sim.py's
manifest reading and simulation, and the simulation output quoted in docs/SCALING.md.

Every expected number below is worked out in the comment beside it, from the formulas of
kube-controller-manager (replica_calculator.go, horizontal.go).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCALING_DOC = REPO / "docs" / "SCALING.md"


@pytest.fixture(scope="module")
def hpa() -> Iterator[ModuleType]:
    """``scripts/hpa_controller.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "scripts"))
        import hpa_controller

        yield hpa_controller


@pytest.fixture(scope="module")
def sim(hpa: ModuleType) -> ModuleType:
    """``scripts/hpa_sim.py`` imported as a module (it imports hpa_controller)."""
    import hpa_sim

    return hpa_sim


# --- one metric: desired = ceil(ready x value / target), tolerance 0.1 -----------------


@pytest.mark.parametrize(
    ("current", "value", "target", "expected"),
    [
        (3, 140, 70, 6),  # ratio 2.0 -> ceil(6.0) = 6
        (3, 100, 70, 5),  # ratio 1.4286 -> ceil(4.2857) = 5
        (4, 50, 70, 3),  # ratio 0.7143 -> ceil(2.857) = 3
        (10, 300, 200, 15),  # 300 req/s a pod against 200 -> ceil(15.0) = 15
        (3, 76, 70, 3),  # ratio 1.0857: within the 0.1 tolerance, no change
        (3, 78, 70, 4),  # ratio 1.1143: outside it -> ceil(3.343) = 4
        (10, 64, 70, 10),  # ratio 0.9143: within the tolerance
        (10, 62, 70, 9),  # ratio 0.8857 -> ceil(8.857) = 9
        (3, 7, 70, 1),  # ratio 0.1 -> ceil(0.3) = 1; min/max are applied later
    ],
)
def test_replicas_for_one_metric(
    hpa: ModuleType, current: int, value: float, target: float, expected: int
) -> None:
    assert hpa.replicas_for_metric(current, current, 0, value, target, 0.1) == expected


def test_pods_still_starting_count_as_zero_on_a_scale_up(hpa: ModuleType) -> None:
    # 6 replicas, 3 ready at 140 % against 70 %: with the 3 starting at 0 the ratio is
    # (3 x 140) / (6 x 70) = 1.0 -> within the tolerance: no more pods asked for.
    assert hpa.replicas_for_metric(6, 3, 3, 140, 70) == 6
    # At 210 %: (3 x 210) / (6 x 70) = 1.5 -> ceil(1.5 x 6) = 9.
    assert hpa.replicas_for_metric(6, 3, 3, 210, 70) == 9
    # Scale-down with pods starting: they are left out: ceil(3 x 35 / 70) = 2.
    assert hpa.replicas_for_metric(6, 3, 3, 35, 70) == 2
    # No ready pod, no metrics: the count stays.
    assert hpa.replicas_for_metric(4, 0, 4, 0, 70) == 4


# --- rate policies ------------------------------------------------------------------------


def test_scale_up_limit_picks_the_larger_policy(hpa: ModuleType) -> None:
    up = hpa.DEFAULT_UP  # Max of 100 % and 4 pods per 15 s
    assert hpa.rate_limit(3, up, [], [], 0, True) == 7  # max(3 + 4, ceil(3 x 2) = 6)
    assert hpa.rate_limit(10, up, [], [], 0, True) == 20  # max(14, 20)
    # 4 pods were added at t=0: until t=15 the period starts at 7 - 4 = 3 -> still 7.
    assert hpa.rate_limit(7, up, [(0, 4)], [], 10, True) == 7
    # At t=15 that event is out of the period (strictly after now - 15): max(11, 14).
    assert hpa.rate_limit(7, up, [(0, 4)], [], 15, True) == 14
    slow = hpa.Rules(0, "Min", up.policies)  # Min: the smaller of the two
    assert hpa.rate_limit(10, slow, [], [], 0, True) == 14


def test_scale_down_limit_truncates_the_percentage(hpa: ModuleType) -> None:
    policies = (hpa.Policy("Percent", 20, 60), hpa.Policy("Pods", 1, 60))
    down = hpa.Rules(300, "Max", policies)
    assert hpa.rate_limit(10, down, [], [], 0, False) == 8  # min(int(8.0), 9)
    assert hpa.rate_limit(4, down, [], [], 0, False) == 3  # min(int(3.2) = 3, 3)
    # 2 pods removed at t=0: the period started at 10 -> still 8 until t=60.
    assert hpa.rate_limit(8, down, [], [(0, 2)], 30, False) == 8
    assert hpa.rate_limit(8, hpa.Rules(300, "Disabled", policies), [], [], 0, False) == 8


# --- the controller: stabilization, rate, min/max ----------------------------------------


def test_scale_up_is_rate_limited_then_bounded_by_max(hpa: ModuleType) -> None:
    controller = hpa.Controller(hpa.HpaSpec())  # min 3, max 10, default behavior
    assert controller.decide(0, 3, 20) == (7, "ScaleUpLimit")  # 3 + 4 pods per 15 s
    assert controller.decide(15, 7, 20) == (10, "TooManyReplicas")  # max(11, 14) > max 10
    assert controller.decide(30, 10, 20) == (10, "TooManyReplicas")  # at max: stays


def test_scale_down_waits_for_the_stabilization_window(hpa: ModuleType) -> None:
    controller = hpa.Controller(hpa.HpaSpec())  # scale-down window 300 s, 100 % / 15 s
    assert controller.decide(0, 10, 10) == (10, "DesiredWithinRange")
    for now in range(15, 300, 15):  # the recommendation of t=0 (10) is still in the window
        assert controller.decide(now, 10, 4) == (10, "ScaleDownStabilized")
    # At t=300 it is not (only recommendations strictly after now - 300 count): down to 4.
    assert controller.decide(300, 10, 4) == (4, "DesiredWithinRange")


def test_min_replicas_bound(hpa: ModuleType) -> None:
    controller = hpa.Controller(hpa.HpaSpec(down=hpa.Rules(0, "Max", hpa.DEFAULT_DOWN.policies)))
    assert controller.decide(0, 5, 1) == (3, "TooFewReplicas")
    assert controller.decide(15, 2, 2) == (3, "TooFewReplicas")  # below min: raised at once


# --- manifests ------------------------------------------------------------------------------

HPA_YAML = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: chemagent}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: chemagent}
  minReplicas: 4
  maxReplicas: 12
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
    - type: Pods
      pods:
        metric: {name: chemagent_http_requests_per_second}
        target: {type: AverageValue, averageValue: 1500m}
    - type: Resource
      resource: {name: memory, target: {type: Utilization, averageUtilization: 80}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
      policies: [{type: Pods, value: 2, periodSeconds: 30}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: chemagent}
spec:
  template:
    spec:
      containers:
        - name: chemagent
          command: [chemagent, serve]
          args: [--port, "8000", --workers, "3"]
          resources: {requests: {cpu: 1500m}, limits: {cpu: "3"}}
"""


def test_manifest_read(sim: ModuleType, hpa: ModuleType, tmp_path: Path) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(HPA_YAML)
    spec, pod, notes = sim.load_manifests(manifest)
    assert (spec.min_replicas, spec.max_replicas) == (4, 12)
    assert [(m.kind, m.target) for m in spec.metrics] == [("cpu", 60.0), ("rps", 1.5)]
    assert spec.up == hpa.DEFAULT_UP  # no scaleUp block: Kubernetes' defaults
    assert spec.down == hpa.Rules(120, "Max", (hpa.Policy("Pods", 2, 30),))
    assert (pod.cpu_request, pod.cpu_limit, pod.workers) == (1.5, 3.0, 3)
    assert any("memory" in note for note in notes)  # said, not silently dropped


def test_flags_override_the_manifest(sim: ModuleType, tmp_path: Path) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(HPA_YAML)
    args = sim.parse_args(["--manifest", str(manifest), "--max-replicas", "40", "--workers", "4"])
    spec, pod, _ = sim.configure(args)
    assert (spec.min_replicas, spec.max_replicas, pod.workers) == (4, 40, 4)


# --- the simulation ------------------------------------------------------------------------


def test_constant_overload_scales_up_and_pods_start_late(sim: ModuleType, hpa: ModuleType) -> None:
    # 600 req/s on 3 pods of 100 req/s each (1 worker, 10 ms a request); target 100 req/s
    # a pod. First sync (t=15): 200 a pod -> ceil(3 x 2) = 6, within the rate limit (7).
    spec = hpa.HpaSpec(metrics=(hpa.Metric("rps", 100.0, "rps"),))
    pod = sim.PodModel(cpu_request=1.0, cpu_limit=1.0, workers=1, cpu_ms_per_request=10.0)
    flat = sim.Ramp(600, 600, 1, 0, 0, 1)  # 2 minutes at 600 req/s
    rows = sim.simulate(spec, pod, flat, sync=15, startup=30, window=15)
    assert (rows[14].replicas, rows[14].unserved) == (3, 300)  # 600 - 3 x 100
    assert (rows[15].replicas, rows[15].ready, rows[15].proposal) == (6, 3, 6)
    assert (rows[44].ready, rows[45].ready) == (3, 6)  # ready 30 s after the decision
    assert rows[45].unserved == 0
    assert rows[-1].replicas == 6  # 100 a pod: on target


def test_ramp_shape(sim: ModuleType) -> None:
    ramp = sim.Ramp(200, 3000, 2, 10, 10, 15)
    assert ramp.seconds == 60 * 47
    assert [ramp.rps(t) for t in (0, 120, 420, 720, 1320, 1620, 1920)] == [
        200, 200, 1600, 3000, 3000, 1600, 200,
    ]  # fmt: skip


def test_scaling_doc_shows_the_current_output(sim: ModuleType) -> None:
    """docs/SCALING.md quotes hpa_sim's output for the prod overlay: rerun, compare."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is needed to render kubernetes/overlays/prod")
    text = SCALING_DOC.read_text()
    found = re.search(
        r"<!-- hpa-sim: (?P<args>.*?) -->\n```text\n(?P<out>.*?)```", text, flags=re.DOTALL
    )
    assert found, "docs/SCALING.md has no <!-- hpa-sim: ARGS --> block"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert sim.main(found["args"].split()) == 0
    assert out.getvalue() == found["out"], (
        "docs/SCALING.md's simulation is stale; rerun "
        f"`.venv/bin/python scripts/hpa_sim.py {found['args']}` and paste its output"
    )
