/**
 * Logging: pino JSON lines. Each tunnel writes one line when it starts and
 * one when it ends (who, where, which ports, how long, how it ended, bytes).
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** A JSON logger at `level`, to stdout unless a stream is given. */
export function createLogger(level: string, stream?: DestinationStream): Logger {
  const options = { level, base: { component: 'rpf-server' }, timestamp: pino.stdTimeFunctions.isoTime };
  return stream === undefined ? pino(options) : pino(options, stream);
}

/** Who opened a tunnel to where. */
export interface SessionFields {
  readonly user: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUID: string;
  readonly node: string;
  readonly agent: string;
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
  readonly auditId: string;
}

/** How a tunnel ended: which side closed first, or the error. */
export interface SessionEnd {
  readonly durationMs: number;
  /** revoked: a re-authorization was denied; max-lifetime: --max-session-lifetime (both ended by rpf-server, issue 11). */
  readonly endedBy: 'client' | 'agent' | 'client-error' | 'agent-error' | 'server-shutdown' | 'revoked' | 'max-lifetime';
  readonly bytesToPod: number;
  readonly bytesFromPod: number;
  readonly error?: string;
  /** Why rpf-server ended it: the Forbidden text, or the lifetime message. */
  readonly detail?: string;
}

/** The line for a tunnel that was just upgraded. */
export function logSessionStart(logger: Logger, session: SessionFields): void {
  logger.info({ event: 'session-start', ...session }, 'reverse port-forward session started');
}

/** The line for a tunnel that ended. */
export function logSessionEnd(logger: Logger, session: SessionFields, end: SessionEnd): void {
  logger.info({ event: 'session-end', ...session, ...end }, 'reverse port-forward session ended');
}
