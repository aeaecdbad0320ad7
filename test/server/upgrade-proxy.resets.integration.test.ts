// Peers that reset instead of closing: the client (kube-apiserver's side) and
// the agent each send an RST at every stage of a tunnel request (before the
// answer, during a relayed Status, during the splice). rpf-server runs in this
// test's process, so an unhandled socket error would fail the file; each case
// also proves the server still opens a tunnel afterwards and forgot the dead one.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connectResettable, startResettableTlsServer } from '../helpers/resettable-tls.ts';
import type { ResettableTls } from '../helpers/resettable-tls.ts';
import { ALLOW } from './helpers/fakes.ts';
import type { AccessReviewResult } from '../../server/kube-client.ts';
import { eventually, once, openTunnel, rawRequest, startHarness, tunnelPath, userHeaders } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

async function harness(t: { teardown(fn: () => Promise<void>): void }): Promise<Harness> {
  const h = await startHarness(pki);
  t.teardown(() => h.close());
  return h;
}

/** Sends a tunnel upgrade as kube-apiserver would, on a socket the test can reset. */
async function rawUpgrade(h: Harness, path = tunnelPath('dev', 'web', 'ports=8080')): Promise<ResettableTls> {
  const conn = await connectResettable(h.port, {
    ca: pki.servingCa.cert,
    cert: pki.frontProxyClient.cert,
    key: pki.frontProxyClient.key,
    servername: 'localhost',
  });
  conn.tls.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Protocol: v1.rpf.kube-rpf.dev\r\nX-Remote-User: alice\r\nX-Remote-Group: dev\r\n\r\n',
  );
  return conn;
}

/** The server is up and works: a new tunnel through the real agent stand-in echoes, and nothing is left open. */
async function assertServerStillWorks(t: { is(a: unknown, b: unknown): void }, h: Harness): Promise<void> {
  h.agentPorts.set(h.agent.host, h.agent.port);
  await eventually(() => h.server.proxy.activeCount === 0, 'the reset tunnel to be forgotten');
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  const greeting = once<[Buffer]>(ws, 'message');
  await once(ws, 'open');
  t.is((await greeting)[0].toString(), 'hello from the agent');
  ws.close();
  await eventually(() => h.server.proxy.activeCount === 0, 'the check tunnel to close');
}

/** A hostile agent on the stand-in's address: `behave` gets each request's socket once its headers arrived. */
async function hostileAgent(t: { teardown(fn: () => Promise<void>): void }, h: Harness, behave: (socket: import('node:tls').TLSSocket, reset: () => void) => void) {
  const server = await startResettableTlsServer(h.agent.host, { key: pki.agentServing.key, cert: pki.agentServing.cert }, (socket, reset) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      behave(socket, reset);
    };
    socket.on('data', onData);
  });
  t.teardown(() => server.close());
  h.agentPorts.set(h.agent.host, server.port);
  return server;
}

function outcome(h: Harness, name: string): Promise<number | undefined> {
  return h.metrics.sessionRequests.get().then((m) => m.values.find((v) => v.labels['outcome'] === name)?.value);
}

test('a client that resets while it is being authorized costs nothing: the agent is never asked', async (t) => {
  const h = await harness(t);
  let allow: (r: AccessReviewResult) => void = () => {};
  h.kube.review = () => new Promise((resolve) => (allow = resolve));
  const conn = await rawUpgrade(h);
  await eventually(() => h.kube.reviews.length === 1, 'the SubjectAccessReview');
  conn.reset();
  await new Promise((r) => setTimeout(r, 50));
  allow(ALLOW);
  h.kube.review = () => ALLOW;
  await eventually(() => h.agent.requests.length === 0, 'no agent request');
  await assertServerStillWorks(t, h);
  t.is(h.agent.requests.length, 1, 'only the check tunnel reached the agent');
  t.is(await outcome(h, 'client_gone'), 1);
});

test('a client that resets while the agent opens listeners abandons the agent request', async (t) => {
  const h = await harness(t);
  h.agent.behaviour = { kind: 'hang' };
  const conn = await rawUpgrade(h);
  await eventually(() => h.agent.requests.length === 1, 'the agent request');
  conn.reset();
  await h.agent.hangingClosed();
  h.agent.behaviour = { kind: 'accept' };
  await assertServerStillWorks(t, h);
  t.is(await outcome(h, 'client_gone'), 1);
});

test('an agent that resets before answering is a 503 Status for the client', async (t) => {
  const h = await harness(t);
  await hostileAgent(t, h, (_socket, reset) => reset());
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 503);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_AGENT_UNREACHABLE');
  await assertServerStillWorks(t, h);
});

test('an agent that resets in the middle of its Status is a 503 Status for the client', async (t) => {
  const h = await harness(t);
  await hostileAgent(t, h, (socket, reset) => {
    socket.write('HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"kind":"Status"');
    setTimeout(reset, 20);
  });
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 503);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_AGENT_UNREACHABLE');
  await assertServerStillWorks(t, h);
});

test('a client that resets while a large agent Status is relayed to it costs the server nothing', async (t) => {
  const h = await harness(t);
  const body = JSON.stringify({ kind: 'Status', code: 409, message: 'x'.repeat(4 * 1024 * 1024) });
  h.agent.behaviour = { kind: 'status', code: 409, body };
  const conn = await rawUpgrade(h);
  await conn.receivedAtLeast(1);
  t.regex(conn.received().toString('latin1', 0, 12), /^HTTP\/1\.1 40/);
  conn.reset();
  h.agent.behaviour = { kind: 'accept' };
  await assertServerStillWorks(t, h);
});

test('a client that resets in the middle of a tunnel ends that tunnel only, as a client error', async (t) => {
  const h = await harness(t);
  const other = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  await once(other, 'open');
  const conn = await rawUpgrade(h);
  await eventually(() => conn.received().includes('hello from the agent'), "the agent's greeting");
  t.regex(conn.received().toString('latin1', 0, 12), /^HTTP\/1\.1 101/);
  await eventually(() => h.server.proxy.activeCount === 2, 'both tunnels');
  conn.tls.write(Buffer.alloc(64 * 1024, 1)); // a frame in flight, unmasked and half-sent: the agent will drop it
  conn.reset();
  await eventually(() => h.server.proxy.activeCount === 1, 'the reset tunnel to end');
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end'), 'the session-end line');
  const end = h.logLines.find((l) => l['event'] === 'session-end');
  // Either how the kernel reports a reset (a read error, or an end when it lands after our own write failed).
  t.true(['client-error', 'client'].includes(String(end?.['endedBy'])), String(end?.['endedBy']));
  const echoed = once<[Buffer]>(other, 'message');
  other.send('still here');
  t.is((await echoed)[0].toString(), 'echo: still here');
  other.close();
  await assertServerStillWorks(t, h);
});

test('an agent that resets in the middle of a tunnel ends that tunnel as an agent error, and the client sees it close', async (t) => {
  const h = await harness(t);
  let resetAgent: () => void = () => {};
  await hostileAgent(t, h, (socket, reset) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.write(Buffer.alloc(32 * 1024, 2));
    resetAgent = reset;
  });
  const conn = await rawUpgrade(h);
  const closed = new Promise<void>((r) => conn.tls.once('close', () => r()));
  // A reset discards what the receiver has not read yet: reset once the bytes went through.
  await conn.receivedAtLeast(32 * 1024);
  resetAgent();
  await closed;
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end'), 'the session-end line');
  const end = h.logLines.find((l) => l['event'] === 'session-end');
  t.is(end?.['endedBy'], 'agent-error');
  await assertServerStillWorks(t, h);
});
