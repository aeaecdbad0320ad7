// The target of `kubectl rpf`, as kubectl port-forward reads it. The grammar:
//
//   target = NAME                  a pod
//          | TYPE "/" NAME
//   TYPE   = RESOURCE | RESOURCE "." GROUP | RESOURCE "." VERSION "." GROUP
//   RESOURCE = a kind's singular, plural or short name, any case:
//            pod (pods, po), deployment (deploy), replicaset (rs),
//            statefulset (sts), daemonset (ds), replicationcontroller (rc),
//            job, service (svc)
//   GROUP  = the kind's own group (apps, batch); none for core kinds
//   NAME   = an RFC 1123 subdomain (lowercase letters, digits, '-' and '.'), at most 253
//
// A pure parser: no I/O. Errors quote the target and the bad token:
// `invalid target "cronjob/x": unsupported resource type "cronjob"; use one of ...`.
// Which pod a target stands for is pod-resolver.ts's job.

import { RpfClientError } from './errors.ts';

/** Kinds a target may name. */
export type TargetKind = 'pod' | 'deployment' | 'replicaset' | 'statefulset' | 'daemonset' | 'replicationcontroller' | 'job' | 'service';

/** A parsed target. */
export interface TargetRef {
  readonly kind: TargetKind;
  readonly name: string;
}

/** Where a kind lives in the API. */
export interface KindInfo {
  /** Accepted spellings of TYPE (singular, plural, short name). */
  readonly aliases: readonly string[];
  /** API group ('' for core). */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

const KINDS: Readonly<Record<TargetKind, KindInfo>> = {
  pod: { aliases: ['pod', 'pods', 'po'], group: '', version: 'v1', plural: 'pods' },
  deployment: { aliases: ['deployment', 'deployments', 'deploy'], group: 'apps', version: 'v1', plural: 'deployments' },
  replicaset: { aliases: ['replicaset', 'replicasets', 'rs'], group: 'apps', version: 'v1', plural: 'replicasets' },
  statefulset: { aliases: ['statefulset', 'statefulsets', 'sts'], group: 'apps', version: 'v1', plural: 'statefulsets' },
  daemonset: { aliases: ['daemonset', 'daemonsets', 'ds'], group: 'apps', version: 'v1', plural: 'daemonsets' },
  replicationcontroller: { aliases: ['replicationcontroller', 'replicationcontrollers', 'rc'], group: '', version: 'v1', plural: 'replicationcontrollers' },
  job: { aliases: ['job', 'jobs'], group: 'batch', version: 'v1', plural: 'jobs' },
  service: { aliases: ['service', 'services', 'svc'], group: '', version: 'v1', plural: 'services' },
};

const SUPPORTED = 'pod, deployment, replicaset, statefulset, daemonset, replicationcontroller, job, service';

// RFC 1123 subdomain, as Kubernetes object names are.
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalidTarget(text: string, why: string): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_INVALID_TARGET', `invalid target "${text}": ${why}`);
}

function kindOf(type: string): TargetKind | undefined {
  const lower = type.toLowerCase();
  const dot = lower.indexOf('.');
  const resource = dot === -1 ? lower : lower.slice(0, dot);
  const qualifier = dot === -1 ? '' : lower.slice(dot + 1);
  for (const [kind, info] of Object.entries(KINDS) as Array<[TargetKind, KindInfo]>) {
    if (!info.aliases.includes(resource)) continue;
    // `deployment.apps` and `deployment.v1.apps`, as kubectl accepts them.
    const qualifiers = info.group === '' ? [''] : ['', info.group, `${info.version}.${info.group}`];
    return qualifiers.includes(qualifier) ? kind : undefined;
  }
  return undefined;
}

/** Parses `POD` or `TYPE/NAME`; throws RPF_ERR_CLIENT_INVALID_TARGET. */
export function parseTarget(text: string): TargetRef {
  const parts = text.split('/');
  if (parts.length > 2) throw invalidTarget(text, 'expected POD or TYPE/NAME');
  const [type, name] = parts.length === 2 ? [parts[0] ?? '', parts[1] ?? ''] : ['pod', text];
  const kind = kindOf(type);
  if (kind === undefined) throw invalidTarget(text, `unsupported resource type "${type}"; use one of ${SUPPORTED}`);
  if (name === '') throw invalidTarget(text, 'the name is empty');
  if (name.length > 253 || !NAME.test(name)) throw invalidTarget(text, `"${name}" is not a valid object name (lowercase letters, digits, '-' and '.')`);
  return { kind, name };
}

/** The target as kubectl prints it, `deployment/web` or `pod/web-1`. */
export function formatTarget(target: TargetRef): string {
  return `${target.kind}/${target.name}`;
}

/** The API group, version and plural of a kind (resolution reads its objects there). */
export function kindInfo(kind: TargetKind): KindInfo {
  return KINDS[kind];
}
