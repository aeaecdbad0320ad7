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
The Secret each identity's key lives in, by role: "server" (rpf-server's
serving certificate), "agentClient" (rpf-server's client certificate towards
the agents) and "agent" (rpf-agent's serving certificate). Each holds tls.crt,
tls.key and ca.crt (the CA that signed it), cert-manager's layout, so the pods
mount them the same way in both modes. The generated ones are named apart from
cert-manager's, so switching modes never has helm delete a Secret that
cert-manager is writing.
*/}}
{{- define "kube-rpf.secretName" -}}
{{- $role := index . 1 -}}
{{- if (index . 0).Values.certManager.enabled -}}
{{- get (dict "server" "rpf-server-tls" "agentClient" "rpf-agent-client-tls" "agent" "rpf-agent-tls") $role -}}
{{- else -}}
{{- get (dict "server" "rpf-server-certs" "agentClient" "rpf-agent-client-certs" "agent" "rpf-agent-certs") $role -}}
{{- end -}}
{{- end -}}

{{/*
Certificates: generated once and kept. On install they are made here; on every
upgrade the existing Secrets are looked up and reused, so the APIService's
caBundle and running sessions survive `helm upgrade`. Releases from before the
split kept everything in one Secret, kube-rpf-certs: its certificates are
carried over into the three Secrets. The result is cached in .Values so every
template sees the same certificates within one render. The CAs' private keys
are never stored: nothing can sign another certificate with them.
*/}}
{{- define "kube-rpf.certs" -}}
{{- if not .Values._certs -}}
{{- $server := lookup "v1" "Secret" .Release.Namespace "rpf-server-certs" -}}
{{- $agentClient := lookup "v1" "Secret" .Release.Namespace "rpf-agent-client-certs" -}}
{{- $agent := lookup "v1" "Secret" .Release.Namespace "rpf-agent-certs" -}}
{{- $legacy := lookup "v1" "Secret" .Release.Namespace "kube-rpf-certs" -}}
{{- if and $server $server.data $agentClient $agentClient.data $agent $agent.data -}}
{{- $_ := set .Values "_certs" (dict
  "apiCA" (index $server.data "ca.crt" | b64dec)
  "serverCert" (index $server.data "tls.crt" | b64dec)
  "serverKey" (index $server.data "tls.key" | b64dec)
  "agentCA" (index $agent.data "ca.crt" | b64dec)
  "agentCert" (index $agent.data "tls.crt" | b64dec)
  "agentKey" (index $agent.data "tls.key" | b64dec)
  "clientCert" (index $agentClient.data "tls.crt" | b64dec)
  "clientKey" (index $agentClient.data "tls.key" | b64dec)) -}}
{{- else if and $legacy $legacy.data -}}
{{- $_ := set .Values "_certs" (dict
  "apiCA" (index $legacy.data "api-ca.crt" | b64dec)
  "serverCert" (index $legacy.data "server.crt" | b64dec)
  "serverKey" (index $legacy.data "server.key" | b64dec)
  "agentCA" (index $legacy.data "agent-ca.crt" | b64dec)
  "agentCert" (index $legacy.data "agent.crt" | b64dec)
  "agentKey" (index $legacy.data "agent.key" | b64dec)
  "clientCert" (index $legacy.data "agent-client.crt" | b64dec)
  "clientKey" (index $legacy.data "agent-client.key" | b64dec)) -}}
{{- else -}}
{{- $svc := printf "rpf-server.%s.svc" .Release.Namespace -}}
{{- $apiCA := genCA "kube-rpf-api-ca" 3650 -}}
{{- $serverPair := genSignedCert "rpf-server" nil (list $svc (printf "%s.cluster.local" $svc)) 3650 $apiCA -}}
{{- $agentCA := genCA "kube-rpf-agent-ca" 3650 -}}
{{- $agentPair := genSignedCert "rpf-agent" nil (list "rpf-agent") 3650 $agentCA -}}
{{- $clientPair := genSignedCert "rpf-server" nil nil 3650 $agentCA -}}
{{- $_ := set .Values "_certs" (dict
  "apiCA" $apiCA.Cert "serverCert" $serverPair.Cert "serverKey" $serverPair.Key
  "agentCA" $agentCA.Cert "agentCert" $agentPair.Cert "agentKey" $agentPair.Key
  "clientCert" $clientPair.Cert "clientKey" $clientPair.Key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The seats the tunnels' priority level gets on one kube-apiserver with the
default server concurrency (--max-requests-inflight 400 plus
--max-mutating-requests-inflight 200) and the built-in priority levels
(nominal concurrency shares summing to 245):
ceil(600 * shares / (245 + shares)). 20 shares give 46 seats.
*/}}
{{- define "kube-rpf.tunnelSeats" -}}
{{- $shares := int .Values.flowControl.nominalConcurrencyShares -}}
{{- ceil (divf (mul 600 $shares) (add 245 $shares)) | int -}}
{{- end -}}

{{/* Labels that select rpf-server's pods (also its Deployment's selector). */}}
{{- define "kube-rpf.serverSelector" -}}
app.kubernetes.io/name: rpf-server
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels that select rpf-agent's pods (also its DaemonSet's selector). */}}
{{- define "kube-rpf.agentSelector" -}}
app.kubernetes.io/name: rpf-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
