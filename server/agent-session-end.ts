/**
 * Asking an rpf-agent to end one session it holds, with the GOAWAY reason
 * and message the client will see (docs/agent-api.md, DELETE
 * /v1/sessions/<id>): how rpf-server ends a tunnel whose authorization was
 * revoked or whose lifetime is over. It only asks; the caller cuts its splice
 * whatever the answer.
 */
import { formatAgentSessionEnd } from '../protocol/index.ts';
import type { AgentSessionEnd } from '../protocol/index.ts';
import { agentCall } from './agent-client.ts';
import type { AgentDialer } from './agent-client.ts';
import type { AgentTarget } from './pods.ts';

/** What {@link endAgentSession} needs. */
export interface AgentSessionEndDeps {
  readonly dialer: AgentDialer;
  /** How long the agent may take to answer (ms). */
  readonly agentTimeoutMs: number;
}

/** How the agent answered: ended, or why not (for the log). */
export type AgentSessionEndResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Asks `agent` to end session `id` with `end`; never rejects. */
export async function endAgentSession(deps: AgentSessionEndDeps, agent: AgentTarget, id: string, end: AgentSessionEnd): Promise<AgentSessionEndResult> {
  try {
    const res = await agentCall(deps.dialer, agent, 'DELETE', formatAgentSessionEnd(id, end), deps.agentTimeoutMs);
    if (res.status === 200) return { ok: true };
    return { ok: false, error: `the rpf-agent answered ${res.status}: ${res.body.toString('utf8').slice(0, 512)}` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
