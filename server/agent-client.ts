/**
 * Talking to rpf-agents: a dialer that opens mutual-TLS requests (the one
 * thing tests replace), and a helper for the agents' small JSON API. Tunnel
 * upgrades are HTTP/1.1 on a connection each; the small calls (list, delete)
 * go over one kept HTTP/2 connection per agent (agent-sessions.ts).
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import http2Wrapper from 'http2-wrapper';
import type { RequestOptions } from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Clock } from './clock.ts';
import { RpfServerError } from './errors.ts';
import { AgentSessionPool } from './agent-sessions.ts';
import type { AgentTarget } from './pods.ts';

/** One request to an agent. */
export interface AgentRequestOptions {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** Idle time (ms) before the request fails with a timeout. */
  readonly timeoutMs: number;
}

/** Opens requests to agents. The caller ends the request and handles its events. */
export interface AgentDialer {
  /** A request on a connection of its own (HTTP/1.1): what a tunnel's upgrade needs. */
  request(target: AgentTarget, options: AgentRequestOptions): ClientRequest;
  /** A plain request on the agent's kept connection (HTTP/2); without it, plain requests use `request`. */
  call?(target: AgentTarget, options: AgentRequestOptions): ClientRequest;
  /** Forgets the kept connection to an agent (it timed out: it may be dead without knowing it). */
  discard?(target: AgentTarget): void;
  /** Closes the kept connections (server shutdown). */
  close?(): void;
}

/** The TLS material for agents. */
export interface AgentTls {
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** The name the agent's certificate must carry. */
  readonly serverName: string;
}

/**
 * highWaterMark of the sockets to agents, both ways (Node's default is 64 KiB).
 * Where a tunnel's socket is spliced with pipe() (socket-relay.ts falls back to it
 * where Node's internals differ), pipe() pauses the reading side whenever a write
 * leaves this much queued: at 64 KiB that is after almost every TLS write of a bulk
 * transfer. Measured for issue 9 (docs/dataplane-profile.md;
 * DESIGN.md: 3.6 -> 2.2 CPU-s/GiB for a relay in a pod with 256 KiB on both sockets).
 * It is a bound, not an allocation: a socket holds this much only while its peer is
 * slower than the other side.
 */
export const AGENT_SOCKET_HIGH_WATER_MARK = 256 * 1024;

/** A dialer over mutual TLS with fixed material. */
export function createAgentDialer(tls: () => AgentTls, options: { sessions?: AgentSessionPool } = {}): AgentDialer {
  const sessions = options.sessions ?? new AgentSessionPool(tls);
  const dialer: AgentDialer = {
    call(target, options) {
      // An agent from before HTTP/2 (a rolling upgrade): a request on a connection of its own.
      if (!sessions.speaksHttp2(target)) return dialer.request(target, options);
      return http2Wrapper.request({
        h2session: sessions.session(target),
        // :authority; the agent does not read it (its certificate names no pod IP).
        hostname: target.host,
        port: target.port,
        method: options.method,
        path: options.path,
        headers: options.headers,
        timeout: options.timeoutMs,
      });
    },
    discard: (target) => sessions.discard(target),
    close: () => sessions.close(),
    request(target, options) {
      const material = tls();
      // highWaterMark reaches tls.connect through the request options (Node's types lack it).
      const requestOptions: RequestOptions & { highWaterMark: number } = {
        host: target.host,
        port: target.port,
        method: options.method,
        path: options.path,
        headers: options.headers,
        ca: material.ca,
        cert: material.cert,
        key: material.key,
        // The agent is verified as serverName (not its pod IP): tls checks the servername.
        servername: material.serverName,
        rejectUnauthorized: true,
        agent: false,
        timeout: options.timeoutMs,
        highWaterMark: AGENT_SOCKET_HIGH_WATER_MARK,
      };
      return httpsRequest(requestOptions);
    },
  };
  return dialer;
}

/** Files of the agent TLS material, re-read every few minutes so rotated certificates are picked up. */
export interface AgentTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly serverName: string;
}

/** Reads the agent TLS files now and again after `maxAgeMs`. */
export function agentTlsFromFiles(files: AgentTlsFiles, clock: Clock, maxAgeMs = 5 * 60_000): () => AgentTls {
  let cached: { at: number; tls: AgentTls } | undefined;
  const read = (): AgentTls => ({
    ca: readFileSync(files.caFile),
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    serverName: files.serverName,
  });
  return () => {
    const now = clock.now();
    if (cached === undefined || now - cached.at > maxAgeMs) {
      try {
        cached = { at: now, tls: read() };
      } catch (err) {
        // Keep the material we had while a rotation is half-written.
        if (cached === undefined) throw err;
      }
    }
    return cached.tls;
  };
}

/** Maps a failure to reach an agent to an RpfServerError. */
export function agentFailure(target: AgentTarget, err: unknown): RpfServerError {
  if (err instanceof RpfServerError) return err;
  const message = (err as Error)?.message ?? String(err);
  return new RpfServerError(
    'RPF_ERR_SERVER_AGENT_UNREACHABLE',
    `cannot reach the rpf-agent on node ${target.nodeName} (${target.podName} at ${target.host}:${target.port}): ${message}`,
    undefined,
    { cause: err },
  );
}

/** The error for an agent that did not answer in time. */
export function agentTimeout(target: AgentTarget): RpfServerError {
  return new RpfServerError('RPF_ERR_SERVER_AGENT_TIMEOUT', `the rpf-agent on node ${target.nodeName} did not answer in time`);
}

/** A finished response of an agent. */
export interface AgentResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** Most bytes read from an agent's non-upgrade answer. */
export const MAX_AGENT_BODY = 8 * 1024 * 1024;

/** Reads a whole response body, up to {@link MAX_AGENT_BODY}. */
export function readBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_AGENT_BODY) {
        res.destroy(new Error('response too large'));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

/** Why a call failed before any answer, and whether another connection may do better. */
class CallFailure extends Error {
  readonly error: unknown;
  /** No answer began and it was not a timeout: the kept connection may have died (an agent restarted). */
  readonly retriable: boolean;

  constructor(error: unknown, retriable: boolean) {
    super('agent call failed');
    this.error = error;
    this.retriable = retriable;
  }
}

function callOnce(dialer: AgentDialer, target: AgentTarget, method: string, path: string, timeoutMs: number): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    try {
      const options = { method, path, headers: { accept: 'application/json' }, timeoutMs };
      req = dialer.call === undefined ? dialer.request(target, options) : dialer.call(target, options);
    } catch (err) {
      reject(new CallFailure(err, false));
      return;
    }
    let answered = false;
    let timedOut = false;
    req.on('timeout', () => {
      timedOut = true;
      // A connection that went silent may be dead (a node gone): the next call dials afresh.
      dialer.discard?.(target);
      req.destroy(agentTimeout(target));
    });
    req.on('error', (err) => reject(new CallFailure(err, !answered && !timedOut)));
    req.on('response', (res) => {
      answered = true;
      readBody(res).then(
        (body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
        (err: unknown) => reject(new CallFailure(err, false)),
      );
    });
    req.end();
  });
}

/**
 * Makes one plain request to an agent and returns its whole answer. On the
 * kept connection, a failure before any answer (the agent restarted and its
 * old connection is dead, which this side learns only by using it) is tried
 * once more on a new connection; list and delete are both safe to repeat.
 */
export async function agentCall(dialer: AgentDialer, target: AgentTarget, method: string, path: string, timeoutMs: number): Promise<AgentResponse> {
  try {
    return await callOnce(dialer, target, method, path, timeoutMs);
  } catch (first) {
    const failure = first as CallFailure;
    if (dialer.call === undefined || !failure.retriable) throw agentFailure(target, failure.error);
    dialer.discard?.(target);
    try {
      return await callOnce(dialer, target, method, path, timeoutMs);
    } catch (second) {
      throw agentFailure(target, (second as CallFailure).error);
    }
  }
}
