-- Promote the canary now: the remaining steps are skipped.
-- The operator acts on the annotation once and removes it, so a stale one never fires later.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelfleet.io/action"] = "promote"
return obj
