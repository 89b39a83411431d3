{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "kappaflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Resource name prefix: fullnameOverride, or <release>-<name> (just <release> when it already holds the name).
*/}}
{{- define "kappaflow.fullname" -}}
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

{{- define "kappaflow.operatorName" -}}
{{- printf "%s-operator" (include "kappaflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kappaflow.queryName" -}}
{{- printf "%s-query" (include "kappaflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kappaflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "kappaflow.labels" -}}
helm.sh/chart: {{ include "kappaflow.chart" . }}
app.kubernetes.io/name: {{ include "kappaflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kappaflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "kappaflow.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "kappaflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "kappaflow.querySelectorLabels" -}}
app.kubernetes.io/name: {{ include "kappaflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: query
{{- end }}

{{- define "kappaflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kappaflow.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
image reference: repository:tag or repository@digest.
*/}}
{{- define "kappaflow.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "kappaflow.processorImage" -}}
{{- $repo := default .Values.image.repository .Values.processor.image.repository }}
{{- if .Values.processor.image.tag }}
{{- printf "%s:%s" $repo .Values.processor.image.tag }}
{{- else if and .Values.image.digest (not .Values.processor.image.repository) }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Redis connection string as the processor reads it: redis-cluster://a:1,b:2 or the single-node URL.
*/}}
{{- define "kappaflow.redisUrl" -}}
{{- if .Values.redis.cluster.nodes }}
{{- printf "redis-cluster://%s" (join "," .Values.redis.cluster.nodes) }}
{{- else if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else }}
{{- fail "redis: set redis.url (e.g. redis://redis:6379) or redis.cluster.nodes (e.g. [redis-0:6379])" }}
{{- end }}
{{- end }}

{{- define "kappaflow.leaseName" -}}
{{- default (include "kappaflow.operatorName" .) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{- define "kappaflow.leaderElection" -}}
{{- if or (gt (int .Values.operator.replicas) 1) .Values.operator.leaderElection.enabled }}true{{ else }}false{{ end }}
{{- end }}

{{/*
Settings shared by the operator and query pods: Redis and query auth env.
*/}}
{{- define "kappaflow.redisEnv" -}}
- name: REDIS_URL
  value: {{ include "kappaflow.redisUrl" . | quote }}
{{- if .Values.redis.auth.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.auth.existingSecret }}
      key: {{ .Values.redis.auth.key }}
{{- if .Values.redis.auth.sentinelKey }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.auth.existingSecret }}
      key: {{ .Values.redis.auth.sentinelKey }}
{{- end }}
{{- end }}
{{- if .Values.redis.tls.existingSecret }}
- name: REDIS_TLS_DIR
  value: /etc/kappaflow/redis-tls
{{- end }}
{{- end }}

{{/*
The operator's rules on Pipelines and the objects it renders for them (see rbac.yaml).
*/}}
{{- define "kappaflow.operatorRules" -}}
- apiGroups: ["kappaflow.io"]
  resources: ["pipelines"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["kappaflow.io"]
  resources: ["pipelines/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["kappaflow.io"]
  resources: ["pipelines/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Deleting a Pipeline with the `delete` policy waits until its processor pods are gone.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
{{- if .Values.rbac.readPipelineSecrets }}
# Opt-in: the Secrets of a Pipeline's spec.redis.secretRef and spec.kafka.tls/sasl are read by the
# operator itself (its own Redis and Kafka connections).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
{{- end }}
