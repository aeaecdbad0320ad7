// Why a running session ended, as the one error the user reads: the agent's
// GOAWAY, the keepalive, or the WebSocket closing under the session. Whether
// the client then reconnects is reconnect-policy.ts's question.

import { GOAWAY_REASON } from '../protocol/index.ts';
import type { RpfProtocolError } from '../protocol/index.ts';
import { RpfClientError } from './errors.ts';
import type { ResolvedPod } from './pod-resolver.ts';

/** The start of every line that reports a lost session. */
export const LOST_PREFIX = "lost connection to the pod's reverse port-forward";

// protocol/session.ts words a peer's GOAWAY as this prefix and the peer's message.
const GOAWAY_PREFIX = /^the other side ended the tunnel session:?\s*/;

/** The peer's own GOAWAY message, without the session's wording around it. */
function peerMessage(error: RpfProtocolError): string {
  return error.message.replace(GOAWAY_PREFIX, '');
}

/** The error for a session that ended without close(); `error` is the session's close error. */
export function lostError(error: RpfProtocolError | undefined, pod: ResolvedPod): RpfClientError {
  if (error === undefined) return new RpfClientError('RPF_ERR_CLIENT_SESSION_ENDED', `${LOST_PREFIX}: the agent ended the session`);
  switch (error.code) {
    case 'RPF_ERR_PROTOCOL_GOAWAY':
      // Worded from what we know of the pod, not from the agent's text.
      if (error.reason === GOAWAY_REASON.POD_GONE) {
        return new RpfClientError('RPF_ERR_CLIENT_POD_GONE', `${LOST_PREFIX}: pod ${pod.namespace}/${pod.name} is gone (deleted or stopped)`, { cause: error });
      }
      // Revoked authorization: the agent's message is the Forbidden text
      // rpf-server got, and the user reads it as it is, like a 403 at the start.
      if (error.reason === GOAWAY_REASON.FORBIDDEN) {
        const text = peerMessage(error);
        return new RpfClientError('RPF_ERR_CLIENT_FORBIDDEN', text || `${LOST_PREFIX}: forbidden`, { cause: error, status: 403 });
      }
      return new RpfClientError('RPF_ERR_CLIENT_SESSION_ENDED', `${LOST_PREFIX}: ${error.message}`, { cause: error });
    case 'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT':
      return new RpfClientError('RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT', `${LOST_PREFIX}: ${error.message}`, { cause: error });
    case 'RPF_ERR_PROTOCOL_TRANSPORT_CLOSED': {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      return new RpfClientError('RPF_ERR_CLIENT_CONNECTION_LOST', `${LOST_PREFIX}: ${cause}`, { cause: error });
    }
    default:
      return new RpfClientError('RPF_ERR_CLIENT_PROTOCOL', `${LOST_PREFIX}: protocol error: ${error.message}`, { cause: error });
  }
}
