/**
 * The splice of an upgraded tunnel: the agent answered 101, so the client
 * gets the same 101 (with the agent's headers), and from then on bytes are
 * piped both ways, unparsed, counted per direction. The proxy keeps no
 * half-open tunnels (as kube-apiserver's): when one side ends, its FIN is
 * passed on, the other side gets a second to flush, then both close; an
 * error on either side closes both at once. When both sockets have closed,
 * the session's end is logged (who ended it first, bytes, duration) and the
 * caller is told.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AgentUpgrade, ClientUpgrade } from './agent-upgrade.ts';
import type { Clock } from './clock.ts';
import { logSessionEnd, logSessionStart } from './logging.ts';
import type { SessionEnd, SessionFields } from './logging.ts';
import type { ServerMetrics } from './metrics.ts';
import { canRelayWithoutCopy, relayWithoutCopy } from './socket-relay.ts';
import { formatResponseHead } from './status.ts';
import type { HeaderLine } from './status.ts';
import type { PreparedTunnel } from './tunnel-authorization.ts';

/** How long the side that did not end first may flush before both close (ms). */
const HALF_CLOSE_GRACE_MS = 1000;

/** What {@link spliceTunnel} needs. */
export interface TunnelSpliceDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
}

/** A spliced tunnel. */
export interface Splice {
  /** Closes both sides at once, recording `endedBy` unless the tunnel was already ending. */
  end(endedBy: SessionEnd['endedBy']): void;
  /**
   * Records why rpf-server is about to end the tunnel (it asked the agent
   * to), unless it was already ending: the end is logged with that cause even
   * when the agent's socket closes first.
   */
  expectEnd(endedBy: 'revoked' | 'max-lifetime', detail: string): void;
}

/**
 * Moves `from`'s bytes into `to`, counting them: without a fresh Buffer per
 * read where Node allows it (socket-relay.ts, issue 9), else piped. Ends are
 * the splice's (below) either way.
 */
function relay(from: Socket, to: Socket, onBytes: (length: number) => void): void {
  if (canRelayWithoutCopy(from)) {
    relayWithoutCopy(from, to, onBytes);
    return;
  }
  from.on('data', (chunk: Buffer) => onBytes(chunk.length));
  from.pipe(to);
}

function sessionFields(t: PreparedTunnel): SessionFields {
  return {
    user: t.user.user,
    namespace: t.pod.namespace,
    pod: t.pod.name,
    podUID: t.pod.uid,
    node: t.pod.nodeName,
    agent: t.agent.podName,
    ports: t.query.ports,
    addresses: t.query.addresses,
    auditId: t.auditId,
  };
}

/**
 * Answers the client 101 and pipes it to the agent's socket until both close;
 * `onClosed` runs once, when both have closed, with the end that is logged then.
 */
export function spliceTunnel(deps: TunnelSpliceDeps, client: ClientUpgrade, agent: AgentUpgrade, tunnel: PreparedTunnel, onClosed: (end: SessionEnd) => void): Splice {
  const { socket } = client;
  const agentSocket = agent.socket;
  const headers: HeaderLine[] = [];
  for (let i = 0; i + 1 < agent.res.rawHeaders.length; i += 2) headers.push([agent.res.rawHeaders[i] ?? '', agent.res.rawHeaders[i + 1] ?? '']);
  // A tunnel may idle for hours (keepalive is the peers' business) and carries small frames.
  agentSocket.setTimeout(0);
  socket.setTimeout(0);
  agentSocket.setNoDelay(true);
  socket.setNoDelay(true);
  socket.write(formatResponseHead(101, 'Switching Protocols', headers));
  if (agent.head.length > 0) socket.write(agent.head);
  if (client.head.length > 0) agentSocket.write(client.head);

  const fields = sessionFields(tunnel);
  const toPod = deps.metrics.bytes.labels('to_pod');
  const fromPod = deps.metrics.bytes.labels('from_pod');
  let bytesToPod = client.head.length;
  let bytesFromPod = agent.head.length;
  relay(socket, agentSocket, (length) => {
    bytesToPod += length;
    toPod.inc(length);
  });
  relay(agentSocket, socket, (length) => {
    bytesFromPod += length;
    fromPod.inc(length);
  });

  let endedBy: SessionEnd['endedBy'] | undefined;
  let error: string | undefined;
  let detail: string | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const record = (by: SessionEnd['endedBy'], err?: Error): void => {
    if (endedBy !== undefined) return;
    endedBy = by;
    if (err !== undefined) error = err.message;
  };
  const destroyBoth = (): void => {
    socket.destroy();
    agentSocket.destroy();
  };
  const onEnd = (by: 'client' | 'agent', other: Socket) => () => {
    record(by);
    other.end();
    graceTimer ??= setTimeout(destroyBoth, HALF_CLOSE_GRACE_MS);
    graceTimer.unref();
  };
  socket.on('end', onEnd('client', agentSocket));
  agentSocket.on('end', onEnd('agent', socket));
  const onError = (by: 'client-error' | 'agent-error') => (err: Error) => {
    record(by, err);
    destroyBoth();
  };
  socket.on('error', onError('client-error'));
  agentSocket.on('error', onError('agent-error'));
  let closed = 0;
  const onClose = (by: 'client' | 'agent') => () => {
    record(by);
    destroyBoth();
    if (++closed < 2) return;
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    const durationMs = deps.clock.now() - client.started;
    deps.metrics.sessionsActive.dec();
    deps.metrics.sessionDuration.observe(durationMs / 1000);
    const end: SessionEnd = {
      durationMs,
      endedBy: endedBy ?? by,
      bytesToPod,
      bytesFromPod,
      ...(error === undefined ? {} : { error }),
      ...(detail === undefined ? {} : { detail }),
    };
    logSessionEnd(deps.logger, fields, end);
    onClosed(end);
  };
  socket.once('close', onClose('client'));
  agentSocket.once('close', onClose('agent'));

  deps.metrics.sessionsActive.inc();
  deps.metrics.sessionRequests.inc({ outcome: 'upgraded' });
  deps.metrics.requestDuration.observe({ kind: 'tunnel', code: '101' }, (deps.clock.now() - client.started) / 1000);
  logSessionStart(deps.logger, fields);
  return {
    end(by) {
      record(by);
      destroyBoth();
    },
    expectEnd(by, why) {
      if (endedBy !== undefined) return;
      record(by);
      detail = why;
    },
  };
}
