"""Replica and weight maths of a canary, as pure functions.

Two traffic providers realise a weight differently:

* ``gatewayAPI``: the owned HTTPRoute carries exact weights, so the canary's replica count only
  has to carry its share. With ``surge`` the canary runs the full ``desired`` replicas from the
  start (it loads while at weight 0; promotion is then only a weight change). With ``swap`` it runs
  ``ceil(desired x weight / 100)`` replicas (at least 1) and the stable shrinks by as many.
* ``replicas``: the umbrella Service spreads requests over every ready pod, so the weight *is* the
  replica ratio. The canary runs ``round(desired x weight / 100)`` replicas, at least 1 (a canary
  needs a pod to be analysed). With ``surge`` the stable keeps ``desired`` replicas, so the realised
  share is ``canary / (desired + canary)``: coarser than asked, which status.granularity says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelfleet.api import CanaryCapacity, TrafficProvider


def round_half_up(value: float) -> int:
    """Rounding people expect (2.5 -> 3), not Python's banker's rounding (2.5 -> 2)."""
    return math.floor(value + 0.5)


def canary_replicas(
    weight_percent: int, desired_replicas: int, provider: TrafficProvider, capacity: CanaryCapacity
) -> int:
    """Replicas the canary runs to carry ``weight_percent`` of the traffic.

    >>> canary_replicas(10, 4, TrafficProvider.GATEWAY_API, CanaryCapacity.SURGE)
    4
    >>> canary_replicas(10, 4, TrafficProvider.GATEWAY_API, CanaryCapacity.SWAP)
    1
    >>> canary_replicas(50, 4, TrafficProvider.GATEWAY_API, CanaryCapacity.SWAP)
    2
    >>> canary_replicas(10, 4, TrafficProvider.REPLICAS, CanaryCapacity.SURGE)  # 0.4 -> at least 1
    1
    >>> canary_replicas(60, 4, TrafficProvider.REPLICAS, CanaryCapacity.SWAP)  # 2.4 -> 2
    2
    """
    full = max(1, desired_replicas)
    if provider == TrafficProvider.GATEWAY_API:
        if capacity == CanaryCapacity.SURGE:
            return full
        share = math.ceil(full * weight_percent / 100)
    else:
        share = round_half_up(full * weight_percent / 100)
    return min(full, max(1, share))


def swap_stable_replicas(desired_replicas: int, canary_replicas_count: int) -> int:
    """The stable's replicas while the canary borrows its GPUs: never below 1, so it keeps serving.

    >>> swap_stable_replicas(4, 1)
    3
    >>> swap_stable_replicas(2, 2)
    1
    """
    return max(1, desired_replicas - canary_replicas_count)


@dataclass(frozen=True)
class ReplicaSplit:
    stable: int
    canary: int


def split_replicas(
    desired_replicas: int, weight_percent: int, provider: TrafficProvider, capacity: CanaryCapacity
) -> ReplicaSplit:
    """The desired count (``spec.replicas``, the autoscaler's when it scales the model) shared between
    the stable and the canary by the step's weight, as Argo Rollouts shares an HPA's count on a
    Rollout. The split is recomputed from the desired count every pass, and the step index and its
    start time live in status.rollout, so a scale event during a canary resizes both revisions and
    neither restarts nor skips a step.

    An autoscaler takes the model from 4 to 8 replicas while the canary is at 25% (replica ratio):

    >>> split_replicas(4, 25, TrafficProvider.REPLICAS, CanaryCapacity.SWAP)
    ReplicaSplit(stable=3, canary=1)
    >>> split_replicas(8, 25, TrafficProvider.REPLICAS, CanaryCapacity.SWAP)
    ReplicaSplit(stable=6, canary=2)

    With surge the stable keeps the whole desired count; the canary adds its share on top:

    >>> split_replicas(8, 25, TrafficProvider.REPLICAS, CanaryCapacity.SURGE)
    ReplicaSplit(stable=8, canary=2)

    With exact weights on an HTTPRoute and surge, the canary runs the full count from the start:

    >>> split_replicas(8, 25, TrafficProvider.GATEWAY_API, CanaryCapacity.SURGE)
    ReplicaSplit(stable=8, canary=8)

    Scaled to zero mid-canary: the canary keeps one pod to be analysed, the stable one to serve:

    >>> split_replicas(0, 50, TrafficProvider.REPLICAS, CanaryCapacity.SWAP)
    ReplicaSplit(stable=1, canary=1)
    """
    canary = canary_replicas(weight_percent, desired_replicas, provider, capacity)
    if capacity == CanaryCapacity.SURGE:
        return ReplicaSplit(stable=desired_replicas, canary=canary)
    return ReplicaSplit(stable=swap_stable_replicas(desired_replicas, canary), canary=canary)


def realised_weight_percent(canary_ready: int, stable_ready: int) -> int:
    """Share of requests a replica-ratio split sends to the canary.

    >>> realised_weight_percent(1, 4)
    20
    >>> realised_weight_percent(0, 0)
    0
    """
    total = canary_ready + stable_ready
    return 0 if total == 0 else round_half_up(100 * canary_ready / total)


def granularity_text(
    provider: TrafficProvider, desired_replicas: int, granularity_percent: int | None
) -> str | None:
    """What status.granularity says: exact weights, or the step a replica ratio can take.

    >>> granularity_text(TrafficProvider.REPLICAS, 4, None)
    'replica ratio: steps of 25% (weights are approximate)'
    """
    if provider == TrafficProvider.GATEWAY_API:
        return None
    step = granularity_percent or round_half_up(100 / max(1, desired_replicas))
    return f"replica ratio: steps of {step}% (weights are approximate)"
