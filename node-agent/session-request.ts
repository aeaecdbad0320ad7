// Parses and checks the query of `GET /v1/sessions` (docs/agent-api.md).
// rpf-server validated it already; the agent checks again because it opens
// sockets in someone's pod on the strength of it.
import net from 'node:net';
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

const DEFAULT_ADDRESSES = ['127.0.0.1', '::1'];
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Reads a session request from the URL and rpf-server's identity headers. */
export function parseSessionRequest(url: URL, headers: Record<string, string | string[] | undefined>): SessionRequest {
  const q = url.searchParams;
  const problems: string[] = [];
  const namespace = q.get('namespace') ?? '';
  const pod = q.get('pod') ?? '';
  const podUID = q.get('podUID') ?? '';
  if (!NAME.test(namespace)) problems.push(`namespace "${namespace}" is not a valid name`);
  if (!NAME.test(pod)) problems.push(`pod "${pod}" is not a valid name`);
  if (!podUID) problems.push('podUID is required');
  const ports = q.getAll('ports').map((text) => {
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    if (!(port >= 0 && port <= 65535)) problems.push(`port "${text}" is not a number between 0 and 65535`);
    return port;
  });
  if (ports.length === 0) problems.push('at least one port is required');
  const requested = q.getAll('address');
  for (const address of requested) if (net.isIP(address) === 0) problems.push(`address "${address}" is not an IP address`);
  if (problems.length > 0) throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `invalid session request: ${problems.join('; ')}`);

  const addresses = requested.length > 0 ? requested : DEFAULT_ADDRESSES;
  const listeners: ListenerSpec[] = [];
  for (const [group, port] of ports.entries()) {
    for (const address of addresses) {
      // The default ::1 is best effort, as kubectl port-forward treats it: a pod
      // without IPv6 still gets its 127.0.0.1 listener.
      listeners.push({ address, port, group, optional: requested.length === 0 && address === '::1' });
    }
  }
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  };
  const exposed = addresses.some((address) => !(address === '::1' || address.startsWith('127.')));
  // rpf-server sends the user as UTF-8 bytes; Node's parser hands header values over as Latin-1.
  const user = Buffer.from(header('x-rpf-user'), 'latin1').toString('utf8');
  return { target: { namespace, pod, podUID, user: user || 'unknown' }, listeners, exposed, auditId: header('audit-id') };
}
