// Turns an HTTP refusal from kube-apiserver, rpf-server or rpf-agent into an
// RpfClientError. All three answer with a Kubernetes `Status` body whose
// `message` is written for the user, so that message becomes ours verbatim;
// plain-text bodies (a proxy in the way) are quoted briefly.

import type { IncomingHttpHeaders } from 'node:http';
import { RpfClientError } from './errors.ts';
import type { ClientErrorCode } from './errors.ts';
import { http } from './node-http.ts';

/** Response header in which rpf-server names its RPF_ERR_SERVER_* code. */
export const ERROR_CODE_HEADER = 'x-rpf-error-code';

/** The parts of a Kubernetes `Status` the client reads. */
export interface StatusBody {
  kind: 'Status';
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

/** Most characters of a non-Status body quoted in a message. */
const MAX_QUOTED = 200;

/** The body as a Status, or undefined when it is not one. */
export function parseStatus(body: string): StatusBody | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status') return value as StatusBody;
  } catch {
    // not JSON
  }
  return undefined;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The server's or agent's own error code: rpf-server's header, else a Status cause named RPF_ERR_*. */
function upstreamCodeOf(headers: IncomingHttpHeaders, status: StatusBody | undefined): string | undefined {
  const fromHeader = header(headers, ERROR_CODE_HEADER);
  if (fromHeader) return fromHeader;
  return status?.details?.causes?.find((c) => typeof c.reason === 'string' && c.reason.startsWith('RPF_ERR_'))?.reason;
}

function clientCode(httpStatus: number, upstreamCode: string | undefined): ClientErrorCode {
  if (upstreamCode === 'RPF_ERR_AGENT_VERSION_MISMATCH') return 'RPF_ERR_CLIENT_VERSION_MISMATCH';
  if (upstreamCode === 'RPF_ERR_SERVER_POD_NOT_FOUND') return 'RPF_ERR_CLIENT_POD_NOT_FOUND';
  if (upstreamCode === 'RPF_ERR_SERVER_POD_NOT_RUNNING' || upstreamCode === 'RPF_ERR_SERVER_POD_TERMINATING') return 'RPF_ERR_CLIENT_POD_NOT_RUNNING';
  if (httpStatus === 401) return 'RPF_ERR_CLIENT_UNAUTHORIZED';
  if (httpStatus === 403) return 'RPF_ERR_CLIENT_FORBIDDEN';
  return 'RPF_ERR_CLIENT_UPSTREAM';
}

function quote(body: string): string {
  const line = body.trim().split('\n')[0]?.trim() ?? '';
  return line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED)}...` : line;
}

/**
 * The error for a refused request. `context` prefixes messages that do not
 * come from a Status (e.g. "error upgrading connection"); a Status message is
 * used as it is.
 */
export function statusError(httpStatus: number, headers: IncomingHttpHeaders, body: string, context: string): RpfClientError {
  const status = parseStatus(body);
  const upstreamCode = upstreamCodeOf(headers, status);
  const code = clientCode(httpStatus, upstreamCode);
  const phrase = `${httpStatus} ${http.STATUS_CODES[httpStatus] ?? ''}`.trim();
  let message: string;
  if (status?.message) message = status.message;
  else if (status !== undefined) message = `${context}: the server answered ${phrase}${status.reason ? ` (${status.reason})` : ''}`;
  else if (httpStatus === 401) message = `${context}: the server has asked for the client to provide credentials (401 Unauthorized)`;
  else {
    const text = quote(body);
    message = `${context}: the server answered ${phrase}${text ? `: ${text}` : ''}`;
  }
  return new RpfClientError(code, message, { status: httpStatus, ...(upstreamCode === undefined ? {} : { upstreamCode }) });
}
