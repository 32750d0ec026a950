#!/usr/bin/env python3
"""Simulate the Kubernetes HorizontalPodAutoscaler (autoscaling/v2) scaling ChemAgent
through a traffic ramp, second by second, with the pod capacity measured in
docs/SCALING.md.

    .venv/bin/python scripts/hpa_sim.py                      # the prod overlay's HPA
    .venv/bin/python scripts/hpa_sim.py --peak-rps 10000 --max-replicas 40
    .venv/bin/python scripts/hpa_sim.py --no-manifest        # the documented defaults

The HPA's parameters come from the prod overlay (``kubectl kustomize
kubernetes/overlays/prod``: the HorizontalPodAutoscaler and the Deployment it scales, for
the CPU request/limit and ``--workers``), so the document and the manifest cannot drift;
without an overlay, from the flags (defaults: min 3, max 10, CPU 70 %, 200 req/s a pod,
scale up by 100 % or 4 pods per 15 s, scale down after a 300 s stabilization window). A
flag given explicitly overrides the manifest.

The controller's decision is in scripts/hpa_controller.py (kube-controller-manager's
algorithm: per metric ``desired = ceil(ready_pods x value / target)``, tolerance 0.1,
stabilization windows, rate policies, min/max replicas). It decides every 15 s.

The model around it, stated so it can be argued with: requests spread evenly over the
ready pods; a pod serves at most ``min(workers, CPU limit) / CPU seconds per request``
req/s (the rest is lost or queued: "unserved"); its CPU use is what it serves times the
CPU per request; the HPA sees each metric averaged over the last ``--metric-window``
seconds (metrics-server's and the adapter's rate window); a new pod is ready
``--startup-seconds`` after the HPA creates it.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hpa_controller import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    Controller,
    HpaSpec,
    Metric,
    Policy,
    Rules,
    replicas_for_metric,
)

ROOT = Path(__file__).resolve().parents[1]
PROD_OVERLAY = ROOT / "kubernetes" / "overlays" / "prod"
# Measured (docs/SCALING.md, "Capacity per worker"): CPU per request of the default mix
# (80 % cached lookups, 20 % plain-English queries) at a 90 % step-cache hit ratio.
CPU_MS_PER_REQUEST = 1.4


@dataclass(frozen=True)
class PodModel:
    cpu_request: float = 1.0  # cores
    cpu_limit: float | None = 2.0
    workers: int = 2
    cpu_ms_per_request: float = CPU_MS_PER_REQUEST

    @property
    def capacity_rps(self) -> float:
        """Most req/s one pod serves: each worker is one process, at most one core."""
        cores = min(self.workers, self.cpu_limit or self.workers)
        return cores * 1000.0 / self.cpu_ms_per_request


# --- reading the manifests -------------------------------------------------------------


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number: "1", "500m", "2k", 1.5."""
    text = str(value).strip()
    scale = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


def _rules(block: dict[str, Any] | None, default: Rules) -> Rules:
    block = block or {}
    policies = tuple(
        Policy(p["type"], int(p["value"]), int(p["periodSeconds"]))
        for p in block.get("policies") or ()
    )
    return Rules(
        int(block.get("stabilizationWindowSeconds", default.window_seconds)),
        block.get("selectPolicy", default.select),
        policies or default.policies,
    )


def spec_from_hpa(hpa: dict[str, Any]) -> tuple[HpaSpec, list[str]]:
    """An HpaSpec from a HorizontalPodAutoscaler object, and notes on what was left out."""
    spec, notes, metrics = hpa["spec"], [], []
    for entry in spec.get("metrics") or ():
        kind = entry["type"]
        source = entry.get("resource") or entry.get("containerResource") or entry.get("pods") or {}
        target = source.get("target", {})
        if kind in ("Resource", "ContainerResource") and source.get("name") == "cpu":
            if target.get("type") == "Utilization":
                metrics.append(Metric("cpu", float(target["averageUtilization"]), "cpu"))
                continue
        elif kind == "Pods" and target.get("type") == "AverageValue":
            name = source["metric"]["name"]  # read as requests per second a pod
            metrics.append(Metric("rps", quantity(target["averageValue"]), name))
            continue
        notes.append(f"metric not simulated (only CPU utilization and per-pod rates): {entry}")
    behavior = spec.get("behavior") or {}
    hpa_spec = HpaSpec(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        metrics=tuple(metrics),
        up=_rules(behavior.get("scaleUp"), DEFAULT_UP),
        down=_rules(behavior.get("scaleDown"), DEFAULT_DOWN),
    )
    return hpa_spec, notes


def pod_from_deployment(deployment: dict[str, Any], base: PodModel) -> PodModel:
    """CPU request/limit and ``--workers`` of the Deployment's first container."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    resources = container.get("resources") or {}
    request = (resources.get("requests") or {}).get("cpu")
    limit = (resources.get("limits") or {}).get("cpu")
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else base.workers
    return replace(
        base,
        cpu_request=quantity(request) if request is not None else base.cpu_request,
        cpu_limit=quantity(limit) if limit is not None else None,
        workers=workers,
    )


def load_manifests(path: Path) -> tuple[HpaSpec, PodModel, list[str]]:
    """Read the HPA (and its Deployment) from a kustomize directory or a YAML file."""
    import yaml  # pyyaml: the project's dev extra; only needed here

    if path.is_dir():
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise SystemExit(f"hpa_sim: kubectl is needed to render {path} (or: --no-manifest)")
        run = subprocess.run(
            [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
        )
        if run.returncode != 0:
            raise SystemExit(f"hpa_sim: kubectl kustomize {path} failed:\n{run.stderr}")
        text = run.stdout
    else:
        text = path.read_text()
    objects = [o for o in yaml.safe_load_all(text) if isinstance(o, dict)]
    hpas = [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"]
    if len(hpas) != 1:
        raise SystemExit(f"hpa_sim: want one HorizontalPodAutoscaler in {path}, got {len(hpas)}")
    spec, notes = spec_from_hpa(hpas[0])
    target = hpas[0]["spec"]["scaleTargetRef"]["name"]
    pod = PodModel()
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == target:
            pod = pod_from_deployment(obj, pod)
            break
    else:
        notes.append(f"Deployment {target} not in {path}: pod resources from the flags")
    return spec, pod, notes


# --- the simulation --------------------------------------------------------------------


@dataclass(frozen=True)
class Ramp:
    base_rps: float = 200
    peak_rps: float = 3000
    lead_minutes: float = 2
    ramp_minutes: float = 10
    hold_minutes: float = 10
    tail_minutes: float = 15

    @property
    def seconds(self) -> int:
        return round(
            60 * (self.lead_minutes + 2 * self.ramp_minutes + self.hold_minutes + self.tail_minutes)
        )

    def rps(self, t: float) -> float:
        """Offered load at second ``t``: base, linear up, peak, linear down, base."""
        up = 60 * self.lead_minutes
        top, down = up + 60 * self.ramp_minutes, up + 60 * (self.ramp_minutes + self.hold_minutes)
        end = down + 60 * self.ramp_minutes
        span = self.peak_rps - self.base_rps
        if t < up or t >= end:
            return self.base_rps
        if t < top:
            return self.base_rps + span * (t - up) / (top - up)
        if t < down:
            return self.peak_rps
        return self.peak_rps - span * (t - down) / (end - down)


@dataclass
class Row:
    t: int
    rps: float  # offered
    ready: int
    replicas: int
    per_pod: float  # offered req/s per ready pod
    cpu: float  # % of the CPU request
    proposal: int  # the metrics' largest proposal at the last sync
    reason: str
    unserved: float  # req/s beyond the ready pods' capacity


def simulate(
    spec: HpaSpec, pod: PodModel, ramp: Ramp, sync: int = 15, startup: int = 30, window: int = 60
) -> list[Row]:
    """Run the ramp second by second; the HPA syncs every ``sync`` seconds."""
    ready_at = [-math.inf] * spec.min_replicas  # one entry per pod: when it is (was) ready
    controller = Controller(spec)
    history: deque[tuple[float, float]] = deque(maxlen=max(window, 1))
    rows, proposal, reason = [], spec.min_replicas, "-"
    for t in range(ramp.seconds):
        rps, ready = ramp.rps(t), sum(1 for at in ready_at if at <= t)
        per_pod = rps / ready if ready else 0.0
        cpu = min(per_pod, pod.capacity_rps) * pod.cpu_ms_per_request / 10 / pod.cpu_request
        history.append((per_pod, cpu))
        if t and t % sync == 0:
            seen = {"rps": sum(h[0] for h in history), "cpu": sum(h[1] for h in history)}
            # A pod's metrics count once it has been ready for a whole window: until then
            # the controller treats it as not ready (0 on a scale-up, left out otherwise).
            n, measured = len(ready_at), sum(1 for at in ready_at if at <= t - window)
            proposals = [
                replicas_for_metric(
                    n, measured, n - measured, seen[m.kind] / len(history), m.target, spec.tolerance
                )
                for m in spec.metrics
            ]
            proposal = max(proposals, default=n)
            desired, reason = controller.decide(t, n, proposal)
            # New pods are ready after ``startup``; starting pods go first, then the youngest.
            ready_at = sorted(ready_at + [t + startup] * (desired - n))[:desired]
            ready = sum(1 for at in ready_at if at <= t)
        lost = max(0.0, rps - ready * pod.capacity_rps)
        row = (t, rps, ready, len(ready_at), per_pod, cpu, proposal, reason, lost)
        rows.append(Row(*row))
    return rows


def clock(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def report(rows: list[Row], every: int, max_replicas: int) -> str:
    """A row every ``every`` seconds, then one summary line."""
    lines = [
        "  time   offered  ready/replicas  req/s/pod  CPU %  proposal  reason",
        "  -----  -------  --------------  ---------  -----  --------  ------",
    ]
    for r in rows[::every]:
        lines.append(
            f"  {clock(r.t)}  {r.rps:7.0f}  {r.ready:6d}/{r.replicas:<7d}  {r.per_pod:9.0f}"
            f"  {r.cpu:5.0f}  {r.proposal:8d}  {r.reason}"
        )
    total, lost = sum(r.rps for r in rows), sum(r.unserved for r in rows)
    short = [r.t for r in rows if r.unserved > 0]
    capped = [r for r in rows if r.proposal > max_replicas]
    peak = max(rows, key=lambda r: r.replicas)
    lines.append(
        f"summary: peak {peak.replicas} replicas (first at {clock(peak.t)}); CPU at most "
        f"{max(r.cpu for r in rows):.0f} % of the request; over capacity "
        f"{len(short)} s{f' (from {clock(short[0])})' if short else ''}, unserved "
        f"{100 * lost / total:.2f} % of {total:,.0f} requests; proposal above maxReplicas "
        f"{len(capped)} s{f' (up to {max(r.proposal for r in capped)})' if capped else ''}; "
        f"final {rows[-1].replicas} replicas"
    )
    return "\n".join(lines)


def describe(spec: HpaSpec, pod: PodModel, ramp: Ramp, args: argparse.Namespace) -> str:
    def rules(r: Rules) -> str:
        unit = {"Percent": "%", "Pods": " pods"}
        policies = ", ".join(f"{p.value}{unit[p.kind]}/{p.period_seconds}s" for p in r.policies)
        return f"window {r.window_seconds} s, {r.select} of [{policies}]"

    targets = ", ".join(f"{m.name} {m.target:g}" for m in spec.metrics)
    return (
        f"HPA: min {spec.min_replicas}, max {spec.max_replicas}; targets {targets}; tolerance "
        f"{spec.tolerance}\n  scale up: {rules(spec.up)}\n  scale down: {rules(spec.down)}\n"
        f"pod: {pod.workers} workers, CPU request {pod.cpu_request:g}, limit {pod.cpu_limit}, "
        f"{pod.cpu_ms_per_request:g} ms CPU a request -> at most {pod.capacity_rps:.0f} req/s; "
        f"ready {args.startup_seconds} s after creation\nHPA: sync every {args.sync_seconds} s, "
        f"metrics averaged over {args.metric_window} s\ntraffic: {ramp.base_rps:g} -> "
        f"{ramp.peak_rps:g} req/s over {ramp.ramp_minutes:g} min, {ramp.hold_minutes:g} min at "
        f"the peak, back over {ramp.ramp_minutes:g} min, {ramp.tail_minutes:g} min after"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--overlay", type=Path, default=PROD_OVERLAY, help="kustomize dir with the HPA")
    add("--manifest", type=Path, help="a YAML file (e.g. rendered) with the HPA instead")
    add("--no-manifest", action="store_true", help="ignore the manifests: flags only")
    # Without a default: given, they override the manifest.
    add("--min-replicas", type=int, help="default 3")
    add("--max-replicas", type=int, help="default 10")
    add("--cpu-target", type=float, help="CPU utilization target, %% of the request (70)")
    add("--rps-target", type=float, help="requests/s a pod target (200)")
    add("--scale-down-window", type=int, help="scale-down stabilization, s (300)")
    add("--cpu-request", type=float, help="cores a pod requests (1)")
    add("--cpu-limit", type=float, help="cores a pod may use (2)")
    add("--workers", type=int, help="gunicorn workers a pod (2)")
    add("--cpu-ms-per-request", type=float, default=CPU_MS_PER_REQUEST, help="measured mix")
    add("--tolerance", type=float, default=0.1, help="the controller's (default 0.1)")
    add("--sync-seconds", type=int, default=15, help="HPA sync period (default 15)")
    add("--startup-seconds", type=int, default=30, help="created -> ready (default 30)")
    add("--metric-window", type=int, default=60, help="metric averaging, s (default 60)")
    for name, default in vars(Ramp()).items():
        add(f"--{name.replace('_', '-')}", type=float, default=default, help=f"default {default}")
    add("--every", type=int, default=60, help="print a row every N seconds (default 60)")
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> tuple[HpaSpec, PodModel, list[str]]:
    """The manifest's HPA and pod (if any), then the flags given on top."""
    spec, pod, notes = HpaSpec(), PodModel(), []
    path = args.manifest or args.overlay
    shown = path.relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    if args.no_manifest:
        notes.append("HPA and pod from the flags and defaults (--no-manifest)")
    elif args.manifest or (path / "kustomization.yaml").exists():
        spec, pod, notes = load_manifests(path)
        notes.insert(0, f"HPA and pod from {shown} (flags given override it)")
    else:
        notes.append(f"no {shown / 'kustomization.yaml'}: HPA and pod from the flags and defaults")
    metrics = {m.kind: m for m in spec.metrics}
    for kind, value in (("cpu", args.cpu_target), ("rps", args.rps_target)):
        if value is not None:
            metrics[kind] = replace(metrics.get(kind, Metric(kind, value, kind)), target=value)
    window = args.scale_down_window
    spec = replace(
        spec,
        min_replicas=args.min_replicas or spec.min_replicas,
        max_replicas=args.max_replicas or spec.max_replicas,
        metrics=tuple(metrics.values()),
        tolerance=args.tolerance,
        down=spec.down if window is None else replace(spec.down, window_seconds=window),
    )
    pod = replace(
        pod,
        cpu_request=args.cpu_request or pod.cpu_request,
        cpu_limit=args.cpu_limit or pod.cpu_limit,
        workers=args.workers or pod.workers,
        cpu_ms_per_request=args.cpu_ms_per_request,
    )
    return spec, pod, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec, pod, notes = configure(args)
    ramp = Ramp(*(getattr(args, name) for name in vars(Ramp())))
    print("\n".join(f"note: {note}" for note in notes))
    print(describe(spec, pod, ramp, args))
    rows = simulate(spec, pod, ramp, args.sync_seconds, args.startup_seconds, args.metric_window)
    print(report(rows, args.every, spec.max_replicas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
