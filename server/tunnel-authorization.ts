/**
 * The authorization step of a tunnel request, from the upgrade request to a
 * prepared tunnel (who, which pod, which agent, which ports), with no socket
 * in sight. In order:
 *
 * 1. authenticate (the front-proxy certificate and X-Remote-* headers);
 * 2. parse the path (namespace and pod), 404 for any other path;
 * 3. check the upgrade: a GET asking for a WebSocket, nothing else;
 * 4. reserve one of the user's session slots (--max-sessions-per-user), 429
 *    at the cap. Steps 1-4 are synchronous: nothing is awaited between the
 *    cap's check and the reservation, so concurrent upgrades cannot pass it
 *    together, and a refused request costs no API call;
 * 5. authorize `create` with a SubjectAccessReview;
 * 6. validate the query (ports, addresses) only then, so a refused user is
 *    told 403 whatever the query, and `expose` for a non-loopback address;
 * 6b. validating admission webhooks (admission-webhooks.ts), when configured;
 * 7. resolve the pod and the agent on its node. Both are looked up (with
 *    rpf-server's own credentials) while the user is authorized, to save two
 *    round trips, but their answer is used and their errors reported only
 *    once the user may create the tunnel: a refused user learns nothing of
 *    the pod (403 before 404).
 *
 * Every refusal is a thrown RpfServerError; after step 4 the slot is given
 * back before the error leaves this step.
 */
import type { IncomingMessage } from 'node:http';
import type { Authorizer } from './authorizer.ts';
import { API_PREFIX, SUBRESOURCE } from './constants.ts';
import type { TunnelAdmission } from './admission-webhooks.ts';
import { RpfServerError } from './errors.ts';
import type { RequestAuthenticator, UserInfo } from './front-proxy-auth.ts';
import type { KubeClient, PodInfo } from './kube-client.ts';
import { findAgentOnNode, resolveTargetPod } from './pods.ts';
import type { AgentLocation, AgentTarget } from './pods.ts';
import type { PortRange } from './port-ranges.ts';
import { isLoopback, parseTunnelQuery } from './query.ts';
import type { TunnelQuery } from './query.ts';
import type { SessionLimiter, SessionSlot } from './session-limit.ts';

const TUNNEL_PATH = new RegExp(`^${API_PREFIX.replaceAll('.', '\\.')}/namespaces/([^/]+)/pods/([^/]+)/${SUBRESOURCE}$`);

/** The namespace and pod of a tunnel path, or undefined for any other path. */
export function parseTunnelPath(pathname: string): { namespace: string; pod: string } | undefined {
  const m = TUNNEL_PATH.exec(pathname);
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  try {
    return { namespace: decodeURIComponent(m[1]), pod: decodeURIComponent(m[2]) };
  } catch {
    return undefined;
  }
}

/** What {@link authorizeTunnel} needs. */
export interface TunnelAuthorizationDeps {
  readonly auth: RequestAuthenticator;
  readonly authorizer: Authorizer;
  readonly kube: KubeClient;
  readonly agents: AgentLocation;
  readonly allowedPorts: readonly PortRange[];
  readonly allowHostNetworkPods: boolean;
  /** The per-user session cap. */
  readonly sessions: SessionLimiter;
  /** Validating admission webhooks for CONNECT on pods/reverseportforward (admission-webhooks.ts); none when absent. */
  readonly admission?: TunnelAdmission;
  /** Refuses VM-sandboxed pods (sandbox-policy.ts); none when absent. */
  readonly sandbox?: { check(pod: PodInfo): Promise<void> };
}

/** A tunnel that passed every check: everything the agent request and the splice need. */
export interface PreparedTunnel {
  readonly user: UserInfo;
  readonly query: TunnelQuery;
  readonly pod: PodInfo;
  readonly agent: AgentTarget;
  /** Released when the tunnel ends (the client socket closes) or the request fails. */
  readonly slot: SessionSlot;
  /** kube-apiserver's Audit-Id of the request, or ''. */
  readonly auditId: string;
}

/** A request past its synchronous checks: it holds `slot` while `prepared` settles. */
export interface PendingTunnel {
  readonly slot: SessionSlot;
  /** The prepared tunnel, or the refusal (the slot is released by then). */
  readonly prepared: Promise<PreparedTunnel>;
}

/**
 * Runs the authorization pipeline on an upgrade request. Steps 1-4 throw
 * synchronously (no slot is held then); the rest settle `prepared`.
 */
export function authorizeTunnel(deps: TunnelAuthorizationDeps, req: IncomingMessage): PendingTunnel {
  const user = deps.auth.authenticate(req);
  const url = new URL(req.url ?? '/', 'https://rpf-server');
  const target = parseTunnelPath(url.pathname);
  if (target === undefined) throw new RpfServerError('RPF_ERR_SERVER_NOT_FOUND', `the server could not find the requested resource (${url.pathname})`);
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (req.method !== 'GET' || upgrade !== 'websocket') {
    throw new RpfServerError('RPF_ERR_SERVER_UNSUPPORTED_UPGRADE', `only a GET WebSocket upgrade is supported, got ${req.method ?? ''} with Upgrade: ${upgrade}`);
  }
  const slot = deps.sessions.tryReserve(user.user);
  if (slot === undefined) {
    throw new RpfServerError(
      'RPF_ERR_SERVER_USER_SESSION_LIMIT',
      `too many reverse port-forward sessions: user "${user.user}" already holds ${deps.sessions.max}, the most one user may hold through this rpf-server (--max-sessions-per-user)`,
    );
  }
  const auditId = req.headers['audit-id'];
  const prepared = prepare(deps, { user, target, params: url.searchParams, slot, auditId: typeof auditId === 'string' ? auditId : '' }).catch((err: unknown) => {
    slot.release();
    throw err;
  });
  return { slot, prepared };
}

/** What the synchronous steps found. */
interface Admitted {
  readonly user: UserInfo;
  readonly target: { readonly namespace: string; readonly pod: string };
  readonly params: URLSearchParams;
  readonly slot: SessionSlot;
  readonly auditId: string;
}

/** Steps 5-7. */
async function prepare(deps: TunnelAuthorizationDeps, admitted: Admitted): Promise<PreparedTunnel> {
  const { user, target } = admitted;
  const located = resolveTargetPod(deps.kube, target.namespace, target.pod, deps.allowHostNetworkPods, deps.sandbox).then(async (pod) => ({
    pod,
    agent: await findAgentOnNode(deps.kube, deps.agents, pod.nodeName),
  }));
  located.catch(() => {}); // awaited below unless authorization fails first
  await deps.authorizer.authorize(user, target, 'create');
  const query = parseTunnelQuery(admitted.params, deps.allowedPorts);
  if (query.addresses.some((a) => !isLoopback(a))) await deps.authorizer.authorize(user, target, 'expose');
  // Admission after authorization, as kube-apiserver orders them: webhooks hear only of requests the user may make.
  if (deps.admission !== undefined) await deps.admission.admit({ namespace: target.namespace, pod: target.pod, user, ports: query.ports, addresses: query.addresses });
  const { pod, agent } = await located;
  return { user, query, pod, agent, slot: admitted.slot, auditId: admitted.auditId };
}
