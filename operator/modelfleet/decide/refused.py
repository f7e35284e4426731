"""A child the API server refuses to store, reported like an invalid spec (pure).

Our schema cannot hold every rule of every child's own validation: a ``tokenSecretRef.name`` with
capitals passes the CRD but makes the Deployment invalid (a Secret name is a DNS subdomain), a
hostname with a space makes the HTTPRoute invalid. Retrying such a write cannot succeed until the
user changes the spec, so the pass ends with a status that says what the API server refused and
why (its own message names the child's field), and a Warning event when that becomes true. The
stored rollout state is kept: the step the decision wanted did not happen.
"""

from __future__ import annotations

from modelfleet.api import ConditionStatus, ConditionType, Phase, Reason
from modelfleet.decide.conditions import ConditionSet
from modelfleet.decide.inputs import Decision, Observed, previous_status
from modelfleet.decide.roll import refused_action

# BadRequest and Invalid (422): the request itself is wrong; Conflict, Forbidden, 5xx are not the spec's fault.
REFUSED_STATUSES = frozenset({400, 422})
RULED = (ConditionType.READY, ConditionType.PROGRESSING, ConditionType.DEGRADED)


def refused_decision(obs: Observed, decision: Decision, refusal: str) -> Decision:
    """The decision to write instead of `decision` when the API server refused one of its children.

    Conditions the pass computed (Schedulable, LicenseAccepted) stand; Ready, Progressing and
    Degraded say InvalidSpec with the API server's words. Nothing is applied, scaled or deleted, and
    an action annotation is refused (removed, with a Warning), as in any pass that stops on the spec.
    """
    previous = previous_status(obs.status)
    conditions = ConditionSet.from_status(previous.conditions, obs.generation, obs.now)
    for raw in decision.status.get("conditions") or []:
        type_ = ConditionType(str(raw["type"]))
        if type_ not in RULED:
            conditions.set(
                type_,
                ConditionStatus(str(raw["status"])),
                str(raw.get("reason", "")),
                str(raw.get("message", "")),
            )
    message = (
        f"the API server refused an object rendered from this spec: {refusal}; "
        f"change the spec field that sets the value it names"
    )
    conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
    conditions.set(ConditionType.PROGRESSING, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
    conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, message)
    status = dict(decision.status)
    status.update(
        {"phase": Phase.FAILED.value, "conditions": conditions.to_list(), "message": message[:1000]}
    )
    for key in ("revisions", "rollout"):
        kept = getattr(previous, key)
        if kept is None:
            status.pop(key, None)
        else:
            status[key] = kept.model_dump(by_alias=True, exclude_none=True)
    events = conditions.transition_events()
    action_refused = refused_action(obs, message)  # what the pass wanted to do did not happen
    if action_refused is not None:
        events.append(action_refused)
    return Decision(
        status=status, events=events, result="invalid", consumed_action=action_refused is not None
    )
