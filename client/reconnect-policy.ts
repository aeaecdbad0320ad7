// Which ends of a session may pass and which are final: the one decision of
// whether kubectl-rpf reconnects, follows its workload to another pod, or
// stops with the error. Pure; reconnecting-forward.ts acts on it.
//
// Final: what another attempt would only repeat (403, 401, 400, a protocol
// mismatch, a session an administrator deleted or a policy ended) and, for a
// plain pod, the pod being gone. Transient: what a restart or the network
// explains (the WebSocket closed, keepalive, GOAWAY SHUTTING_DOWN or
// INTERNAL_ERROR, 408/429/5xx answers while rpf-server or kube-apiserver
// restarts, a port our own old session may still hold). For a TYPE/NAME
// target, a pod that is gone, missing or not running means: follow the
// workload to another pod.

import { GOAWAY_REASON, RpfProtocolError } from '../protocol/index.ts';
import type { RpfClientError } from './errors.ts';

/** What to do after an error: stop with it, try the same pod again, or resolve the target again first. */
export type ReconnectVerdict = 'final' | 'retry' | 'follow';

/** HTTP answers that a restart, an overload or a moment's outage explains. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** GOAWAY reasons that mean "this process went away", not "you may not". */
const TRANSIENT_GOAWAY = new Set<number>([GOAWAY_REASON.SHUTTING_DOWN, GOAWAY_REASON.INTERNAL_ERROR]);

/** Answers that are about the pod, which a workload target replaces. */
const POD_UPSTREAM_CODES = new Set(['RPF_ERR_SERVER_POD_TERMINATING', 'RPF_ERR_AGENT_POD_NOT_FOUND']);

/** The GOAWAY reason behind a lost session, if a GOAWAY ended it. */
function goawayReason(error: RpfClientError): number | undefined {
  const cause = error.cause;
  return cause instanceof RpfProtocolError && cause.code === 'RPF_ERR_PROTOCOL_GOAWAY' ? cause.reason : undefined;
}

/** A pod-level refusal: follow when the target is a workload, else final. */
function podLevel(followsWorkload: boolean): ReconnectVerdict {
  return followsWorkload ? 'follow' : 'final';
}

/**
 * Whether a session that ended with `error`, or a reconnect attempt that
 * failed with it, is worth another attempt. `followsWorkload` is true for
 * TYPE/NAME targets other than pods.
 */
export function reconnectVerdict(error: RpfClientError, followsWorkload: boolean): ReconnectVerdict {
  switch (error.code) {
    case 'RPF_ERR_CLIENT_CONNECTION_LOST':
    case 'RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT':
    case 'RPF_ERR_CLIENT_CONNECT_FAILED':
    case 'RPF_ERR_CLIENT_LISTENING_TIMEOUT':
    case 'RPF_ERR_CLIENT_NOT_AVAILABLE':
    // A credential plugin that needs the network (a token refresh) fails
    // while the network is down; a wrong kubeconfig failed at the start.
    case 'RPF_ERR_CLIENT_CREDENTIALS':
      return 'retry';
    case 'RPF_ERR_CLIENT_SESSION_ENDED': {
      const reason = goawayReason(error);
      return reason !== undefined && TRANSIENT_GOAWAY.has(reason) ? 'retry' : 'final';
    }
    case 'RPF_ERR_CLIENT_POD_GONE':
    case 'RPF_ERR_CLIENT_POD_NOT_FOUND':
    case 'RPF_ERR_CLIENT_POD_NOT_RUNNING':
      return podLevel(followsWorkload);
    case 'RPF_ERR_CLIENT_UPSTREAM':
      if (error.upstreamCode !== undefined && POD_UPSTREAM_CODES.has(error.upstreamCode)) return podLevel(followsWorkload);
      // 409: a port in use, perhaps by our own old session that the agent has
      // not yet found dead (its keepalive); reconnecting-forward.ts decides
      // when a port the pod had picked is given up.
      if (error.status === 409) return 'retry';
      return error.status !== undefined && TRANSIENT_STATUS.has(error.status) ? 'retry' : 'final';
    default:
      // FORBIDDEN, UNAUTHORIZED, VERSION_MISMATCH, PROTOCOL, TARGET_NOT_FOUND,
      // NOT_INSTALLED, INVALID_*, KUBECONFIG, INTERNAL: another attempt would
      // only say the same.
      return 'final';
  }
}

/** The pod port a 409 names (`... listener: port 8080 already in use`, the agent's KEP-5695 message), if any. */
export function portInUse(error: RpfClientError): number | undefined {
  if (error.status !== 409) return undefined;
  const port = /port (\d+) already in use/.exec(error.message)?.[1];
  return port === undefined ? undefined : Number(port);
}
