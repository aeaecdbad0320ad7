// The /metrics endpoint both components serve (protocol/metrics-endpoint.ts), as a pure handler.
import test from 'ava';
import { metricsEndpointResponse } from '../../protocol/index.ts';

const source = { contentType: 'text/plain; version=0.0.4', metrics: async () => 'rpf_up 1\n' };

const cases = [
  { name: 'GET /metrics answers the registry text in its content type', method: 'GET', url: '/metrics?x=1', status: 200, type: source.contentType, body: 'rpf_up 1\n' },
  { name: 'GET /healthz answers ok', method: 'GET', url: '/healthz', status: 200, type: 'text/plain', body: 'ok' },
  { name: 'another path is not found', method: 'GET', url: '/other', status: 404, type: 'text/plain', body: 'not found' },
  { name: 'another method is not found', method: 'POST', url: '/metrics', status: 404, type: 'text/plain', body: 'not found' },
];

for (const c of cases) {
  test(`metrics endpoint: ${c.name}`, async (t) => {
    t.deepEqual(await metricsEndpointResponse(source, c.method, c.url), { status: c.status, headers: { 'content-type': c.type }, body: c.body });
  });
}

test('a registry that fails to collect is answered 500 with its reason, never a rejection', async (t) => {
  const failing = { contentType: 'x', metrics: async () => Promise.reject(new Error('collector broke')) };
  t.deepEqual(await metricsEndpointResponse(failing, 'GET', '/metrics'), { status: 500, headers: { 'content-type': 'text/plain' }, body: 'collector broke' });
});
