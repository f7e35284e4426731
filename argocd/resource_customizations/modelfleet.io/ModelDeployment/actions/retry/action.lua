-- Restart an aborted canary at step 0.
-- The operator acts on the annotation once and removes it, so a stale one never fires later.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelfleet.io/action"] = "retry"
return obj
