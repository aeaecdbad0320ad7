/**
 * An rpf-agent from before HTTP/2 (met during a rolling upgrade) speaks
 * HTTP/1.1 only: rpf-server's calls to it (listing, deleting) still get their
 * answer, over HTTP/1.1, and later calls go there directly instead of trying
 * HTTP/2 first each time. Real TLS, a real HTTPS server, the real dialer.
 */
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { agentCall, createAgentDialer } from '../../server/agent-client.ts';
import { AgentSessionPool } from '../../server/agent-sessions.ts';
import type { AgentTarget } from '../../server/pods.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

const material = () => ({ ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, serverName: 'rpf-agent' });

/** An agent of the old kind: HTTPS, HTTP/1.1 only, counting its TLS connections and requests by protocol. */
async function http1Agent() {
  const seen = { connections: 0, requests: [] as string[] };
  const server = createServer({ cert: pki.agentServing.cert, key: pki.agentServing.key, ca: pki.agentCa.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    seen.requests.push(`HTTP/${req.httpVersion} ${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sessions: [] }));
  });
  server.on('secureConnection', () => seen.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const target: AgentTarget = { host: '127.0.0.1', port: (server.address() as AddressInfo).port, nodeName: 'node-old', podName: 'rpf-agent-old' };
  return { seen, target, close: () => server.close() };
}

test('an agent without HTTP/2 is answered over HTTP/1.1, and called that way directly afterwards', async (t) => {
  const agent = await http1Agent();
  t.teardown(agent.close);
  let now = 1_000_000;
  const sessions = new AgentSessionPool(material, { now: () => now });
  const dialer = createAgentDialer(material, { sessions });
  t.teardown(() => dialer.close?.());

  const first = await agentCall(dialer, agent.target, 'GET', '/v1/sessions', 5000);
  t.is(first.status, 200);
  t.deepEqual(JSON.parse(first.body.toString()), { sessions: [] });
  t.false(sessions.speaksHttp2(agent.target));
  // The HTTP/2 attempt (a TLS connection that negotiated HTTP/1.1), then the call itself.
  t.is(agent.seen.connections, 2);

  const second = await agentCall(dialer, agent.target, 'DELETE', '/v1/sessions/x', 5000);
  t.is(second.status, 200);
  t.is(agent.seen.connections, 3, 'straight to HTTP/1.1: one connection');
  t.deepEqual(agent.seen.requests, ['HTTP/1.1 GET /v1/sessions', 'HTTP/1.1 DELETE /v1/sessions/x']);

  // Some minutes later HTTP/2 is tried again (the agent may have been upgraded by then); it still answers.
  now += 5 * 60_000 + 1;
  t.true(sessions.speaksHttp2(agent.target));
  const third = await agentCall(dialer, agent.target, 'GET', '/v1/sessions', 5000);
  t.is(third.status, 200);
  t.false(sessions.speaksHttp2(agent.target));
});
