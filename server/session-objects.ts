/**
 * Agent sessions (`GET /v1/sessions` on an agent) as Kubernetes objects:
 * ReversePortForward, ReversePortForwardList, and the server-side Table
 * `kubectl get reverseportforwards` prints. Pure functions. The objects'
 * types come from api-types.ts, which also documents every field in the
 * OpenAPI documents: a field served here must be defined there.
 */
import type { AgentSessionSummary } from '../protocol/index.ts';
import type { ReversePortForward, ReversePortForwardList } from './api-types.ts';
import { GROUP_VERSION, SESSION_KIND, SESSION_LIST_KIND } from './constants.ts';

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/**
 * Reads an agent's `{"items": [...]}` leniently: unknown fields are ignored,
 * missing ones default, `connections` may be a number (open) or {open, total}.
 * Items without an id are dropped. Undefined when the body is not such a list.
 */
export function parseAgentSessions(body: unknown): AgentSessionSummary[] | undefined {
  const items = record(body)['items'];
  if (!Array.isArray(items)) return undefined;
  const sessions: AgentSessionSummary[] = [];
  for (const raw of items) {
    const s = record(raw);
    const id = str(s['id']);
    if (id === '') continue;
    const c = s['connections'];
    const connections = typeof c === 'number' ? { open: c, total: c } : { open: num(record(c)['open']), total: num(record(c)['total']) };
    const ports = (Array.isArray(s['ports']) ? s['ports'] : []).map((p: unknown) => {
      const r = record(p);
      return { address: str(r['address']), port: num(r['port']), requestedPort: num(r['requestedPort']) };
    });
    sessions.push({
      id,
      namespace: str(s['namespace']),
      pod: str(s['pod']),
      podUID: str(s['podUID']),
      user: str(s['user']),
      ports,
      connections,
      bytesToPod: num(s['bytesToPod']),
      bytesFromPod: num(s['bytesFromPod']),
      startTime: str(s['startTime']),
    });
  }
  return sessions;
}

/** A session with the node whose agent holds it. */
export interface LocatedSession {
  readonly session: AgentSessionSummary;
  readonly node: string;
}

/**
 * The ReversePortForward object of a session. Every nested object is written
 * out field by field, so the compiler holds each to its definition (an
 * object passed through whole could carry undocumented fields).
 */
export function toReversePortForward({ session: s, node }: LocatedSession): ReversePortForward {
  const requested = [...new Set(s.ports.map((p) => p.requestedPort))];
  const addresses = [...new Set(s.ports.map((p) => p.address))];
  return {
    apiVersion: GROUP_VERSION,
    kind: SESSION_KIND,
    metadata: { name: s.id, namespace: s.namespace, creationTimestamp: s.startTime === '' ? null : s.startTime },
    spec: { pod: s.pod, podUID: s.podUID, node, user: s.user, ports: requested, addresses },
    status: {
      listeners: s.ports.map((p) => ({ address: p.address, port: p.port, requestedPort: p.requestedPort })),
      connections: { open: s.connections.open, total: s.connections.total },
      bytesToPod: s.bytesToPod,
      bytesFromPod: s.bytesFromPod,
    },
  };
}

/** The ReversePortForwardList of sessions, sorted by namespace and name. */
export function toReversePortForwardList(sessions: readonly LocatedSession[]): ReversePortForwardList {
  return {
    apiVersion: GROUP_VERSION,
    kind: SESSION_LIST_KIND,
    metadata: { resourceVersion: '' },
    items: sortSessions(sessions).map(toReversePortForward),
  };
}

function sortSessions(sessions: readonly LocatedSession[]): LocatedSession[] {
  const key = (s: LocatedSession): string => `${s.session.namespace}/${s.session.id}`;
  return [...sessions].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * A duration as kubectl prints ages (apimachinery's HumanDuration): 45s,
 * 3m20s, 25m, 5h10m, 3d4h, 40d, 2y30d.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** How a Table row carries its object (the includeObject query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** The columns of `kubectl get reverseportforwards`. */
export const TABLE_COLUMNS = [
  { name: 'Name', type: 'string', format: 'name', description: 'Session id, unique in the cluster.', priority: 0 },
  { name: 'Pod', type: 'string', format: '', description: 'The pod the listeners are in.', priority: 0 },
  { name: 'User', type: 'string', format: '', description: 'Who opened the session.', priority: 0 },
  { name: 'Ports', type: 'string', format: '', description: 'Ports listening in the pod.', priority: 0 },
  { name: 'Connections', type: 'integer', format: '', description: 'Connections open now.', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'Time since the session started.', priority: 0 },
  { name: 'Node', type: 'string', format: '', description: 'The node of the pod.', priority: 1 },
] as const;

/** A meta.k8s.io Table of sessions, rows as `kubectl get` prints them. */
export function toTable(sessions: readonly LocatedSession[], now: number, tableVersion: string, include: IncludeObject): Record<string, unknown> {
  const rows = sortSessions(sessions).map((located) => {
    const s = located.session;
    const ports = [...new Set(s.ports.map((p) => p.port))].join(',');
    const started = Date.parse(s.startTime);
    const age = Number.isNaN(started) ? '<unknown>' : humanDuration(now - started);
    const row: Record<string, unknown> = { cells: [s.id, s.pod, s.user, ports, s.connections.open, age, located.node] };
    const object = toReversePortForward(located);
    if (include === 'Object') row['object'] = object;
    else if (include === 'Metadata') row['object'] = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${tableVersion}`, metadata: object['metadata'] };
    return row;
  });
  return { kind: 'Table', apiVersion: `meta.k8s.io/${tableVersion}`, metadata: { resourceVersion: '' }, columnDefinitions: TABLE_COLUMNS, rows };
}
