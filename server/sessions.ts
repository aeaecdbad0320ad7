/**
 * The `reverseportforwards` resource (get, list, delete) and the plain GET of
 * pods/POD/reverseportforward: served by asking the agents for their
 * sessions. kube-apiserver's RBAC has already allowed the verb; agents that
 * do not answer are reported in a `Warning` header (kubectl prints it) and
 * the list holds what the others said.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AGENT_SESSIONS_PATH, agentSessionPath } from '../protocol/index.ts';
import { agentCall } from './agent-client.ts';
import type { AgentDialer } from './agent-client.ts';
import type { Clock } from './clock.ts';
import { API_PREFIX, GROUP, SESSIONS_RESOURCE, SUBRESOURCE } from './constants.ts';
import { RpfServerError } from './errors.ts';
import type { KubeClient } from './kube-client.ts';
import { findAs, parseAccept, sendTyped } from './media-type.ts';
import { findAgentOnNode, listAgents } from './pods.ts';
import type { AgentLocation, AgentTarget } from './pods.ts';
import { parseAgentSessions, toReversePortForward, toReversePortForwardList, toTable } from './session-objects.ts';
import type { IncludeObject, LocatedSession } from './session-objects.ts';
import { successStatus } from './status.ts';

/** What the session routes need. */
export interface SessionRoutesDeps {
  readonly kube: KubeClient;
  readonly dialer: AgentDialer;
  readonly agents: AgentLocation;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long one agent may take to answer (ms). */
  readonly agentTimeoutMs: number;
}

/** Sessions gathered from agents, and what went wrong on the way. */
interface Gathered {
  readonly sessions: (LocatedSession & { readonly agent: AgentTarget })[];
  readonly warnings: string[];
}

/** Asks each agent for its sessions, in parallel. */
async function gather(deps: SessionRoutesDeps, agents: readonly AgentTarget[]): Promise<Gathered> {
  const warnings: string[] = [];
  const results = await Promise.all(
    agents.map(async (agent) => {
      try {
        const res = await agentCall(deps.dialer, agent, 'GET', AGENT_SESSIONS_PATH, deps.agentTimeoutMs);
        const parsed = res.status === 200 ? parseAgentSessions(JSON.parse(res.body.toString('utf8'))) : undefined;
        if (parsed === undefined) throw new Error(`answered ${res.status}`);
        return parsed.map((session) => ({ session, node: agent.nodeName, agent }));
      } catch (err) {
        const message = `sessions on node ${agent.nodeName} are missing: the rpf-agent ${agent.podName} did not list them (${(err as Error).message})`;
        deps.logger.warn({ agent: agent.podName, node: agent.nodeName, err }, 'cannot list sessions of an agent');
        warnings.push(message);
        return [];
      }
    }),
  );
  return { sessions: results.flat(), warnings };
}

function warningHeader(message: string): string {
  return `299 - "${message.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function rejectWatch(request: FastifyRequest): void {
  const watch = (request.query as Record<string, unknown>)['watch'];
  if (watch === 'true' || watch === '1') {
    throw new RpfServerError('RPF_ERR_SERVER_METHOD_NOT_ALLOWED', `watch is not supported on ${SESSIONS_RESOURCE}`);
  }
}

function includeObject(request: FastifyRequest): IncludeObject {
  const v = (request.query as Record<string, unknown>)['includeObject'];
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

/** Answers a list as a Table when asked (kubectl get), else as a ReversePortForwardList. */
function sendSessions(deps: SessionRoutesDeps, request: FastifyRequest, reply: FastifyReply, gathered: Gathered, sessions: readonly LocatedSession[]): FastifyReply {
  if (gathered.warnings.length > 0) reply.header('warning', gathered.warnings.map(warningHeader));
  const table = findAs(parseAccept(request.headers.accept), 'Table', 'meta.k8s.io', ['v1', 'v1beta1']);
  if (table !== undefined) {
    const version = table.params['v'] ?? 'v1';
    const body = toTable(sessions, deps.clock.now(), version, includeObject(request));
    return sendTyped(reply, `application/json;as=Table;v=${version};g=meta.k8s.io`, JSON.stringify(body));
  }
  return sendTyped(reply, 'application/json', JSON.stringify(toReversePortForwardList(sessions)));
}

function notFound(name: string): RpfServerError {
  return new RpfServerError('RPF_ERR_SERVER_SESSION_NOT_FOUND', `${SESSIONS_RESOURCE}.${GROUP} "${name}" not found`, { name, group: GROUP, kind: SESSIONS_RESOURCE });
}

function methodNotAllowed(request: FastifyRequest): never {
  throw new RpfServerError('RPF_ERR_SERVER_METHOD_NOT_ALLOWED', `the server does not allow this method on the requested resource (${request.method})`);
}

type NsParams = { namespace: string };
type NameParams = { namespace: string; name: string };
type PodParams = { namespace: string; pod: string };

/** Registers the session routes. */
export function registerSessionRoutes(app: FastifyInstance, deps: SessionRoutesDeps): void {
  const all = async (): Promise<Gathered> => {
    const census = await listAgents(deps.kube, deps.agents);
    const gathered = await gather(deps, census.ready);
    // A node whose agent is down (crashed, restarting) still has sessions, or will again: say whose are missing.
    const unready = census.unready.map((a) => `sessions on node ${a.nodeName} are missing: its rpf-agent ${a.podName} is not ready`);
    return { sessions: gathered.sessions, warnings: [...unready, ...gathered.warnings] };
  };

  app.get(`${API_PREFIX}/${SESSIONS_RESOURCE}`, async (request, reply) => {
    rejectWatch(request);
    const gathered = await all();
    return sendSessions(deps, request, reply, gathered, gathered.sessions);
  });

  app.get<{ Params: NsParams }>(`${API_PREFIX}/namespaces/:namespace/${SESSIONS_RESOURCE}`, async (request, reply) => {
    rejectWatch(request);
    const gathered = await all();
    return sendSessions(deps, request, reply, gathered, gathered.sessions.filter((s) => s.session.namespace === request.params.namespace));
  });

  const findOne = async (params: NameParams): Promise<{ gathered: Gathered; found: Gathered['sessions'][number] }> => {
    const gathered = await all();
    const found = gathered.sessions.find((s) => s.session.namespace === params.namespace && s.session.id === params.name);
    if (found === undefined) throw notFound(params.name);
    return { gathered, found };
  };

  app.get<{ Params: NameParams }>(`${API_PREFIX}/namespaces/:namespace/${SESSIONS_RESOURCE}/:name`, async (request, reply) => {
    const { gathered, found } = await findOne(request.params);
    if (findAs(parseAccept(request.headers.accept), 'Table', 'meta.k8s.io', ['v1', 'v1beta1']) !== undefined) {
      return sendSessions(deps, request, reply, gathered, [found]);
    }
    return sendTyped(reply, 'application/json', JSON.stringify(toReversePortForward(found)));
  });

  app.delete<{ Params: NameParams }>(`${API_PREFIX}/namespaces/:namespace/${SESSIONS_RESOURCE}/:name`, async (request, reply) => {
    const { found } = await findOne(request.params);
    const res = await agentCall(deps.dialer, found.agent, 'DELETE', agentSessionPath(found.session.id), deps.agentTimeoutMs);
    if (res.status === 404) throw notFound(request.params.name);
    if (res.status >= 400) {
      // The agent's own Status, relayed as it came.
      return reply.code(res.status).type(res.headers['content-type'] ?? 'application/json').send(res.body);
    }
    deps.logger.info({ event: 'session-delete', session: found.session.id, namespace: found.session.namespace, node: found.node }, 'session deleted on request');
    return sendTyped(reply, 'application/json', JSON.stringify(successStatus({ name: found.session.id, group: GROUP, kind: SESSIONS_RESOURCE })));
  });

  app.get<{ Params: PodParams }>(`${API_PREFIX}/namespaces/:namespace/pods/:pod/${SUBRESOURCE}`, async (request, reply) => {
    const { namespace, pod: name } = request.params;
    let pod;
    try {
      pod = await deps.kube.getPod(namespace, name);
    } catch (err) {
      throw new RpfServerError('RPF_ERR_SERVER_KUBE_API', `cannot read pod ${namespace}/${name}: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (pod === undefined) throw new RpfServerError('RPF_ERR_SERVER_POD_NOT_FOUND', `pods "${name}" not found`, { name, kind: 'pods' });
    const empty: Gathered = { sessions: [], warnings: [] };
    const gathered = pod.nodeName === '' ? empty : await gather(deps, [await findAgentOnNode(deps.kube, deps.agents, pod.nodeName)]);
    const mine = gathered.sessions.filter((s) => s.session.namespace === namespace && s.session.pod === name);
    return sendSessions(deps, request, reply, gathered, mine);
  });

  const others = ['POST', 'PUT', 'PATCH'] as const;
  app.route({ method: [...others, 'DELETE'], url: `${API_PREFIX}/${SESSIONS_RESOURCE}`, handler: methodNotAllowed });
  app.route({ method: [...others, 'DELETE'], url: `${API_PREFIX}/namespaces/:namespace/${SESSIONS_RESOURCE}`, handler: methodNotAllowed });
  app.route({ method: [...others], url: `${API_PREFIX}/namespaces/:namespace/${SESSIONS_RESOURCE}/:name`, handler: methodNotAllowed });
  app.route({ method: [...others, 'DELETE'], url: `${API_PREFIX}/namespaces/:namespace/pods/:pod/${SUBRESOURCE}`, handler: methodNotAllowed });
}
