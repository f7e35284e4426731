{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "modelfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------------- */}}

{{- define "modelfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modelfleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "modelfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: modelfleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The CRD is shared by every release in the cluster, so it carries no release-specific label:
     a plain `kubectl apply --server-side` of manifests/install.yaml over a Helm-installed CRD then
     sets the same values and raises no field-manager conflict. */}}
{{- define "modelfleet.crdMetadata" -}}
labels:
  app.kubernetes.io/name: {{ include "modelfleet.name" . }}
  app.kubernetes.io/part-of: modelfleet
  app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if .Values.crds.keep }}
annotations:
  # Uninstalling the release must not delete every ModelDeployment in the cluster.
  helm.sh/resource-policy: keep
  # The same for Argo CD, which ignores Helm's resource policy.
  argocd.argoproj.io/sync-options: Delete=false,Prune=false
{{- end }}
{{- end }}

{{/* Image ------------------------------------------------------------------------------------ */}}

{{- define "modelfleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Operator configuration (the keys of operator/modelfleet/reconcile/config.py) -------------- */}}

{{- define "modelfleet.operatorConfig" -}}
{{- $config := deepCopy .Values.config }}
{{- $_ := set $config "namespaces" .Values.watchNamespaces }}
{{- $_ := set $config "metrics" (dict "address" "0.0.0.0" "port" (ternary (int .Values.metrics.port) 0 .Values.metrics.enabled)) }}
{{- if not .Values.gatewayApi.enabled }}
{{- $_ := set $config "gatewayApi" false }}
{{- end }}
{{- if not .Values.leaderWorkerSet.enabled }}
{{- $_ := set $config "leaderWorkerSet" false }}
{{- end }}
{{- if not .Values.keda.enabled }}
{{- $_ := set $config "keda" false }}
{{- end }}
{{- $_ := set $config.leaderElection "leaseName" (include "modelfleet.fullname" .) }}
{{- $_ := set $config.leaderElection "leaseNamespace" .Release.Namespace }}
{{- if not $config.cache.fetchImage }}
{{- $_ := set $config.cache "fetchImage" (include "modelfleet.image" .) }}
{{- end }}
{{- if not $config.cache.storageClassName }}
{{- $_ := unset $config.cache "storageClassName" }}
{{- end }}
{{- if not $config.cache.hfEndpoint }}
{{- $_ := unset $config.cache "hfEndpoint" }}
{{- end }}
{{- if not $config.prometheus.url }}
{{- $_ := unset $config.prometheus "url" }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* RBAC: one definition of each rule set, used by the ClusterRole (every namespace) or by a Role
     per watched namespace. docs/install.md explains every line. ------------------------------ */}}

{{- define "modelfleet.namespacedRules" -}}
- apiGroups: [modelfleet.io]
  resources: [modeldeployments]
  verbs: [list, watch, patch]
- apiGroups: [modelfleet.io]
  resources: [modeldeployments/status]
  verbs: [patch]
- apiGroups: [modelfleet.io]
  resources: [modeldeployments/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, patch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, patch]
{{- if .Values.config.modelDiscovery.enabled }}
# The Hub token the engine pods use (spec.model.source.huggingface.tokenSecretRef), read by name to
# fetch a gated model's config.json: get only, never list or watch.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch, create, patch, delete]
{{- if .Values.gatewayApi.enabled }}
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [list, watch, create, patch, delete]
{{- end }}
{{- if .Values.leaderWorkerSet.enabled }}
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [list, watch, create, patch, delete]
{{- end }}
{{- if .Values.keda.enabled }}
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [list, watch, create, patch, delete]
{{- end }}
{{- end }}

{{- define "modelfleet.clusterRules" -}}
- apiGroups: [""]
  resources: [nodes]
  verbs: [list, watch]
{{- $crds := list }}
{{- if .Values.gatewayApi.enabled }}
{{- $crds = append $crds "httproutes.gateway.networking.k8s.io" }}
{{- end }}
{{- if .Values.leaderWorkerSet.enabled }}
{{- $crds = append $crds "leaderworkersets.leaderworkerset.x-k8s.io" }}
{{- end }}
{{- if .Values.keda.enabled }}
{{- $crds = append $crds "scaledobjects.keda.sh" }}
{{- end }}
{{- /* Never emit an empty resourceNames: RBAC reads it as "every name". */}}
{{- if $crds }}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get]
  resourceNames: {{ toJson $crds }}
{{- end }}
{{- end }}
