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
