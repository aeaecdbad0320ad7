/**
 * Validating admission for tunnels: kube-apiserver runs no admission for
 * aggregated APIs, so rpf-server calls the cluster's validating webhooks
 * registered for CONNECT on `pods/reverseportforward`, as kube-apiserver's
 * validating dispatcher calls them for `pods/portforward`
 * (k8s.io/apiserver pkg/admission/plugin/webhook/validating/dispatcher.go):
 *
 * - the webhooks come from an in-memory copy of every
 *   ValidatingWebhookConfiguration (webhook-configurations.ts); which ones
 *   apply is webhook-rules.ts's decision;
 * - every webhook that applies is called at once, in parallel, each within its
 *   timeoutSeconds; the request is allowed only if all allow it;
 * - a denial is 403 with the webhook's message in kube-apiserver's words
 *   (`... is forbidden: admission webhook "NAME" denied the request: MESSAGE`);
 * - a webhook that cannot be called, times out or answers nonsense denies the
 *   request under failurePolicy Fail (500, `failed calling webhook "NAME": ...`)
 *   and is skipped (and logged) under Ignore;
 * - when several refuse, the first in configuration order is reported.
 *
 * Bounds: at most `maxInFlight` calls at once across all requests (a call
 * past it counts as a failed call, so its failurePolicy decides), answers of
 * at most 3 MiB (webhook-client.ts), each call within its timeout.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { admissionReview, denialMessage, failedCallMessage, pickReviewVersion, readAdmissionResponse } from './admission-review.ts';
import type { TunnelAdmissionAttributes } from './admission-review.ts';
import { GROUP } from './constants.ts';
import { RpfServerError } from './errors.ts';
import type { WebhookCaller, WebhookEndpoint } from './webhook-client.ts';
import { shouldCallHook } from './webhook-rules.ts';
import type { ValidatingWebhook } from './webhook-rules.ts';

/** The labels of a namespace; undefined when it does not exist. Throws on API errors. */
export type NamespaceLabelLookup = (namespace: string) => Promise<Readonly<Record<string, string>> | undefined>;

/** The host a Service is reached at (its ClusterIP, or an ExternalName's name); undefined when there is none. */
export type ServiceHostLookup = (namespace: string, name: string) => Promise<string | undefined>;

/** Where the webhooks are known. */
export interface WebhookSource {
  webhooks(): readonly ValidatingWebhook[];
  waitReady(timeoutMs: number): Promise<boolean>;
}

/** The admission step of a tunnel request, as tunnel-authorization.ts uses it. */
export interface TunnelAdmission {
  /** Resolves when every applicable webhook allows the tunnel; throws an RpfServerError otherwise. */
  admit(attrs: TunnelAdmissionAttributes): Promise<void>;
}

/** Options of {@link AdmissionWebhooks}. */
export interface AdmissionWebhooksDeps {
  readonly source: WebhookSource;
  readonly namespaceLabels: NamespaceLabelLookup;
  readonly serviceHost: ServiceHostLookup;
  readonly caller: WebhookCaller;
  readonly logger: Logger;
  /** Most webhook calls in flight at once (default 256). */
  readonly maxInFlight?: number;
  /** How long a request waits for the first list of configurations (ms, default 10 s). */
  readonly readyTimeoutMs?: number;
  readonly newUid?: () => string;
}

/** How one webhook call ended. */
type CallOutcome = { readonly kind: 'allowed' } | { readonly kind: 'denied'; readonly message: string } | { readonly kind: 'failed'; readonly reason: string };

/** Calls the applicable validating webhooks of each tunnel request. */
export class AdmissionWebhooks implements TunnelAdmission {
  readonly #deps: AdmissionWebhooksDeps;
  #inFlight = 0;

  constructor(deps: AdmissionWebhooksDeps) {
    this.#deps = deps;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  async admit(attrs: TunnelAdmissionAttributes): Promise<void> {
    const d = this.#deps;
    if (!(await d.source.waitReady(d.readyTimeoutMs ?? 10_000))) {
      throw new RpfServerError('RPF_ERR_SERVER_ADMISSION_NOT_READY', 'admission webhooks are not loaded yet: rpf-server has not yet read the ValidatingWebhookConfigurations; retry shortly');
    }
    const hooks = await this.#applicable(attrs);
    if (hooks.length === 0) return;
    const outcomes = await Promise.all(hooks.map((hook) => this.#call(hook, attrs)));
    for (const [i, outcome] of outcomes.entries()) {
      const hook = hooks[i] as ValidatingWebhook;
      if (outcome.kind === 'denied') {
        d.logger.info({ webhook: hook.name, namespace: attrs.namespace, pod: attrs.pod, user: attrs.user.user }, 'tunnel denied by admission webhook');
        throw new RpfServerError('RPF_ERR_SERVER_ADMISSION_DENIED', outcome.message, { name: attrs.pod, group: GROUP, kind: 'pods' });
      }
      if (outcome.kind === 'failed') {
        if (hook.failurePolicy === 'Ignore') {
          d.logger.warn({ webhook: hook.name, reason: outcome.reason }, 'failed calling webhook, failing open (failurePolicy Ignore)');
          continue;
        }
        d.logger.warn({ webhook: hook.name, reason: outcome.reason }, 'failed calling webhook, failing closed (failurePolicy Fail)');
        throw new RpfServerError('RPF_ERR_SERVER_ADMISSION_FAILED', failedCallMessage(hook.name, outcome.reason));
      }
    }
  }

  /** The webhooks that apply to the request, in configuration order. */
  async #applicable(attrs: TunnelAdmissionAttributes): Promise<ValidatingWebhook[]> {
    let labels: Promise<Readonly<Record<string, string>>> | undefined;
    // Read the namespace once per request, and only if some webhook's namespaceSelector needs it.
    const namespaceLabels = (): Promise<Readonly<Record<string, string>>> => {
      labels ??= this.#namespaceLabels(attrs.namespace);
      return labels;
    };
    const out: ValidatingWebhook[] = [];
    for (const hook of this.#deps.source.webhooks()) {
      const decision = await shouldCallHook(hook, namespaceLabels);
      if ('error' in decision) throw new RpfServerError('RPF_ERR_SERVER_ADMISSION_FAILED', `Internal error occurred: ${decision.error}`);
      if (decision.call) out.push(hook);
    }
    return out;
  }

  async #namespaceLabels(namespace: string): Promise<Readonly<Record<string, string>>> {
    let labels: Readonly<Record<string, string>> | undefined;
    try {
      labels = await this.#deps.namespaceLabels(namespace);
    } catch (err) {
      throw new RpfServerError(
        'RPF_ERR_SERVER_ADMISSION_FAILED',
        `Internal error occurred: cannot read namespace ${namespace} to match webhooks' namespaceSelector: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
    }
    if (labels === undefined) throw new RpfServerError('RPF_ERR_SERVER_POD_NOT_FOUND', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    return labels;
  }

  async #endpoint(hook: ValidatingWebhook): Promise<WebhookEndpoint> {
    const cc = hook.clientConfig;
    if (cc.url !== undefined) return { url: new URL(cc.url), caBundle: cc.caBundle };
    if (cc.service === undefined) throw new Error('the webhook has neither url nor service');
    const { namespace, name, path, port } = cc.service;
    const host = await this.#deps.serviceHost(namespace, name);
    if (host === undefined) throw new Error(`service "${namespace}/${name}" not found or has no cluster IP`);
    const literal = host.includes(':') ? `[${host}]` : host;
    return { url: new URL(`https://${literal}:${port}${path.startsWith('/') ? path : `/${path}`}`), serverName: `${name}.${namespace}.svc`, caBundle: cc.caBundle };
  }

  async #call(hook: ValidatingWebhook, attrs: TunnelAdmissionAttributes): Promise<CallOutcome> {
    const d = this.#deps;
    const version = pickReviewVersion(hook.admissionReviewVersions);
    if (version === undefined) return { kind: 'failed', reason: 'webhook does not accept known AdmissionReview versions (v1, v1beta1)' };
    const max = d.maxInFlight ?? 256;
    if (this.#inFlight >= max) return { kind: 'failed', reason: `too many webhook calls in flight in rpf-server (${max})` };
    this.#inFlight++;
    try {
      const endpoint = await this.#endpoint(hook);
      const uid = (d.newUid ?? randomUUID)();
      const body = JSON.stringify(admissionReview(uid, version, attrs));
      const answer = await d.caller.post(endpoint, body, hook.timeoutSeconds * 1000);
      const verdict = readAdmissionResponse(answer, uid, version);
      return verdict.allowed ? { kind: 'allowed' } : { kind: 'denied', message: denialMessage(hook.name, attrs.pod, verdict.result) };
    } catch (err) {
      return { kind: 'failed', reason: (err as Error).message };
    } finally {
      this.#inFlight--;
    }
  }
}
