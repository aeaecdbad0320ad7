import test from 'ava';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { ALLOW } from './helpers/fakes.ts';
import { once, openTunnel, startHarness, tunnelPath } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

async function harness(t: { teardown(fn: () => Promise<void>): void }, args: string[]): Promise<Harness> {
  const h = await startHarness(pki, { args });
  t.teardown(() => h.close());
  return h;
}

/** A TLS connection as kube-apiserver opens it (front-proxy certificate), once its handshake is done. */
function tlsClient(h: Harness): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: h.port, servername: 'localhost', ca: pki.servingCa.cert, cert: pki.frontProxyClient.cert, key: pki.frontProxyClient.key });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection, and how long after `since` that was. */
function untilClosed(s: Socket, since: number, limitMs = 10_000): Promise<{ data: string; afterMs: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms`));
    }, limitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('utf8'), afterMs: Date.now() - since });
    });
  });
}

async function errorCount(h: Harness, code: string): Promise<number> {
  return (await h.metrics.errors.get()).values.find((v) => v.labels['type'] === code)?.value ?? 0;
}

/** Reads one complete HTTP response (Content-Length framed) from a kept-alive connection. */
function oneResponse(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      if (end >= 0 && length !== undefined && text.length >= end + 4 + Number(length)) {
        s.off('data', onData);
        resolve(text);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

// Bounds are checked against generous ceilings: a loaded machine runs late, never early.
const SLACK_MS = 1500;

test('a TCP connection that never starts TLS is closed within --tls-handshake-timeout, and counted', async (t) => {
  const h = await harness(t, ['--tls-handshake-timeout=300ms']);
  const started = Date.now();
  const s = netConnect(h.port, '127.0.0.1');
  const { afterMs } = await untilClosed(s, started);
  t.true(afterMs >= 250, `closed after ${afterMs} ms`);
  t.true(afterMs < 300 + SLACK_MS, `closed after ${afterMs} ms`);
  t.is(await errorCount(h, 'RPF_ERR_SERVER_TLS_HANDSHAKE_TIMEOUT'), 1);
});

test('a connection that completes TLS but never sends headers gets a 408 Status and is closed within --request-header-timeout', async (t) => {
  const h = await harness(t, ['--request-header-timeout=300ms', '--request-read-timeout=5s']);
  const s = await tlsClient(h);
  const { data, afterMs } = await untilClosed(s, Date.now());
  t.true(afterMs < 300 + SLACK_MS, `closed after ${afterMs} ms`);
  t.regex(data, /^HTTP\/1\.1 408 /);
  t.regex(data, /\r\nx-rpf-error-code: RPF_ERR_SERVER_REQUEST_TIMEOUT\r\n/i);
  const status = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as { kind: string; code: number; reason: string };
  t.like(status, { kind: 'Status', code: 408, reason: 'Timeout' });
  t.is(await errorCount(h, 'RPF_ERR_SERVER_REQUEST_TIMEOUT'), 1);
});

test('headers sent one byte at a time do not stretch the header timeout', async (t) => {
  const h = await harness(t, ['--request-header-timeout=400ms', '--request-read-timeout=5s']);
  const s = await tlsClient(h);
  const started = Date.now();
  const closed = untilClosed(s, started);
  const request = 'GET /healthz HTTP/1.1\r\nHost: rpf\r\nX-Slow: ' + 'a'.repeat(1000);
  let i = 0;
  const drip = setInterval(() => {
    if (!s.destroyed && i < request.length) s.write(request[i++] ?? '');
  }, 50);
  t.teardown(() => clearInterval(drip));
  const { data, afterMs } = await closed;
  t.true(afterMs < 400 + SLACK_MS, `closed after ${afterMs} ms`);
  t.regex(data, /^HTTP\/1\.1 408 /);
});

test('a request whose body never finishes gets a 408 Status within --request-read-timeout', async (t) => {
  const h = await harness(t, ['--request-header-timeout=200ms', '--request-read-timeout=500ms']);
  const s = await tlsClient(h);
  const started = Date.now();
  const closed = untilClosed(s, started);
  s.write('DELETE /apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/reverseportforwards/x HTTP/1.1\r\nHost: rpf\r\nX-Remote-User: alice\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
  const { data, afterMs } = await closed;
  t.true(afterMs >= 400, `closed after ${afterMs} ms`);
  t.true(afterMs < 500 + SLACK_MS, `closed after ${afterMs} ms`);
  t.regex(data, /^HTTP\/1\.1 408 /);
  t.regex(data, /x-rpf-error-code: RPF_ERR_SERVER_REQUEST_TIMEOUT/i);
});

test('a connection idle after its response is closed within --keep-alive-timeout (plus Node\'s 1 s buffer)', async (t) => {
  const h = await harness(t, ['--keep-alive-timeout=300ms']);
  const s = await tlsClient(h);
  const answer = oneResponse(s);
  s.write('GET /healthz HTTP/1.1\r\nHost: rpf\r\n\r\n');
  t.regex(await answer, /^HTTP\/1\.1 200 /);
  const { afterMs } = await untilClosed(s, Date.now());
  t.true(afterMs < 300 + 1000 + SLACK_MS, `closed after ${afterMs} ms`);
});

test('connections past --max-connections are closed at once while the others keep working', async (t) => {
  const h = await harness(t, ['--max-connections=3']);
  const held = [await tlsClient(h), await tlsClient(h), await tlsClient(h)];
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  // The fourth never gets a handshake: the server closes it on accept.
  const refused = tlsConnect({ host: '127.0.0.1', port: h.port, servername: 'localhost', ca: pki.servingCa.cert });
  let secured = false;
  refused.once('secureConnect', () => (secured = true));
  await untilClosed(refused, Date.now(), 5000);
  t.false(secured);
  t.is(await errorCount(h, 'RPF_ERR_SERVER_TOO_MANY_CONNECTIONS'), 1);
  // The connections already held still answer.
  const first = held[0] as TLSSocket;
  const answer = oneResponse(first);
  first.write('GET /healthz HTTP/1.1\r\nHost: rpf\r\n\r\n');
  t.regex(await answer, /^HTTP\/1\.1 200 /);
  // Once one goes, a new connection is accepted again.
  const closed = untilClosed(held[1] as TLSSocket, Date.now());
  held[1]?.destroy();
  await closed;
  for (let i = 0; i < 200; i++) {
    const count = await new Promise<number>((r) => h.server.app.server.getConnections((_e, n) => r(n)));
    if (count < 3) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const again = await tlsClient(h);
  held.push(again);
  t.true(again.authorized);
});

test('an open tunnel outlives every connection timeout, and so does a tunnel request slower than them to authorize', async (t) => {
  const h = await harness(t, [
    // The handshake bound is not what this test is about: room for a loaded machine.
    '--tls-handshake-timeout=5s',
    '--request-header-timeout=500ms',
    '--request-read-timeout=500ms',
    '--keep-alive-timeout=500ms',
    '--connection-idle-timeout=500ms',
  ]);
  // Authorization takes longer than any of the bounds: the upgrade request is already read, so none applies.
  h.kube.review = async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return ALLOW;
  };
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  const greeting = once<[Buffer]>(ws, 'message');
  await once(ws, 'open');
  await greeting;
  // Silence on the tunnel for longer than every bound, Node's keep-alive buffer included.
  await new Promise((r) => setTimeout(r, 3000));
  const reply = once<[Buffer]>(ws, 'message');
  ws.send('still there?');
  t.is((await reply)[0].toString('utf8'), 'echo: still there?');
  t.is(h.server.proxy.activeCount, 1);
  ws.close();
});

test('a malformed request gets a 400 Status through the same refusal, naming no source', async (t) => {
  const h = await harness(t, []);
  const s = await tlsClient(h);
  const closed = untilClosed(s, Date.now());
  s.write('NOT HTTP AT ALL\r\n\r\n');
  const { data } = await closed;
  t.regex(data, /^HTTP\/1\.1 400 /);
  t.regex(data, /x-rpf-error-code: RPF_ERR_SERVER_BAD_REQUEST/i);
  t.like(JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as object, { kind: 'Status', code: 400, reason: 'BadRequest' });
  t.is(await errorCount(h, 'RPF_ERR_SERVER_BAD_REQUEST'), 1);
});
