// Which RESET or OPEN_FAIL reason a local socket error becomes, so the other
// side learns why (docs/protocol.md, "Reason codes").

import { CHANNEL_REASON } from './constants.ts';
import type { ChannelReason } from './constants.ts';
import { RpfProtocolError } from './errors.ts';

/** The RESET or OPEN_FAIL reason that best describes a local error. */
export function channelReasonFor(error: Error | null | undefined): ChannelReason {
  if (error === null || error === undefined) return CHANNEL_REASON.CANCELLED;
  if (error instanceof RpfProtocolError && error.reason !== undefined) return error.reason;
  switch ((error as { code?: unknown }).code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return CHANNEL_REASON.CONNECTION_RESET;
    case 'ECONNREFUSED':
      return CHANNEL_REASON.CONNECT_REFUSED;
    case 'ETIMEDOUT':
      return CHANNEL_REASON.TIMEOUT;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return CHANNEL_REASON.CONNECT_FAILED;
    default:
      return CHANNEL_REASON.INTERNAL_ERROR;
  }
}
