// Ending one session on rpf-server's request (docs/agent-api.md, "List and
// end sessions"): the 101 names the session, and DELETE takes an optional
// GOAWAY reason and message, which is what the client then prints. Real
// mutual TLS and WebSockets; the pod's namespace is this process's.
import https from 'node:https';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import test from 'ava';
import WebSocket from 'ws';
import {
  AGENT_SESSION_ID_HEADER,
  GOAWAY_REASON,
  SUPPORTED_SUBPROTOCOLS,
  Session,
  agentSessionPath,
  formatAgentSessionEnd,
  type ListenerInfo,
  type RpfProtocolError,
} from '../../protocol/index.ts';
import { makeTestPki, type TestPki } from '../server/helpers/pki.ts';
import { startTestAgent, UID } from './helpers/test-agent.ts';

let pki: TestPki;

test.before(() => {
  pki = makeTestPki();
});

test.after.always(() => pki?.cleanup());

/** An open session as rpf-server sees it: the 101's headers, and the client's protocol session. */
interface Opened {
  readonly ws: WebSocket;
  readonly session: Session;
  readonly upgrade: IncomingMessage;
  readonly listeners: Promise<ListenerInfo[]>;
  readonly closed: Promise<RpfProtocolError | undefined>;
}

function openSession(port: number): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const options: ConnectionOptions & { headers: Record<string, string> } = {
      ca: pki.agentCa.cert,
      cert: pki.agentClient.cert,
      key: pki.agentClient.key,
      servername: 'rpf-agent',
      headers: { 'X-Rpf-User': 'alice' },
    };
    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], options as WebSocket.ClientOptions);
    ws.on('error', reject);
    let upgrade: IncomingMessage | undefined;
    ws.on('upgrade', (res) => (upgrade = res));
    ws.on('open', () => {
      const session = new Session({ role: 'client', send: (m, done) => ws.send(m, done) });
      const listeners = new Promise<ListenerInfo[]>((r) => session.once('listening', r));
      const closed = new Promise<RpfProtocolError | undefined>((r) => session.once('close', r));
      ws.on('message', (d: Buffer, isBinary: boolean) => session.receive(d, isBinary));
      resolve({ ws, session, upgrade: upgrade!, listeners, closed });
    });
  });
}

function callAgent(port: number, method: string, path: string): Promise<{ status: number; body: { status?: string; details?: { causes?: { reason: string; message: string }[] } } }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, servername: 'rpf-agent' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The agent's GOAWAY message, as the protocol session reports it ("the other side ended the tunnel session: MESSAGE"). */
function goawayMessage(error: RpfProtocolError | undefined): string {
  return (error?.message ?? '').replace(/^the other side ended the tunnel session: /, '');
}

/** Resolves true once nothing accepts connections on the port any more. */
async function refused(port: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

test('the 101 names the session in X-Rpf-Session: the id the session list and DELETE use', async (t) => {
  const { agent, port } = await startTestAgent(pki);
  const opened = await openSession(port);
  try {
    const id = opened.upgrade.headers[AGENT_SESSION_ID_HEADER.toLowerCase()];
    t.is(typeof id, 'string');
    t.deepEqual([...agent.sessions.keys()], [id]);
    t.regex(String(id), /^api-[0-9a-f]{8}$/);
  } finally {
    opened.ws.terminate();
    await agent.close();
  }
});

test('DELETE with reason FORBIDDEN sends that GOAWAY with the Forbidden text, and closes the listeners', async (t) => {
  const { agent, port } = await startTestAgent(pki);
  const opened = await openSession(port);
  try {
    const [listener] = await opened.listeners;
    const id = String(opened.upgrade.headers['x-rpf-session']);
    // A user name of multi-byte characters: the WebSocket close reason is cut by bytes, not characters.
    const message = `pods "api" is forbidden: User "${'é'.repeat(80)}" cannot create resource "pods/reverseportforward" in API group "rpf.kube-rpf.dev" in the namespace "dev"`;
    const res = await callAgent(port, 'DELETE', formatAgentSessionEnd(id, { reason: GOAWAY_REASON.FORBIDDEN, message }));
    t.is(res.status, 200);
    t.is(res.body.status, 'Success');
    const error = await opened.closed;
    t.is(error?.code, 'RPF_ERR_PROTOCOL_GOAWAY');
    t.is(error?.reason, GOAWAY_REASON.FORBIDDEN);
    t.is(goawayMessage(error), message);
    t.true(await refused(listener!.port), 'the listener in the pod is closed');
    t.is(agent.sessions.size, 0);
  } finally {
    opened.ws.terminate();
    await agent.close();
  }
});

test('DELETE with reason POLICY ends the session with that reason; a plain DELETE is still an administrator\'s', async (t) => {
  const { agent, port } = await startTestAgent(pki);
  const a = await openSession(port);
  const b = await openSession(port);
  try {
    const policy = await callAgent(port, 'DELETE', formatAgentSessionEnd(String(a.upgrade.headers['x-rpf-session']), { reason: GOAWAY_REASON.POLICY, message: 'the session reached its maximum lifetime of 1h0m0s' }));
    t.is(policy.status, 200);
    const ea = await a.closed;
    t.is(ea?.reason, GOAWAY_REASON.POLICY);
    t.is(goawayMessage(ea), 'the session reached its maximum lifetime of 1h0m0s');
    const plain = await callAgent(port, 'DELETE', agentSessionPath(String(b.upgrade.headers['x-rpf-session'])));
    t.is(plain.status, 200);
    const eb = await b.closed;
    t.is(eb?.reason, GOAWAY_REASON.DELETED);
    t.is(goawayMessage(eb), 'the session was deleted by an administrator');
  } finally {
    a.ws.terminate();
    b.ws.terminate();
    await agent.close();
  }
});

const badEnds = [
  { name: 'a reason the API does not allow (NORMAL)', query: `reason=${GOAWAY_REASON.NORMAL}` },
  { name: 'a reason that is no number', query: 'reason=forbidden' },
  { name: 'a message over 1024 bytes', query: `reason=8&message=${'x'.repeat(1025)}` },
];

for (const bad of badEnds) {
  test(`DELETE with ${bad.name} is a 400 and the session lives on`, async (t) => {
    const { agent, port } = await startTestAgent(pki);
    const opened = await openSession(port);
    try {
      const id = String(opened.upgrade.headers['x-rpf-session']);
      const res = await callAgent(port, 'DELETE', `${agentSessionPath(id)}?${bad.query}`);
      t.is(res.status, 400);
      t.is(res.body.details?.causes?.[0]?.reason, 'RPF_ERR_AGENT_BAD_REQUEST');
      t.true(agent.sessions.has(id));
      t.is(opened.session.closed, false);
    } finally {
      opened.ws.terminate();
      await agent.close();
    }
  });
}

test('formatAgentSessionEnd cuts a message over the bound on a character boundary, so a long Forbidden text still ends the session', async (t) => {
  const { agent, port } = await startTestAgent(pki);
  const opened = await openSession(port);
  try {
    const id = String(opened.upgrade.headers['x-rpf-session']);
    const res = await callAgent(port, 'DELETE', formatAgentSessionEnd(id, { reason: GOAWAY_REASON.FORBIDDEN, message: `forbidden: ${'€'.repeat(600)}` }));
    t.is(res.status, 200);
    const error = await opened.closed;
    t.is(error?.reason, GOAWAY_REASON.FORBIDDEN);
    const text = goawayMessage(error);
    t.true(Buffer.byteLength(text) <= 1024);
    t.true(text.startsWith('forbidden: €€€'));
    t.false(text.includes('\uFFFD'), 'no character was cut in half');
  } finally {
    opened.ws.terminate();
    await agent.close();
  }
});
