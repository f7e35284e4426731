-- Argo CD health of a ModelDeployment (modelfleet.io/v1alpha1), from the status the operator writes
-- (operator/modelfleet/api/status.py, phases and conditions in api/conditions.py).
--
--   Healthy      phase Healthy: the stable revision serves with every replica ready
--                and an autoscaled model (status.autoscaling) whose stable revision is adding or
--                removing replicas (Progressing=True, Scaling): scaling with the load is its normal
--                life, not a change Argo CD waits for
--   Progressing  no status yet, a spec newer than the status (generation > observedGeneration),
--                phase Progressing (a rollout), Pending (planning, pods not yet scheduled) or
--                Staging (the weights of the spec's revision are downloading into the cache)
--   Suspended    phase Paused: a canary waits for a promote or resume action
--   Degraded     phase Degraded (fewer ready replicas, an aborted canary) or Failed (invalid spec,
--                no feasible plan, licence refused); a rollout past its progress deadline
--                (Progressing=False, ProgressDeadlineExceeded), as Argo CD says of a Deployment
--   Unknown      a phase this script does not know (a newer operator), or a status it cannot read
--
-- Written for Argo CD's restricted Lua VM (a script from argocd-cm gets only the base, table and a
-- safe os library): no string library, only comparisons and concatenation. A status edited by
-- hand or written by another version may hold any JSON: every field is checked for its type before
-- it is indexed, iterated or concatenated, so the script answers a verdict and never raises.

local function field(value, key)
  if type(value) ~= "table" then
    return nil
  end
  return value[key]
end

local function text(value)
  if type(value) == "string" then
    return value
  end
  return nil
end

local function condition(status, conditionType)
  local conditions = field(status, "conditions")
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if field(c, "type") == conditionType then
      return c
    end
  end
  return nil
end

-- The first message present, in order of preference (select, not ipairs: arguments may be nil).
local function firstMessage(...)
  for i = 1, select("#", ...) do
    local message = text(select(i, ...))
    if message ~= nil and message ~= "" then
      return message
    end
  end
  return ""
end

-- "Reason: message" of the condition when its status is the one wanted and it has a message.
local function conditionMessage(status, conditionType, wanted)
  local c = condition(status, conditionType)
  local message = text(field(c, "message"))
  if field(c, "status") ~= wanted or message == nil or message == "" then
    return nil
  end
  local reason = text(field(c, "reason"))
  if reason == nil or reason == "" then
    return message
  end
  return reason .. ": " .. message
end

-- The autoscaler is moving the stable revision's replicas: nothing is being rolled out.
local function autoscaling(status)
  local c = condition(status, "Progressing")
  return type(field(status, "autoscaling")) == "table"
    and field(c, "status") == "True" and field(c, "reason") == "Scaling"
end

local function deadlineExceeded(status)
  local c = condition(status, "Progressing")
  return field(c, "status") == "False" and field(c, "reason") == "ProgressDeadlineExceeded"
end

local hs = {}
local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the ModelDeployment"
  return hs
end
if type(status) ~= "table" then
  hs.status = "Unknown"
  hs.message = "status is not an object; the operator rewrites it on its next pass"
  return hs
end
local phase = status.phase
if phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the ModelDeployment"
  return hs
end

-- Numbers may arrive as strings (Argo CD decodes json.Number that way): compare them as numbers.
-- tonumber gives nil for anything that is not a number or a numeric string.
local generation = tonumber(field(obj.metadata, "generation"))
local observed = tonumber(status.observedGeneration)
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  if observed ~= nil then
    hs.message = hs.message .. " (status is from generation " .. observed .. ")"
  end
  return hs
end

if type(phase) ~= "string" then
  hs.status = "Unknown"
  hs.message = "status.phase is not a string; the operator rewrites it on its next pass"
  return hs
end
local rolloutMessage = field(status.rollout, "message")

if (phase == "Progressing" or phase == "Pending") and deadlineExceeded(status) then
  -- A first deploy keeps trying, and a canary with abortOnDeadline: false keeps its step, but
  -- neither is making progress: Argo CD calls a Deployment with this condition Degraded
  -- (https://github.com/argoproj/gitops-engine/blob/master/pkg/health/health_deployment.go).
  hs.status = "Degraded"
  hs.message = firstMessage(conditionMessage(status, "Progressing", "False"), rolloutMessage, status.message)
elseif phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = firstMessage(status.message, conditionMessage(status, "Ready", "True"))
elseif phase == "Progressing" and autoscaling(status) then
  hs.status = "Healthy"
  hs.message = firstMessage(conditionMessage(status, "Progressing", "True"), status.message)
elseif phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = firstMessage(rolloutMessage, status.message)
elseif phase == "Staging" then
  local staging = field(status, "staging")
  hs.status = "Progressing"
  hs.message = firstMessage(field(staging, "message"), status.message)
  local progress = text(field(staging, "progress"))
  if progress ~= nil and hs.message ~= "" then
    hs.message = progress .. ": " .. hs.message
  end
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
