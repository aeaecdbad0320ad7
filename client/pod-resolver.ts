// Resolves a parsed target to one running pod the way `kubectl
// port-forward` does: a pod is itself; a workload or a service stands for the
// pods its selector matches, of which the most active is taken (kubectl's
// reversed podutils.ActivePods order: ready, ready longest, fewest restarts,
// oldest). Unlike kubectl, which only waits for a pod to exist, this waits up
// to --pod-running-timeout for one that is Running: a reverse forward needs a
// live network namespace, and freshly created pods are the common case in tests.
// The target's grammar is target.ts's.

import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { formatDuration } from './duration.ts';
import { RpfClientError } from './errors.ts';
import type { KubeReader } from './kube.ts';
import { formatTarget, kindInfo } from './target.ts';
import type { TargetKind, TargetRef } from './target.ts';

function objectPath(kind: TargetKind, namespace: string, name: string): string {
  const info = kindInfo(kind);
  const base = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}/${encodeURIComponent(name)}`;
}

/** kubectl's not-found message: `pods "x" not found`, `deployments.apps "x" not found`. */
function notFound(target: TargetRef): RpfClientError {
  const info = kindInfo(target.kind);
  const resource = info.group === '' ? info.plural : `${info.plural}.${info.group}`;
  const code = target.kind === 'pod' ? 'RPF_ERR_CLIENT_POD_NOT_FOUND' : 'RPF_ERR_CLIENT_TARGET_NOT_FOUND';
  return new RpfClientError(code, `${resource} "${target.name}" not found`);
}

/** The fields of a pod the choice reads (wire JSON, timestamps as strings). */
export interface PodObject {
  metadata?: { name?: string; namespace?: string; uid?: string; creationTimestamp?: string; deletionTimestamp?: string | null };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: Array<{ type?: string; status?: string; lastTransitionTime?: string }>;
    containerStatuses?: Array<{ restartCount?: number }>;
  };
}

/** A label selector as the API writes it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

interface WorkloadObject {
  spec?: { selector?: LabelSelector | Record<string, string> | null };
}

/** Formats a selector for `labelSelector=`; undefined when it selects nothing or cannot be expressed. */
export function selectorString(selector: LabelSelector): string | undefined {
  const terms: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) terms.push(`${key}=${value}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In':
        terms.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        terms.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        terms.push(e.key);
        break;
      case 'DoesNotExist':
        terms.push(`!${e.key}`);
        break;
      default:
        return undefined;
    }
  }
  return terms.length === 0 ? undefined : terms.join(',');
}

function selectorOf(target: TargetRef, object: WorkloadObject): string {
  const raw = object.spec?.selector ?? undefined;
  // Services and replication controllers carry a plain label map.
  const selector: LabelSelector | undefined =
    target.kind === 'service' || target.kind === 'replicationcontroller' ? (raw === undefined ? undefined : { matchLabels: raw as Record<string, string> }) : (raw as LabelSelector | undefined);
  const text = selector === undefined ? undefined : selectorString(selector);
  if (text === undefined) {
    throw new RpfClientError('RPF_ERR_CLIENT_INVALID_TARGET', `${formatTarget(target)} has no usable pod selector, so it names no pods`);
  }
  return text;
}

function isRunning(pod: PodObject): boolean {
  return pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp && Boolean(pod.spec?.nodeName);
}

function readySince(pod: PodObject): number | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  const t = Date.parse(ready.lastTransitionTime ?? '');
  return Number.isNaN(t) ? 0 : t;
}

function restarts(pod: PodObject): number {
  return Math.max(0, ...(pod.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

function created(pod: PodObject): number {
  const t = Date.parse(pod.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/**
 * Orders running pods most active first, as kubectl's
 * sort.Reverse(podutils.ActivePods) does: ready before not ready, ready
 * longer before shorter, fewer restarts first, older first.
 */
export function compareActivePods(a: PodObject, b: PodObject): number {
  const ra = readySince(a);
  const rb = readySince(b);
  if ((ra === undefined) !== (rb === undefined)) return ra === undefined ? 1 : -1;
  if (ra !== undefined && rb !== undefined && ra !== rb) {
    // A zero (unknown) ready time counts as the most recent.
    if (ra === 0 || rb === 0) return ra === 0 ? 1 : -1;
    return ra - rb;
  }
  const restartDiff = restarts(a) - restarts(b);
  if (restartDiff !== 0) return restartDiff;
  const ca = created(a);
  const cb = created(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

/** The pod a target resolved to. */
export interface ResolvedPod {
  readonly namespace: string;
  readonly name: string;
}

/** Options of {@link resolveTargetPod}. */
export interface ResolveOptions {
  reader: KubeReader;
  namespace: string;
  target: TargetRef;
  /** How long to wait for a Running pod (--pod-running-timeout). */
  timeoutMs: number;
  /** Time between polls (default 1 s). */
  pollIntervalMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
  /** Called once, when the first look finds no Running pod and the wait begins. */
  onWait?: (message: string) => void;
  /**
   * Workload targets only: take only a pod that is Ready, not merely Running
   * (following a workload after a rollout: its new pod, once it serves).
   */
  ready?: boolean;
}

function podSummary(pods: PodObject[]): string {
  if (pods.length === 0) return 'no pod matches its selector';
  const shown = pods.slice(0, 5).map((p) => `${p.metadata?.name ?? '?'} ${p.metadata?.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? 'Unknown')}`);
  return `pods: ${shown.join(', ')}${pods.length > 5 ? `, and ${pods.length - 5} more` : ''}`;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/**
 * Resolves the target to one Running pod, waiting up to `timeoutMs`.
 * Throws RPF_ERR_CLIENT_POD_NOT_FOUND / TARGET_NOT_FOUND at once when the
 * object does not exist, RPF_ERR_CLIENT_POD_NOT_RUNNING when no pod runs in
 * time (or a named pod has finished), RPF_ERR_CLIENT_ABORTED on the signal.
 */
export async function resolveTargetPod(options: ResolveOptions): Promise<ResolvedPod> {
  const { reader, namespace, target, timeoutMs, signal } = options;
  const clock = options.clock ?? systemClock;
  const interval = options.pollIntervalMs ?? 1000;
  const deadline = clock.now() + timeoutMs;
  let selector: string | undefined;
  let waiting = false;
  for (;;) {
    if (signal?.aborted) throw aborted(signal);
    let why: string;
    if (target.kind === 'pod') {
      const pod = await reader.get<PodObject>(objectPath('pod', namespace, target.name));
      if (pod === undefined) throw notFound(target);
      if (isRunning(pod)) return { namespace, name: target.name };
      const phase = pod.status?.phase || 'Unknown';
      if (pod.metadata?.deletionTimestamp) throw new RpfClientError('RPF_ERR_CLIENT_POD_NOT_RUNNING', `pod ${namespace}/${target.name} is terminating`);
      if (TERMINAL_PHASES.has(phase)) throw new RpfClientError('RPF_ERR_CLIENT_POD_NOT_RUNNING', `pod ${namespace}/${target.name} is not running (phase ${phase})`);
      why = `pod ${namespace}/${target.name} is not running (phase ${phase})`;
    } else {
      if (selector === undefined) {
        const object = await reader.get<WorkloadObject>(objectPath(target.kind, namespace, target.name));
        if (object === undefined) throw notFound(target);
        selector = selectorOf(target, object);
      }
      const list = await reader.get<{ items?: PodObject[] }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, new URLSearchParams({ labelSelector: selector }));
      const pods = list?.items ?? [];
      const best = pods.filter((p) => isRunning(p) && (!options.ready || readySince(p) !== undefined)).sort(compareActivePods)[0];
      if (best?.metadata?.name) return { namespace, name: best.metadata.name };
      why = `no ${options.ready ? 'ready' : 'running'} pod for ${formatTarget(target)} (${podSummary(pods)})`;
    }
    const left = deadline - clock.now();
    if (left <= 0) {
      throw new RpfClientError('RPF_ERR_CLIENT_POD_NOT_RUNNING', `${why}; waited ${formatDuration(timeoutMs)}`);
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(`${why}; waiting up to ${formatDuration(timeoutMs)}`);
    }
    try {
      await clock.sleep(Math.min(interval, left), signal);
    } catch (error) {
      if (signal?.aborted) throw aborted(signal);
      throw error;
    }
  }
}

function aborted(signal: AbortSignal): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'cancelled', { cause: signal.reason });
}
