-- Argo CD resource actions of a ModelDeployment. Each action sets the modelfleet.io/action
-- annotation; the operator acts on it once and removes it (docs/rollout.md, "Manual control").
-- An action is offered only where the operator would act on it (operator/modelfleet/rollout/actions.py).
local actions = {}
local status = obj.status
if status == nil then
  status = {}
end
local rollout = status.rollout
if rollout == nil then
  rollout = {}
end

local canary = status.revisions ~= nil and status.revisions.canary ~= nil
local aborted = rollout.abortReason ~= nil
local paused = rollout.pausedAt ~= nil or status.phase == "Paused"

actions["promote"] = {["disabled"] = not canary or aborted}
actions["abort"] = {["disabled"] = not canary or aborted}
actions["pause"] = {["disabled"] = not canary or aborted or paused}
actions["resume"] = {["disabled"] = not paused or aborted}
actions["retry"] = {["disabled"] = not aborted}
return actions
