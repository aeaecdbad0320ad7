/**
 * Which validating webhooks a tunnel request must be sent to, decided as
 * kube-apiserver decides it for `pods/portforward` (k8s.io/apiserver
 * pkg/admission/plugin/webhook: generic/webhook.go ShouldCallHook, and
 * predicates/rules, namespace and object). Pure: the ValidatingWebhookConfiguration
 * objects come in as JSON, the namespace's labels as a lookup.
 *
 * A tunnel is the request
 *   operation CONNECT, resource {group rpf.kube-rpf.dev, version v1alpha1,
 *   resource pods}, subresource reverseportforward, namespaced.
 *
 * As kube-apiserver decides (it checks the selectors first, but reports their
 * errors only when the rules match; checking the rules first spares an API call):
 * 1. namespaceSelector against the namespace's labels (an empty selector
 *    matches without a lookup);
 * 2. objectSelector against the request's object. For CONNECT the object is
 *    the options object, which has no metadata, so a non-empty objectSelector
 *    never matches: kube-apiserver never calls such a webhook for
 *    pods/portforward either (predicates/object/matcher.go: meta.Accessor fails);
 * 3. rules: operations (CONNECT or *), apiGroups, apiVersions (exact or *),
 *    resources (`pods/reverseportforward`, `pods/*`, `*`+`/reverseportforward`,
 *    `*`+`/*`; a bare `pods` or `*` names no subresource and does not match), scope
 *    (`*`, Namespaced; not Cluster);
 * 4. an invalid selector is an error only when the rules match;
 * 5. matchConditions (CEL) are not evaluated: a webhook that has them is
 *    called as if they held (docs/admission.md says why).
 * matchPolicy Equivalent adds nothing: no other group or version serves
 * this resource.
 */
import { GROUP, SUBRESOURCE, VERSION } from './constants.ts';

/** A label selector as the API writes it (meta/v1 LabelSelector). */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

/** One rule of a webhook (admissionregistration/v1 RuleWithOperations). */
export interface WebhookRule {
  readonly operations: readonly string[];
  readonly apiGroups: readonly string[];
  readonly apiVersions: readonly string[];
  readonly resources: readonly string[];
  readonly scope: string;
}

/** Where a webhook is served (admissionregistration/v1 WebhookClientConfig). */
export interface WebhookClientConfig {
  readonly url?: string;
  readonly service?: { readonly namespace: string; readonly name: string; readonly path: string; readonly port: number };
  /** PEM, decoded from the object's base64; empty: the system's trusted CAs. */
  readonly caBundle: string;
}

/** One validating webhook, with the API's defaults applied. */
export interface ValidatingWebhook {
  /** The ValidatingWebhookConfiguration it belongs to. */
  readonly configuration: string;
  readonly name: string;
  readonly clientConfig: WebhookClientConfig;
  readonly rules: readonly WebhookRule[];
  /** Fail (the default) or Ignore. */
  readonly failurePolicy: 'Fail' | 'Ignore';
  /** 1-30; 10 by default. */
  readonly timeoutSeconds: number;
  readonly namespaceSelector: LabelSelector | undefined;
  readonly objectSelector: LabelSelector | undefined;
  /** How many CEL matchConditions it has (never evaluated here). */
  readonly matchConditions: number;
  readonly admissionReviewVersions: readonly string[];
  readonly sideEffects: string;
}

/** The request a tunnel is, as the rules see it. */
export const TUNNEL_REQUEST = { operation: 'CONNECT', group: GROUP, version: VERSION, resource: 'pods', subresource: SUBRESOURCE } as const;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function selector(value: unknown): LabelSelector | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = record(value);
  const labels: Record<string, string> = {};
  for (const [k, l] of Object.entries(record(v['matchLabels']))) if (typeof l === 'string') labels[k] = l;
  const expressions = (Array.isArray(v['matchExpressions']) ? v['matchExpressions'] : []).map((e: unknown) => {
    const r = record(e);
    return { key: typeof r['key'] === 'string' ? r['key'] : '', operator: typeof r['operator'] === 'string' ? r['operator'] : '', values: strings(r['values']) };
  });
  return { matchLabels: labels, matchExpressions: expressions };
}

function decodeCaBundle(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  return Buffer.from(value, 'base64').toString('utf8');
}

/**
 * The webhooks of one ValidatingWebhookConfiguration (JSON as the API serves
 * it), with kube-apiserver's defaults (failurePolicy Fail, timeoutSeconds 10,
 * scope *, service port 443). Malformed entries are kept as far as they can
 * be read: kube-apiserver validated them when they were stored.
 */
export function webhooksOf(configuration: unknown): ValidatingWebhook[] {
  const c = record(configuration);
  const name = typeof record(c['metadata'])['name'] === 'string' ? (record(c['metadata'])['name'] as string) : '';
  const hooks = Array.isArray(c['webhooks']) ? c['webhooks'] : [];
  return hooks.map((h: unknown): ValidatingWebhook => {
    const w = record(h);
    const cc = record(w['clientConfig']);
    const svc = cc['service'] === undefined || cc['service'] === null ? undefined : record(cc['service']);
    const timeout = typeof w['timeoutSeconds'] === 'number' ? w['timeoutSeconds'] : 10;
    return {
      configuration: name,
      name: typeof w['name'] === 'string' ? w['name'] : '',
      clientConfig: {
        ...(typeof cc['url'] === 'string' ? { url: cc['url'] } : {}),
        ...(svc === undefined
          ? {}
          : {
              service: {
                namespace: String(svc['namespace'] ?? ''),
                name: String(svc['name'] ?? ''),
                path: typeof svc['path'] === 'string' ? svc['path'] : '/',
                port: typeof svc['port'] === 'number' ? svc['port'] : 443,
              },
            }),
        caBundle: decodeCaBundle(cc['caBundle']),
      },
      rules: (Array.isArray(w['rules']) ? w['rules'] : []).map((r: unknown) => {
        const rr = record(r);
        return {
          operations: strings(rr['operations']),
          apiGroups: strings(rr['apiGroups']),
          apiVersions: strings(rr['apiVersions']),
          resources: strings(rr['resources']),
          scope: typeof rr['scope'] === 'string' ? rr['scope'] : '*',
        };
      }),
      failurePolicy: w['failurePolicy'] === 'Ignore' ? 'Ignore' : 'Fail',
      // kube-apiserver's validation keeps it in 1-30; clamp in case an older server stored more.
      timeoutSeconds: Math.min(30, Math.max(1, Math.floor(timeout))),
      namespaceSelector: selector(w['namespaceSelector']),
      objectSelector: selector(w['objectSelector']),
      matchConditions: Array.isArray(w['matchConditions']) ? w['matchConditions'].length : 0,
      admissionReviewVersions: strings(w['admissionReviewVersions']),
      sideEffects: typeof w['sideEffects'] === 'string' ? w['sideEffects'] : '',
    };
  });
}

/** True for a selector that selects everything (absent, or no labels and no expressions). */
export function isEmptySelector(s: LabelSelector | undefined): boolean {
  return s === undefined || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);
}

/**
 * Whether `labels` match `s` (meta/v1 LabelSelectorAsSelector semantics), or
 * an error text for a selector kube-apiserver could not parse either.
 */
export function matchSelector(s: LabelSelector, labels: Readonly<Record<string, string>>): { matches: boolean } | { error: string } {
  let matches = true;
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) matches = false;
  for (const e of s.matchExpressions ?? []) {
    const values = e.values ?? [];
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
      case 'NotIn': {
        if (values.length === 0) return { error: `"${e.key}": for '${e.operator}' operator, values set can't be empty` };
        const inSet = has && values.includes(labels[e.key] ?? '');
        if (e.operator === 'In' ? !inSet : inSet) matches = false;
        break;
      }
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return { error: `"${e.key}": values set must be empty for ${e.operator}` };
        if (e.operator === 'Exists' ? !has : has) matches = false;
        break;
      default:
        return { error: `"${e.operator}" is not a valid label selector operator` };
    }
  }
  return { matches };
}

function exactOrWildcard(items: readonly string[], requested: string): boolean {
  return items.some((i) => i === '*' || i === requested);
}

/** Whether one rule names the tunnel request (predicates/rules/rules.go). */
export function ruleMatches(rule: WebhookRule): boolean {
  const t = TUNNEL_REQUEST;
  const scope = rule.scope === '*' || rule.scope === 'Namespaced';
  const operation = rule.operations.some((o) => o === '*' || o === t.operation);
  const resource = rule.resources.some((r) => {
    const slash = r.indexOf('/');
    const res = slash < 0 ? r : r.slice(0, slash);
    const sub = slash < 0 ? '' : r.slice(slash + 1);
    return (res === '*' || res === t.resource) && (sub === '*' || sub === t.subresource);
  });
  return scope && operation && exactOrWildcard(rule.apiGroups, t.group) && exactOrWildcard(rule.apiVersions, t.version) && resource;
}

/** What to do with one webhook for one request. */
export type HookDecision = { readonly call: true } | { readonly call: false } | { readonly call: false; readonly error: string };

/**
 * Decides whether `hook` is called for a tunnel into a pod of a namespace
 * whose labels `namespaceLabels` reads (only when the hook's
 * namespaceSelector is not empty, as kube-apiserver reads them).
 */
export async function shouldCallHook(hook: ValidatingWebhook, namespaceLabels: () => Promise<Readonly<Record<string, string>>>): Promise<HookDecision> {
  // Rules first: they need no API call, and kube-apiserver reports selector
  // errors only for webhooks whose rules match, so the outcome is the same.
  if (!hook.rules.some(ruleMatches)) return { call: false };
  let objError: string | undefined;
  if (!isEmptySelector(hook.objectSelector) && hook.objectSelector !== undefined) {
    // The options object has no labels: a valid selector never matches it.
    const result = matchSelector(hook.objectSelector, {});
    if (!('error' in result)) return { call: false };
    objError = result.error;
  }
  let nsError: string | undefined;
  if (!isEmptySelector(hook.namespaceSelector) && hook.namespaceSelector !== undefined) {
    const result = matchSelector(hook.namespaceSelector, await namespaceLabels());
    if ('error' in result) nsError = result.error;
    else if (!result.matches) return { call: false };
  }
  const error = nsError ?? objError;
  if (error !== undefined) return { call: false, error: `webhook "${hook.name}": invalid selector: ${error}` };
  return { call: true };
}
