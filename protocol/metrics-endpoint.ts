// The plain-HTTP /metrics endpoint both rpf-server and rpf-agent serve on
// --metrics-port, as a pure handler: request line in, response out. Each
// component serves it with its own few lines of node:http (protocol/ does no
// I/O); the routes and answers are written once, here.

/** What the endpoint reads (prom-client's Registry has both). */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** A complete plain-HTTP answer. */
export interface PlainResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const text = (status: number, body: string): PlainResponse => ({ status, headers: { 'content-type': 'text/plain' }, body });

/**
 * The answer to one request: `GET /metrics` (Prometheus text, or 500 with the
 * reason when collecting fails), `GET /healthz` (ok), 404 for anything else.
 * Never rejects.
 */
export async function metricsEndpointResponse(source: MetricsSource, method: string | undefined, url: string | undefined): Promise<PlainResponse> {
  const path = (url ?? '/').split('?')[0];
  if (method === 'GET' && path === '/metrics') {
    try {
      const body = await source.metrics();
      return { status: 200, headers: { 'content-type': source.contentType }, body };
    } catch (err) {
      return text(500, err instanceof Error ? err.message : String(err));
    }
  }
  if (method === 'GET' && path === '/healthz') return text(200, 'ok');
  return text(404, 'not found');
}
