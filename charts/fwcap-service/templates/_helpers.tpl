{{/* Object names: the release name (django / fastapi), or nameOverride. */}}
{{- define "fwcap-service.fullname" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "fwcap-service.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.framework }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fwcap-service.labels" -}}
{{ include "fwcap-service.selectorLabels" . }}
app.kubernetes.io/part-of: fwcap
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository:tag@digest: the tag for readers, the digest so the image can never silently move. */}}
{{- define "fwcap-service.image" -}}
{{- if eq .Values.image.tag "latest" -}}
{{- fail "image.tag must be a fixed tag, not \"latest\"" -}}
{{- end -}}
{{- if not .Values.image.digest -}}
{{- fail (printf "image.digest is required: the sha256:... that %s:%s names (`crane digest %s:%s`); a tag alone can be re-pushed" .Values.image.repository .Values.image.tag .Values.image.repository .Values.image.tag) -}}
{{- end -}}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest -}}
{{- end -}}

{{- define "fwcap-service.databaseSecret" -}}
{{- default (printf "%s-database" (include "fwcap-service.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{/* Pod Security Standards "restricted": non-root, no privilege escalation, no capabilities. */}}
{{- define "fwcap-service.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fwcap-service.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Requests = limits (Guaranteed QoS) unless resources.cpuLimit is set (Burstable: the pod may
use idle CPU up to it). The launcher sizes its workers from the CPU limit; memory is never
overcommitted. */}}
{{- define "fwcap-service.resources" -}}
requests:
  cpu: {{ .Values.resources.cpu | quote }}
  memory: {{ .Values.resources.memory | quote }}
limits:
  cpu: {{ .Values.resources.cpuLimit | default .Values.resources.cpu | quote }}
  memory: {{ .Values.resources.memory | quote }}
{{- end -}}

{{/* The launcher's environment contract (services/CONTRACT.md). Called with
(dict "ctx" $ "container" <name>): the downward API must name the container it reads. */}}
{{- define "fwcap-service.env" -}}
{{- $v := .ctx.Values -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "fwcap-service.databaseSecret" .ctx }}
      key: {{ $v.database.secretKey }}
- name: PORT
  value: {{ $v.port | quote }}
- name: CPU_LIMIT_MILLICORES
  valueFrom:
    resourceFieldRef:
      containerName: {{ .container }}
      resource: limits.cpu
      divisor: 1m
{{- if gt (int $v.server.workers) 0 }}
- name: WORKERS
  value: {{ $v.server.workers | quote }}
{{- end }}
{{- if eq $v.framework "django" }}
- name: THREADS
  value: {{ $v.server.threads | quote }}
{{- end }}
{{- if eq $v.framework "django-async" }}
{{- /* the django image serving async views under uvicorn (services/django/README.md) */}}
- name: SERVICE_VARIANT
  value: async
{{- end }}
{{- if gt (int $v.server.dbPoolSize) 0 }}
- name: DB_POOL_SIZE
  value: {{ $v.server.dbPoolSize | quote }}
{{- end }}
- name: UPSTREAM_URL
  value: {{ $v.upstreamUrl | quote }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/prometheus-multiproc
- name: TMPDIR
  value: /tmp
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: SEED
  value: "0"
{{- end -}}

{{- define "fwcap-service.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Requests = limits of the migration Job: migration.resources, else the service's. */}}
{{- define "fwcap-service.migrationResources" -}}
{{- $r := mergeOverwrite (deepCopy .Values.resources) (.Values.migration.resources | default dict) -}}
requests:
  cpu: {{ $r.cpu | quote }}
  memory: {{ $r.memory | quote }}
limits:
  cpu: {{ $r.cpu | quote }}
  memory: {{ $r.memory | quote }}
{{- end -}}

{{/* Node selector, tolerations, anti-affinity from the noisy components, spread over nodes. */}}
{{- define "fwcap-service.placement" -}}
{{- $p := .Values.placement -}}
{{- with $p.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $p.avoidComponents }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchExpressions" (list (dict "key" "app.kubernetes.io/component" "operator" "In" "values" $p.avoidComponents))) }}
affinity:
  podAntiAffinity:
    {{- if $p.requireAvoid }}
    requiredDuringSchedulingIgnoredDuringExecution:
      - {{- toYaml $term | nindent 8 }}
    {{- else }}
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          {{- toYaml $term | nindent 10 }}
    {{- end }}
{{- end }}
{{- if $p.spreadAcrossNodes }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "fwcap-service.selectorLabels" . | nindent 8 }}
        app.kubernetes.io/component: service
{{- end }}
{{- end -}}
