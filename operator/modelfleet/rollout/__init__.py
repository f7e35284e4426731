"""Pure rollout state machine: (status, observations, now) -> (status, actions). No Kubernetes here."""

from modelfleet.rollout.machine import step
from modelfleet.rollout.types import Event, RevisionState, RolloutDecision, RolloutInput

__all__ = ["Event", "RevisionState", "RolloutDecision", "RolloutInput", "step"]
