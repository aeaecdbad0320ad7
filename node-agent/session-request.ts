// Checks a session request (`GET /v1/sessions`, protocol/agent-api.ts; docs/agent-api.md).
// rpf-server validated it already; the agent checks again because it opens
// sockets in someone's pod on the strength of it.
import net from 'node:net';
import { BEST_EFFORT_DEFAULT_ADDRESS, DEFAULT_LISTEN_ADDRESSES, parseAgentCaller, parseAgentSessionRequest } from '../protocol/index.ts';
import { RpfAgentError } from './errors.ts';
import type { ListenerSpec } from './netns-listeners.ts';
import type { SessionTarget } from './tunnel-session.ts';

/** A validated session request. */
export interface SessionRequest {
  target: SessionTarget;
  listeners: ListenerSpec[];
  /** Whether any address reaches beyond the pod's loopback. */
  exposed: boolean;
  /** kube-apiserver's audit ID of the request, to join our logs with its audit log. */
  auditId: string;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Reads a session request from the URL and rpf-server's identity headers. */
export function parseSessionRequest(url: URL, headers: Record<string, string | string[] | undefined>): SessionRequest {
  const { namespace, pod, podUID, ports: portTexts, addresses: requested } = parseAgentSessionRequest(url.searchParams);
  const problems: string[] = [];
  if (!NAME.test(namespace)) problems.push(`namespace "${namespace}" is not a valid name`);
  if (!NAME.test(pod)) problems.push(`pod "${pod}" is not a valid name`);
  if (!podUID) problems.push('podUID is required');
  const ports = portTexts.map((text) => {
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    if (!(port >= 0 && port <= 65535)) problems.push(`port "${text}" is not a number between 0 and 65535`);
    return port;
  });
  if (ports.length === 0) problems.push('at least one port is required');
  for (const address of requested) if (net.isIP(address) === 0) problems.push(`address "${address}" is not an IP address`);
  if (problems.length > 0) throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `invalid session request: ${problems.join('; ')}`);

  const addresses = requested.length > 0 ? requested : DEFAULT_LISTEN_ADDRESSES;
  const listeners: ListenerSpec[] = [];
  for (const [group, port] of ports.entries()) {
    for (const address of addresses) {
      // The default ::1 is best effort, as kubectl port-forward treats it: a pod
      // without IPv6 still gets its 127.0.0.1 listener.
      listeners.push({ address, port, group, optional: requested.length === 0 && address === BEST_EFFORT_DEFAULT_ADDRESS });
    }
  }
  const exposed = addresses.some((address) => !(address === '::1' || address.startsWith('127.')));
  const { user, auditId } = parseAgentCaller(headers);
  return { target: { namespace, pod, podUID, user: user || 'unknown' }, listeners, exposed, auditId };
}
