// The bounds rpf-server and rpf-agent put on their HTTPS servers before a peer
// has authenticated (STYLE habit 15), turned into Node's https.createServer
// settings. Both daemons need the same mapping, so it is written once here;
// it is pure (numbers in, settings out) and each daemon applies the result to
// its own server. What each does with the connections the bounds catch
// differs and stays in its connection-guards.ts.

/** The timeouts of an HTTPS server, in milliseconds. */
export interface HttpsServerLimits {
  /** From TCP accept to a finished TLS handshake. */
  readonly tlsHandshakeTimeoutMs: number;
  /** From the connection (or a later request's first byte) to the end of the request headers. */
  readonly requestHeaderTimeoutMs: number;
  /** The same, to the end of the whole request (headers and body). */
  readonly requestTimeoutMs: number;
  /** Idle time allowed between the end of a response and the next request. */
  readonly keepAliveTimeoutMs: number;
}

/** The https.createServer settings that enforce {@link HttpsServerLimits}. */
export interface HttpsServerTimeouts {
  readonly handshakeTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly connectionsCheckingInterval: number;
}

/**
 * How often Node looks for requests past their header or request timeout (it
 * checks on an interval, 30 s by default, which would add up to 30 s to every
 * bound): a quarter of the shorter timeout, between 10 ms and 1 s.
 */
export function checkingInterval(limits: Pick<HttpsServerLimits, 'requestHeaderTimeoutMs' | 'requestTimeoutMs'>): number {
  return Math.min(1000, Math.max(10, Math.floor(Math.min(limits.requestHeaderTimeoutMs, limits.requestTimeoutMs) / 4)));
}

/** Settings for https.createServer (fastify hands its `https` options to it). */
export function httpsServerTimeouts(limits: HttpsServerLimits): HttpsServerTimeouts {
  return {
    handshakeTimeout: limits.tlsHandshakeTimeoutMs,
    headersTimeout: limits.requestHeaderTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
  };
}
