/**
 * The AdmissionReview a tunnel request is sent to validating webhooks as, and
 * how their answers are read: the shape kube-apiserver gives a CONNECT to
 * `pods/portforward` (k8s.io/apiserver pkg/admission/plugin/webhook/request:
 * CreateV1AdmissionReview, VerifyAdmissionResponse; errors/statuserror.go:
 * ToStatusErr). Pure.
 *
 * As for pods/portforward, whose object is a PodPortForwardOptions, the
 * request's `object` is the connect options: a {@link ReversePortForwardOptions}
 * with the ports and the addresses the listeners will bind, after defaulting
 * (127.0.0.1 and ::1 when the request named none), so a policy reads what
 * will happen rather than what was typed. `oldObject` and `options` are null,
 * `dryRun` false.
 */
import { GROUP, SUBRESOURCE, SUBRESOURCE_KIND, VERSION } from './constants.ts';
import type { UserInfo } from './front-proxy-auth.ts';

/** What a webhook is told about a tunnel request. */
export interface TunnelAdmissionAttributes {
  readonly namespace: string;
  readonly pod: string;
  readonly user: UserInfo;
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
}

/** The connect options of pods/reverseportforward, as webhooks receive them in `request.object`. */
export interface ReversePortForwardOptions {
  readonly apiVersion: string;
  readonly kind: string;
  /** The ports to listen on in the pod, in request order; 0 asks for any free port. */
  readonly ports: readonly number[];
  /** The addresses to listen on in the pod, defaulted (127.0.0.1 and ::1 when none was named). */
  readonly addresses: readonly string[];
}

/** The AdmissionReview versions rpf-server speaks, in kube-apiserver's order of preference. */
export const REVIEW_VERSIONS = ['v1', 'v1beta1'] as const;
/** One of {@link REVIEW_VERSIONS}. */
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

/** The first version of the webhook's list that rpf-server speaks, as kube-apiserver picks it; undefined when none. */
export function pickReviewVersion(accepted: readonly string[]): ReviewVersion | undefined {
  for (const v of accepted) if ((REVIEW_VERSIONS as readonly string[]).includes(v)) return v as ReviewVersion;
  return undefined;
}

/** The connect options object of a request. */
export function connectOptions(attrs: TunnelAdmissionAttributes): ReversePortForwardOptions {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: SUBRESOURCE_KIND, ports: [...attrs.ports], addresses: [...attrs.addresses] };
}

/** The AdmissionReview (request half) for one webhook call. */
export function admissionReview(uid: string, version: ReviewVersion, attrs: TunnelAdmissionAttributes): Record<string, unknown> {
  const kind = { group: GROUP, version: VERSION, kind: SUBRESOURCE_KIND };
  const resource = { group: GROUP, version: VERSION, resource: 'pods' };
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(attrs.user.extra)) extra[k] = [...v];
  return {
    apiVersion: `admission.k8s.io/${version}`,
    kind: 'AdmissionReview',
    request: {
      uid,
      kind,
      resource,
      subResource: SUBRESOURCE,
      requestKind: kind,
      requestResource: resource,
      requestSubResource: SUBRESOURCE,
      name: attrs.pod,
      namespace: attrs.namespace,
      operation: 'CONNECT',
      userInfo: {
        username: attrs.user.user,
        ...(attrs.user.uid === '' ? {} : { uid: attrs.user.uid }),
        groups: [...attrs.user.groups],
        ...(Object.keys(extra).length === 0 ? {} : { extra }),
      },
      object: connectOptions(attrs),
      oldObject: null,
      dryRun: false,
      options: null,
    },
  };
}

/** The `status` a webhook may attach to its answer (meta/v1 Status, the fields that matter). */
export interface WebhookResult {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

/** A webhook's verdict. */
export interface WebhookVerdict {
  readonly allowed: boolean;
  readonly result: WebhookResult;
  /** Warnings the webhook asked to pass on (not shown: a tunnel has no response headers to carry them). */
  readonly warnings: readonly string[];
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Reads a webhook's answer. Throws an Error whose message says what is wrong
 * (kube-apiserver's words where it has them) for anything that is not a
 * valid AdmissionReview answering `uid`: the caller treats it as a failed
 * call, subject to the failurePolicy.
 */
export function readAdmissionResponse(body: string, uid: string, version: ReviewVersion): WebhookVerdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error('the webhook answered something that is not JSON');
  }
  const review = record(parsed);
  if (review === undefined) throw new Error('the webhook answered JSON that is not an object');
  const apiVersion = `admission.k8s.io/${version}`;
  if (review['apiVersion'] !== apiVersion || review['kind'] !== 'AdmissionReview') {
    throw new Error(`expected webhook response of ${apiVersion}, Kind=AdmissionReview, got ${String(review['apiVersion'] ?? '')}, Kind=${String(review['kind'] ?? '')}`);
  }
  const response = record(review['response']);
  if (response === undefined) throw new Error('webhook response was absent');
  // v1 demands the request's uid back; v1beta1 never checked it.
  if (version === 'v1' && response['uid'] !== uid) throw new Error(`expected response.uid="${uid}", got "${String(response['uid'] ?? '')}"`);
  if (typeof response['allowed'] !== 'boolean') throw new Error('webhook response has no boolean "allowed"');
  if (typeof response['patch'] === 'string' && response['patch'] !== '') throw new Error('validating webhook may not return a patch');
  const status = record(response['status']) ?? {};
  const warnings = Array.isArray(response['warnings']) ? response['warnings'].filter((w): w is string => typeof w === 'string') : [];
  return {
    allowed: response['allowed'],
    result: {
      code: typeof status['code'] === 'number' ? status['code'] : 0,
      reason: typeof status['reason'] === 'string' ? status['reason'] : '',
      message: typeof status['message'] === 'string' ? status['message'] : '',
    },
    warnings,
  };
}

/** Longest webhook message relayed to the user; the rest is cut (a Status is one line in the CLI). */
export const MAX_DENIAL_MESSAGE = 4096;

/**
 * The message of a denial, as kube-apiserver words it
 * (`pods.rpf.kube-rpf.dev "POD" is forbidden: admission webhook "NAME" denied the request: MESSAGE`),
 * with the webhook's message (or reason) cut to {@link MAX_DENIAL_MESSAGE} characters.
 */
export function denialMessage(webhook: string, pod: string, result: WebhookResult): string {
  const deniedBy = `admission webhook "${webhook}" denied the request`;
  const raw = result.message !== '' ? result.message : result.reason;
  const said = raw.length > MAX_DENIAL_MESSAGE ? `${raw.slice(0, MAX_DENIAL_MESSAGE)}...` : raw;
  const text = said === '' ? `${deniedBy} without explanation` : `${deniedBy}: ${said}`;
  return `pods.${GROUP} "${pod === '' ? 'Unknown' : pod}" is forbidden: ${text}`;
}

/** The message of a failed call under failurePolicy Fail, as kube-apiserver words it. */
export function failedCallMessage(webhook: string, reason: string): string {
  return `Internal error occurred: failed calling webhook "${webhook}": ${reason}`;
}
