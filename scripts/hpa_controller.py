"""The Kubernetes HorizontalPodAutoscaler's decision (autoscaling/v2), as
kube-controller-manager computes it (pkg/controller/podautoscaler: replica_calculator.go,
horizontal.go), for scripts/hpa_sim.py and its tests.

Each sync (every 15 s):

1. Per metric, ``desired = ceil(ready_pods x value / target)``, where ``value`` is the
   mean over the ready pods; no change while ``|value / target - 1| <= tolerance`` (0.1).
   On a scale-up, pods that are not ready yet count as using 0 (so pods already asked for
   are not asked for again); on a scale-down they are left out.
2. The largest proposal over the metrics wins.
3. Stabilization: the result is held between the lowest recommendation of the scale-up
   window and the highest of the scale-down window (``stabilizationWindowSeconds``).
4. Rate: the ``policies`` bound the change per ``periodSeconds`` (``selectPolicy`` Max:
   the policy allowing the largest change; Min: the smallest; Disabled: none), counted
   from the replicas at the start of each period; then ``minReplicas``/``maxReplicas``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    kind: str  # "Pods" or "Percent"
    value: int
    period_seconds: int


@dataclass(frozen=True)
class Rules:
    """One direction of ``spec.behavior`` (scaleUp or scaleDown)."""

    window_seconds: int
    select: str  # "Max", "Min" or "Disabled"
    policies: tuple[Policy, ...]


# Kubernetes' defaults for an HPA without (part of) a behavior block.
DEFAULT_UP = Rules(0, "Max", (Policy("Percent", 100, 15), Policy("Pods", 4, 15)))
DEFAULT_DOWN = Rules(300, "Max", (Policy("Percent", 100, 15),))


@dataclass(frozen=True)
class Metric:
    kind: str  # "cpu": utilization % of the request; "rps": requests/s a pod
    target: float
    name: str = ""


@dataclass(frozen=True)
class HpaSpec:
    min_replicas: int = 3
    max_replicas: int = 10
    metrics: tuple[Metric, ...] = (Metric("cpu", 70.0, "cpu"), Metric("rps", 200.0, "rps"))
    up: Rules = DEFAULT_UP
    down: Rules = DEFAULT_DOWN
    tolerance: float = 0.1


def replicas_for_metric(
    current: int, ready: int, unready: int, value: float, target: float, tolerance: float = 0.1
) -> int:
    """One metric's proposal (replica_calculator.go), ``value`` = mean over ready pods."""
    if ready == 0:
        return current  # no metrics: the HPA keeps the count
    ratio = value / target
    if not (unready and ratio > 1):
        if abs(1 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    # Scale-up with pods not ready yet: they count as using 0, so the new pods are not
    # asked for again while they start.
    new_ratio = value * ready / (target * (ready + unready))
    if abs(1 - new_ratio) <= tolerance or new_ratio < 1:
        return current
    return max(current, math.ceil(new_ratio * (ready + unready)))


Events = list[tuple[float, int]]  # (time, pods added or removed)


def rate_limit(current: int, rules: Rules, ups: Events, downs: Events, now: float, up: bool) -> int:
    """The most (``up``) or fewest replicas the rate policies allow now
    (calculateScaleUpLimitWithScalingRules, calculateScaleDownLimitWithBehaviors)."""
    if rules.select == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:  # replicas at the start of the policy's period
        start = current - sum(n for at, n in ups if at > now - policy.period_seconds)
        start += sum(n for at, n in downs if at > now - policy.period_seconds)
        if policy.kind == "Pods":
            proposals.append(start + policy.value if up else start - policy.value)
        elif up:  # rounded up, or a small percentage would never add a pod
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
        else:  # Go's int32() truncates
            proposals.append(int(start * (1 - policy.value / 100)))
    # Max (the default) selects the policy allowing the largest change; Min the smallest.
    return (max if (rules.select == "Min") != up else min)(proposals)


@dataclass
class Controller:
    """The HPA's memory between syncs: past recommendations and scale events."""

    spec: HpaSpec
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    ups: Events = field(default_factory=list)  # (time, pods added)
    downs: Events = field(default_factory=list)  # (time, pods removed)

    def decide(self, now: float, current: int, proposal: int) -> tuple[int, str]:
        """The new replica count and why, from the metrics' largest ``proposal``."""
        spec = self.spec
        if current > spec.max_replicas:
            return self._record(now, current, spec.max_replicas, "TooManyReplicas")
        if current < spec.min_replicas:
            return self._record(now, current, spec.min_replicas, "TooFewReplicas")
        up_cut, down_cut = now - spec.up.window_seconds, now - spec.down.window_seconds
        up_rec = min([proposal] + [r for at, r in self.recommendations if at > up_cut])
        down_rec = max([proposal] + [r for at, r in self.recommendations if at > down_cut])
        keep = max(spec.up.window_seconds, spec.down.window_seconds)
        self.recommendations = [(at, r) for at, r in self.recommendations if at >= now - keep]
        self.recommendations.append((now, proposal))
        desired = min(max(current, up_rec), down_rec)
        reason = "DesiredWithinRange"
        if desired != proposal:
            reason = "ScaleUpStabilized" if proposal > current else "ScaleDownStabilized"
        if desired > current:
            limit = max(current, rate_limit(current, spec.up, self.ups, self.downs, now, True))
            if desired > min(spec.max_replicas, limit):
                reason = "ScaleUpLimit" if limit < spec.max_replicas else "TooManyReplicas"
                desired = min(spec.max_replicas, limit)
        elif desired < current:
            limit = min(current, rate_limit(current, spec.down, self.ups, self.downs, now, False))
            if desired < max(spec.min_replicas, limit):
                reason = "ScaleDownLimit" if limit > spec.min_replicas else "TooFewReplicas"
                desired = max(spec.min_replicas, limit)
        return self._record(now, current, desired, reason)

    def _record(self, now: float, current: int, desired: int, reason: str) -> tuple[int, str]:
        if desired > current:
            self.ups.append((now, desired - current))
        elif desired < current:
            self.downs.append((now, current - desired))
        return desired, reason
