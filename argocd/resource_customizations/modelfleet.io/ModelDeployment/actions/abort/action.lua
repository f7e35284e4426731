-- Abort the canary: its weight goes to 0, then it scales down; the stable keeps serving.
-- The operator acts on the annotation once and removes it, so a stale one never fires later.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelfleet.io/action"] = "abort"
return obj
