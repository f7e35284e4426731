"""Which Events a pass posts: one per meaningful transition, not one per condition (pure).

A pass can move several conditions at once for one cause: a first revision becoming Ready turns
Ready True and Progressing ``RolloutComplete`` together, a scale-up turns Ready False and Progressing
``Scaling``. Kubernetes' own controllers say such a change once (a Deployment posts one
``ScalingReplicaSet``, not one per condition), so a pass posts:

- the rollout machine's Events (a step, an abort, a promotion, ``RolloutComplete``): they say what
  happened in the rollout's words, so a Normal condition change in the same pass only restates them;
- otherwise the first Normal condition transition (in the order Ready, Progressing, Degraded,
  Schedulable, LicenseAccepted: the one a user reads first);
- every Warning, once per reason and message: a problem is never folded into something else.

Repeats of one Event (the same reason and message on one object) are not posted again but counted on
the first one, by the Event sink (:mod:`modelfleet.reconcile.events`).
"""

from __future__ import annotations

from collections.abc import Iterable

from modelfleet.rollout.types import Event


def pass_events(machine: Iterable[Event], transitions: Iterable[Event]) -> list[Event]:
    """The Events of one pass, from the machine's and the conditions' (see the module docstring).

    >>> complete = Event("Normal", "RolloutComplete", "revision r is stable: 1/1 replicas ready")
    >>> ready = Event("Normal", "ReplicasReady", "1/1 replicas of revision r ready")
    >>> [e.reason for e in pass_events([complete], [ready])]
    ['RolloutComplete']
    >>> scaling = Event("Normal", "Scaling", "revision r scales to 2 replicas: 1/2 ready")
    >>> [e.reason for e in pass_events([], [ready, scaling])]
    ['ReplicasReady']
    >>> lost = Event("Warning", "ReplicasNotReady", "1/2 replicas of revision r ready")
    >>> [e.reason for e in pass_events([complete], [lost, scaling])]
    ['RolloutComplete', 'ReplicasNotReady']
    """
    said = list(machine)
    reasons = {event.reason for event in said}
    quiet = bool(said)  # a Normal condition change restates what the machine said
    for event in transitions:
        if event.reason in reasons:
            continue
        if event.type == "Normal":
            if quiet:
                continue
            quiet = True
        said.append(event)
        reasons.add(event.reason)
    return said
