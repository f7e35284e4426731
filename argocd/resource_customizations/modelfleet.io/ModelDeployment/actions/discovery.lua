-- Argo CD resource actions of a ModelDeployment. Each action sets the modelfleet.io/action
-- annotation; the operator acts on it once and removes it (docs/rollout.md, "Manual control").
-- An action is offered only where the operator would act on it (operator/modelfleet/rollout/actions.py).
-- Like health.lua, it checks each field's type before using it, so a malformed status disables
-- actions instead of raising.
local function field(value, key)
  if type(value) ~= "table" then
    return nil
  end
  return value[key]
end

local actions = {}
local status = obj.status
local rollout = field(status, "rollout")
local phase = field(status, "phase")

local canary = field(field(status, "revisions"), "canary") ~= nil
local aborted = field(rollout, "abortReason") ~= nil
local paused = field(rollout, "pausedAt") ~= nil or phase == "Paused"
-- A Failed pass (invalid spec, no plan, licence refused) stops before the rollout and leaves the
-- annotation unacted on, so an action set now could fire later, once the spec is fixed.
local halted = phase == "Failed"

-- Promote skips the remaining steps; once the step index reaches the end of spec.rollout.canary.steps
-- (the API server fills in the default steps), there is nothing left to skip. A RollingUpdate has
-- no steps at all.
local stepsDone = false
local spec = field(obj.spec, "rollout")
local step = tonumber(field(rollout, "step"))
local steps = field(field(spec, "canary"), "steps")
if field(spec, "strategy") == "RollingUpdate" then
  stepsDone = true
elseif step ~= nil and type(steps) == "table" then
  stepsDone = step >= #steps
end

local running = canary and not aborted and not halted
actions["promote"] = {["disabled"] = not running or stepsDone}
actions["abort"] = {["disabled"] = not running}
actions["pause"] = {["disabled"] = not running or paused}
actions["resume"] = {["disabled"] = not paused or aborted or halted}
actions["retry"] = {["disabled"] = not aborted or halted}
return actions
