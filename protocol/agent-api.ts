// The API between rpf-server and rpf-agent: everything that crosses the wire
// between the two, defined once and imported by both sides. docs/agent-api.md
// is its specification; a change here is a change there. Pure: names, shapes,
// encode and parse, and the text of a response; the sockets live in server/
// and node-agent/.
import { STATUS_CODES } from 'node:http';
import { truncateUtf8 } from './codec.ts';
import { GOAWAY_REASON, MAX_REASON_MESSAGE_BYTES } from './constants.ts';

/** Path of the agent's sessions: GET with an upgrade opens one, GET without lists them. */
export const AGENT_SESSIONS_PATH = '/v1/sessions';

/** Path of the agent's health check, on its TLS port (no client certificate needed). */
export const AGENT_HEALTHZ_PATH = '/healthz';

/** The path that ends one session (`DELETE`). */
export function agentSessionPath(id: string): string {
  return `${AGENT_SESSIONS_PATH}/${encodeURIComponent(id)}`;
}

/** The session id of a {@link agentSessionPath}, or undefined when the path names no session (or is not valid URI encoding). */
export function parseAgentSessionPath(pathname: string): string | undefined {
  const prefix = `${AGENT_SESSIONS_PATH}/`;
  const rest = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : '';
  if (rest === '' || rest.includes('/')) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

/**
 * Header of the agent's `101 Switching Protocols` naming the session it
 * opened: the id `DELETE /v1/sessions/<id>` takes, so rpf-server can end the
 * one session it is splicing (revocation, maximum lifetime).
 */
export const AGENT_SESSION_ID_HEADER = 'X-Rpf-Session';

/** Longest session id an agent sends and rpf-server keeps (the agent's ids are about 50 characters). */
export const MAX_AGENT_SESSION_ID_LENGTH = 253;

/** Query parameter names of `DELETE /v1/sessions/<id>`; both optional. */
export const AGENT_END_QUERY = {
  /** The GOAWAY reason code the client receives (decimal), one of {@link AGENT_END_REASONS}. */
  reason: 'reason',
  /** The GOAWAY message the client prints, at most {@link MAX_AGENT_END_MESSAGE_BYTES} UTF-8 bytes. */
  message: 'message',
} as const;

/**
 * The GOAWAY reasons a caller may ask a session to end with: an
 * administrator's delete (the default), a policy (maximum lifetime) and a
 * revoked authorization.
 */
export const AGENT_END_REASONS: readonly number[] = Object.freeze([GOAWAY_REASON.DELETED, GOAWAY_REASON.POLICY, GOAWAY_REASON.FORBIDDEN]);

/** The message of a DELETE without one. */
export const DEFAULT_AGENT_END_MESSAGE = 'the session was deleted by an administrator';

/** Longest end message: what one GOAWAY carries. */
export const MAX_AGENT_END_MESSAGE_BYTES = MAX_REASON_MESSAGE_BYTES;

/** How a caller asks a session to end. */
export interface AgentSessionEnd {
  readonly reason: number;
  readonly message: string;
}

/**
 * The path and query of `DELETE /v1/sessions/<id>`; without `end`, today's
 * plain DELETE (reason DELETED). The message is cut to its bound on a
 * character boundary, so a long Forbidden text still ends the session.
 */
export function formatAgentSessionEnd(id: string, end?: AgentSessionEnd): string {
  const path = agentSessionPath(id);
  if (end === undefined) return path;
  const message = truncateUtf8(end.message, MAX_AGENT_END_MESSAGE_BYTES).toString('utf8');
  const params = new URLSearchParams({ [AGENT_END_QUERY.reason]: String(end.reason), [AGENT_END_QUERY.message]: message });
  return `${path}?${params.toString()}`;
}

/** Reads a DELETE's query: the end asked for, or what is wrong with it (quoting the value). */
export function parseAgentSessionEnd(params: URLSearchParams): { ok: true; end: AgentSessionEnd } | { ok: false; message: string } {
  const reasonText = params.get(AGENT_END_QUERY.reason);
  const message = params.get(AGENT_END_QUERY.message);
  let reason: number = GOAWAY_REASON.DELETED;
  if (reasonText !== null) {
    reason = /^[0-9]{1,10}$/.test(reasonText) ? Number(reasonText) : NaN;
    if (!AGENT_END_REASONS.includes(reason)) {
      return { ok: false, message: `${AGENT_END_QUERY.reason} must be one of ${AGENT_END_REASONS.join(', ')}, got "${reasonText.slice(0, 32)}"` };
    }
  }
  if (message !== null && Buffer.byteLength(message) > MAX_AGENT_END_MESSAGE_BYTES) {
    return { ok: false, message: `${AGENT_END_QUERY.message} must be at most ${MAX_AGENT_END_MESSAGE_BYTES} bytes, got ${Buffer.byteLength(message)}` };
  }
  return { ok: true, end: { reason, message: message === null || message === '' ? DEFAULT_AGENT_END_MESSAGE : message } };
}

/** Query parameter names of a session request. */
export const AGENT_QUERY = {
  namespace: 'namespace',
  pod: 'pod',
  podUID: 'podUID',
  /** Repeated: 1-65535, or 0 for a port the agent picks. */
  ports: 'ports',
  /** Repeated; absent means {@link DEFAULT_LISTEN_ADDRESSES}. */
  address: 'address',
} as const;

/**
 * The addresses the agent listens on when a request names none: the pod's
 * loopback, IPv4 and IPv6, as kubectl port-forward's `localhost`.
 */
export const DEFAULT_LISTEN_ADDRESSES: readonly string[] = Object.freeze(['127.0.0.1', '::1']);

/** The default address that is best effort: a pod without IPv6 still gets its IPv4 listener. */
export const BEST_EFFORT_DEFAULT_ADDRESS = '::1';

/** A session request's query, its ports as `Port`. */
export interface AgentSessionQueryOf<Port> {
  readonly namespace: string;
  readonly pod: string;
  readonly podUID: string;
  readonly ports: readonly Port[];
  /** Empty: the agent's {@link DEFAULT_LISTEN_ADDRESSES}. */
  readonly addresses: readonly string[];
}

/** What a session request asks for. */
export type AgentSessionQuery = AgentSessionQueryOf<number>;

/** A session request's query as it arrived, before the agent checks it (ports as the text sent, to quote in errors). */
export type RawAgentSessionQuery = AgentSessionQueryOf<string>;

/** The path and query of a session request. */
export function formatAgentSessionRequest(query: AgentSessionQuery): string {
  const params = new URLSearchParams();
  params.append(AGENT_QUERY.namespace, query.namespace);
  params.append(AGENT_QUERY.pod, query.pod);
  params.append(AGENT_QUERY.podUID, query.podUID);
  for (const p of query.ports) params.append(AGENT_QUERY.ports, String(p));
  for (const a of query.addresses) params.append(AGENT_QUERY.address, a);
  return `${AGENT_SESSIONS_PATH}?${params.toString()}`;
}

/** Reads a session request's query; missing names read as empty (the agent validates). */
export function parseAgentSessionRequest(params: URLSearchParams): RawAgentSessionQuery {
  return {
    namespace: params.get(AGENT_QUERY.namespace) ?? '',
    pod: params.get(AGENT_QUERY.pod) ?? '',
    podUID: params.get(AGENT_QUERY.podUID) ?? '',
    ports: params.getAll(AGENT_QUERY.ports),
    addresses: params.getAll(AGENT_QUERY.address),
  };
}

/** Headers rpf-server sends with a session request, besides the client's WebSocket handshake. */
export const AGENT_HEADERS = {
  /** The user, as UTF-8 bytes. */
  user: 'X-Rpf-User',
  /** kube-apiserver's audit ID, when it sent one. */
  auditId: 'Audit-Id',
} as const;

/** Who asks for a session. */
export interface AgentCaller {
  readonly user: string;
  /** Empty when kube-apiserver sent none. */
  readonly auditId: string;
}

/**
 * The caller as headers. The user goes as its UTF-8 bytes, as kube-apiserver
 * sends X-Remote-User (Node writes each character of a header string as one
 * Latin-1 byte, and refuses characters above U+00FF).
 */
export function formatAgentCaller(caller: AgentCaller): Record<string, string> {
  const headers: Record<string, string> = { [AGENT_HEADERS.user]: Buffer.from(caller.user, 'utf8').toString('latin1') };
  if (caller.auditId !== '') headers[AGENT_HEADERS.auditId] = caller.auditId;
  return headers;
}

/** Reads the caller from a request's headers (Node's lower-cased names; its parser hands values over as Latin-1). */
export function parseAgentCaller(headers: Readonly<Record<string, string | string[] | undefined>>): AgentCaller {
  const header = (name: string): string => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  };
  return { user: Buffer.from(header(AGENT_HEADERS.user), 'latin1').toString('utf8'), auditId: header(AGENT_HEADERS.auditId) };
}

/** One listener of a session. */
export interface AgentSessionListener {
  readonly address: string;
  readonly port: number;
  /** The port asked for (0: the agent picked `port`). */
  readonly requestedPort: number;
}

/** One session, as `GET /v1/sessions` lists it. */
export interface AgentSessionSummary {
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUID: string;
  readonly user: string;
  readonly ports: readonly AgentSessionListener[];
  readonly connections: { readonly open: number; readonly total: number };
  readonly bytesToPod: number;
  readonly bytesFromPod: number;
  /** RFC 3339. */
  readonly startTime: string;
}

/** The body of `GET /v1/sessions`. */
export interface AgentSessionList {
  readonly items: readonly AgentSessionSummary[];
}

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field?: string;
}

/** `Status.details` as Kubernetes serialises it. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** A Kubernetes `Status` object (meta/v1): every error either side answers is one. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** What a failure Status is made of (both components' error classes have these fields). */
export interface StatusFailure {
  /** The HTTP status. */
  readonly status: number;
  readonly reason: string;
  readonly message: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string; readonly causes?: readonly StatusCause[] } | undefined;
}

// Field by field: only the defined fields, never whatever else an object carries.
function toStatusDetails(details: NonNullable<StatusFailure['details']>): StatusDetails {
  const out: StatusDetails = {};
  if (details.name !== undefined) out.name = details.name;
  if (details.group !== undefined) out.group = details.group;
  if (details.kind !== undefined) out.kind = details.kind;
  if (details.causes !== undefined && details.causes.length > 0) out.causes = details.causes.map((c) => ({ ...c }));
  return out;
}

/** The `Failure` Status of an error. */
export function failureStatus(failure: StatusFailure): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: failure.message, reason: failure.reason, code: failure.status };
  if (failure.details !== undefined) status.details = toStatusDetails(failure.details);
  return status;
}

/** A `Success` Status, as DELETE answers it. */
export function successStatus(details?: StatusFailure['details']): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details !== undefined) status.details = toStatusDetails(details);
  return status;
}

/** One header line of a raw response, name as it should be written. */
export type HeaderLine = readonly [name: string, value: string];

/** The standard reason phrase of an HTTP status (Node's table). */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

/**
 * The head of an HTTP/1.1 response written straight to a socket (status line,
 * header lines, blank line): the one place that spells the wire format, for
 * sockets no HTTP server writes on any more (upgrade requests).
 */
export function formatResponseHead(status: number, statusMessage: string, headers: readonly HeaderLine[]): string {
  const lines = [`HTTP/1.1 ${status} ${statusMessage}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * A Status as a complete response that closes its connection: JSON body,
 * Content-Type, Content-Length, the `extra` headers, Connection: close.
 */
export function formatStatusResponse(status: Status, extra: readonly HeaderLine[] = []): { head: string; body: string } {
  const body = JSON.stringify(status);
  const head = formatResponseHead(status.code, reasonPhrase(status.code), [
    ['Content-Type', 'application/json'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ...extra,
    ['Connection', 'close'],
  ]);
  return { head, body };
}
