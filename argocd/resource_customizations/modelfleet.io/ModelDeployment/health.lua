-- Argo CD health of a ModelDeployment (modelfleet.io/v1alpha1), from the status the operator writes
-- (operator/modelfleet/api/status.py, phases and conditions in api/conditions.py).
--
--   Healthy      phase Healthy: the stable revision serves with every replica ready
--   Progressing  no status yet, a spec newer than the status (generation > observedGeneration),
--                phase Progressing (a rollout) or Pending (planning, pods not yet scheduled)
--   Suspended    phase Paused: a canary waits for a promote or resume action
--   Degraded     phase Degraded (fewer ready replicas, an aborted canary) or Failed (invalid spec,
--                no feasible plan, licence refused)
--   Unknown      a phase this script does not know (a newer operator)
--
-- Written for Argo CD's restricted Lua VM (a script from argocd-cm gets only the base, table and a
-- safe os library): no string library, only comparisons and concatenation.

local function condition(status, conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- The first message present, in order of preference (select, not ipairs: arguments may be nil).
local function firstMessage(...)
  for i = 1, select("#", ...) do
    local message = select(i, ...)
    if message ~= nil and message ~= "" then
      return message
    end
  end
  return ""
end

local function conditionMessage(status, conditionType, wanted)
  local c = condition(status, conditionType)
  if c == nil or c.status ~= wanted or c.message == nil or c.message == "" then
    return nil
  end
  if c.reason == nil or c.reason == "" then
    return c.message
  end
  return c.reason .. ": " .. c.message
end

local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the ModelDeployment"
  return hs
end

-- Numbers may arrive as strings (Argo CD decodes json.Number that way): compare them as numbers.
local generation = nil
if obj.metadata ~= nil then
  generation = tonumber(obj.metadata.generation)
end
local observed = tonumber(status.observedGeneration)
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  if observed ~= nil then
    hs.message = hs.message .. " (status is from generation " .. observed .. ")"
  end
  return hs
end

local rolloutMessage = nil
if status.rollout ~= nil then
  rolloutMessage = status.rollout.message
end
local phase = status.phase

if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = firstMessage(status.message, conditionMessage(status, "Ready", "True"))
elseif phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = firstMessage(rolloutMessage, status.message)
elseif phase == "Pending" then
  hs.status = "Progressing"
  hs.message = firstMessage(conditionMessage(status, "Schedulable", "False"), status.message)
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = firstMessage(rolloutMessage, status.message)
elseif phase == "Degraded" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = firstMessage(
    conditionMessage(status, "LicenseAccepted", "False"),
    conditionMessage(status, "Schedulable", "False"),
    conditionMessage(status, "Degraded", "True"),
    status.message)
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. phase .. "; upgrade the Argo CD health check with the operator"
end
if hs.message == "" then
  hs.message = "phase " .. phase
end
return hs
