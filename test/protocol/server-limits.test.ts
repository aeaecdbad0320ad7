import test from 'ava';
import { checkingInterval, httpsServerTimeouts } from '../../protocol/server-limits.ts';

test('each bound becomes its https.createServer setting', (t) => {
  t.deepEqual(httpsServerTimeouts({ tlsHandshakeTimeoutMs: 10_000, requestHeaderTimeoutMs: 32_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 90_000 }), {
    handshakeTimeout: 10_000,
    headersTimeout: 32_000,
    requestTimeout: 60_000,
    keepAliveTimeout: 90_000,
    connectionsCheckingInterval: 1000,
  });
});

const intervals: { name: string; header: number; request: number; interval: number }[] = [
  { name: 'a quarter of the header timeout when it is the shorter', header: 200, request: 300, interval: 50 },
  { name: 'a quarter of the request timeout when it is the shorter', header: 400, request: 200, interval: 50 },
  { name: 'never more than 1 s', header: 32_000, request: 60_000, interval: 1000 },
  { name: 'never less than 10 ms', header: 1, request: 1, interval: 10 },
];
for (const c of intervals) {
  test(`Node checks for expired requests ${c.name}`, (t) => {
    t.is(checkingInterval({ requestHeaderTimeoutMs: c.header, requestTimeoutMs: c.request }), c.interval);
  });
}
