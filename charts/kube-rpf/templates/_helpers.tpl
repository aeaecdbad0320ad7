{{- define "kube-rpf.labels" -}}
app.kubernetes.io/part-of: kube-rpf
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "kube-rpf.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/*
Certificates: generated once and kept. On install they are made here; on every
upgrade the existing Secret is looked up and reused, so the APIService's
caBundle and running sessions survive `helm upgrade`. The result is cached in
.Values so every template sees the same certificates within one render.
*/}}
{{- define "kube-rpf.certs" -}}
{{- if not .Values._certs -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "kube-rpf-certs" -}}
{{- if and $existing $existing.data -}}
{{- $_ := set .Values "_certs" (dict
  "apiCA" (index $existing.data "api-ca.crt" | b64dec)
  "serverCert" (index $existing.data "server.crt" | b64dec)
  "serverKey" (index $existing.data "server.key" | b64dec)
  "agentCA" (index $existing.data "agent-ca.crt" | b64dec)
  "agentCert" (index $existing.data "agent.crt" | b64dec)
  "agentKey" (index $existing.data "agent.key" | b64dec)
  "clientCert" (index $existing.data "agent-client.crt" | b64dec)
  "clientKey" (index $existing.data "agent-client.key" | b64dec)) -}}
{{- else -}}
{{- $svc := printf "rpf-server.%s.svc" .Release.Namespace -}}
{{- $apiCA := genCA "kube-rpf-api-ca" 3650 -}}
{{- $server := genSignedCert "rpf-server" nil (list $svc (printf "%s.cluster.local" $svc)) 3650 $apiCA -}}
{{- $agentCA := genCA "kube-rpf-agent-ca" 3650 -}}
{{- $agent := genSignedCert "rpf-agent" nil (list "rpf-agent") 3650 $agentCA -}}
{{- $client := genSignedCert "rpf-server" nil nil 3650 $agentCA -}}
{{- $_ := set .Values "_certs" (dict
  "apiCA" $apiCA.Cert "serverCert" $server.Cert "serverKey" $server.Key
  "agentCA" $agentCA.Cert "agentCert" $agent.Cert "agentKey" $agent.Key
  "clientCert" $client.Cert "clientKey" $client.Key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
