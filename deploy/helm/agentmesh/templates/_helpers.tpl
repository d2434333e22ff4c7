{{/*
Labels on every object's metadata: the kustomize base's (app.kubernetes.io/part-of) and Helm's
own, which selectors never use (a selector cannot change after install, a chart version can).
*/}}
{{- define "agentmesh.labels" -}}
app.kubernetes.io/part-of: agentmesh
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* A workload's labels, on its objects and its pods: name, component (agent or gateway). */}}
{{- define "agentmesh.workloadLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image reference: as given when it carries a tag or digest, else tagged with appVersion. */}}
{{- define "agentmesh.image" -}}
{{- $last := last (splitList "/" .image) -}}
{{- if or (contains ":" $last) (contains "@" .image) -}}
{{ .image }}
{{- else -}}
{{ printf "%s:%s" .image .root.Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* An agent's settings: agentDefaults overlaid by its own entry, key by key. */}}
{{- define "agentmesh.agent" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.agentDefaults) (deepCopy .agent)) -}}
{{- end }}

{{/* The fewest replicas an agent runs with: the HPA's minimum when it scales the agent. */}}
{{- define "agentmesh.replicaFloor" -}}
{{- if .autoscaling.enabled }}{{ .autoscaling.minReplicas }}{{ else }}{{ .replicas }}{{ end -}}
{{- end }}

{{/* The gateway's mesh file: every agent by its headless Service, resolved to every ready pod. */}}
{{- define "agentmesh.meshFile" -}}
{{- $agents := dict -}}
{{- range $name, $agent := .Values.agents -}}
{{- if $agent -}}
{{- $_ := set $agents $name (dict "addresses" (list (printf "dns:///%s:%v" $name $agent.port))) -}}
{{- end -}}
{{- end -}}
{{- $gateway := dict "host" "[::]" "port" .Values.gateway.port "store" "/var/lib/agentmesh/gateway.db" -}}
{{- toYaml (dict "gateway" $gateway "agents" $agents) -}}
{{- end }}

{{/* The LLM ConfigMap's data: AGENTMESH_LLM and the provider's further settings. */}}
{{- define "agentmesh.llmData" -}}
{{- toYaml (mergeOverwrite (dict "AGENTMESH_LLM" .Values.llm.provider) (deepCopy .Values.llm.settings)) -}}
{{- end }}

{{/*
Generated ConfigMaps are named after their content, as kustomize's configMapGenerator does (its
hash differs, the effect is the same): a change rolls the pods that mount or read them.
*/}}
{{- define "agentmesh.meshName" -}}
gateway-mesh-{{ include "agentmesh.meshFile" . | sha256sum | trunc 10 }}
{{- end }}

{{- define "agentmesh.llmName" -}}
agentmesh-llm-{{ include "agentmesh.llmData" . | sha256sum | trunc 10 }}
{{- end }}

{{/* Where the certificate's files are mounted and what the TLS settings point at. */}}
{{- define "agentmesh.tlsDir" -}}/etc/agentmesh/tls{{- end }}

{{/*
Probes: native gRPC on the serving port, or HTTP on the metrics port (/healthz, /readyz) when the
serving port speaks TLS, which the kubelet's gRPC probes cannot. Arguments: port, service (the
readiness service), startupFailures, tls.
*/}}
{{- define "agentmesh.probes" -}}
{{- if .tls }}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 1
  failureThreshold: {{ .startupFailures }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  failureThreshold: 3
{{- else }}
startupProbe:
  grpc:
    port: {{ .port }}
  periodSeconds: 1
  failureThreshold: {{ .startupFailures }}
readinessProbe:
  grpc:
    port: {{ .port }}
    service: {{ .service }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  grpc:
    port: {{ .port }}
  periodSeconds: 10
  failureThreshold: 3
{{- end }}
{{- end }}

{{/* The pod's and the container's lock-down: non-root, no privilege, read-only root, seccomp. */}}
{{- define "agentmesh.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "agentmesh.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
  - ALL
{{- end }}
