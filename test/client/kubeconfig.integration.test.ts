// The kubeconfig's TLS settings against a real TLS server: its CA, a client
// certificate it requires, and tls-server-name for a certificate that does
// not name 127.0.0.1, through https.request (KubeApiClient) and ws alike.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import test from 'ava';
import WebSocket, { WebSocketServer } from 'ws';
import { RpfClientError } from '../../client/errors.ts';
import { KubeApiClient, loadKubeContext, requestOptions } from '../../client/kube.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a serving certificate for `kube.test` only, and a client certificate for CN=tester, in `dir`. */
function makePki(dir: string): void {
  const key = (name: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path.join(dir, `${name}.key`)]);
  key('ca');
  openssl(['req', '-x509', '-new', '-key', path.join(dir, 'ca.key'), '-subj', '/CN=test-ca', '-days', '1', '-out', path.join(dir, 'ca.crt')]);
  for (const [name, subject, ext] of [
    ['server', '/CN=kube.test', 'subjectAltName=DNS:kube.test\nextendedKeyUsage=serverAuth'],
    ['client', '/CN=tester', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    key(name);
    writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    openssl(['req', '-new', '-key', path.join(dir, `${name}.key`), '-subj', subject, '-out', path.join(dir, `${name}.csr`)]);
    openssl([
      'x509', '-req', '-in', path.join(dir, `${name}.csr`), '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'),
      '-CAcreateserial', '-days', '1', '-extfile', path.join(dir, `${name}.ext`), '-out', path.join(dir, `${name}.crt`),
    ]);
  }
}

/** What the server saw of a request. */
interface Seen {
  cn: string | undefined;
  authorization: string | undefined;
  impersonate: string | undefined;
}

async function tlsServer(pki: string) {
  const server = https.createServer({
    key: readFileSync(path.join(pki, 'server.key')),
    cert: readFileSync(path.join(pki, 'server.crt')),
    ca: readFileSync(path.join(pki, 'ca.crt')),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const seen = (request: IncomingMessage): Seen => ({
    cn: (request.socket as TLSSocket).getPeerCertificate().subject?.CN as string | undefined,
    authorization: request.headers.authorization,
    impersonate: request.headers['impersonate-user'] as string | undefined,
  });
  server.on('request', (request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen(request))));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, request) => ws.send(JSON.stringify(seen(request))));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

test('CA, client certificate, token and tls-server-name from the kubeconfig reach a TLS server through https and ws', async (t) => {
  const dir = scratchDir('kube-rpf-tls-');
  const pki = path.join(dir, 'pki');
  mkdirSync(pki);
  makePki(pki);
  const { server, port } = await tlsServer(pki);
  t.teardown(() => server.close());

  const kubeconfig = (serverName: string) => {
    const file = path.join(dir, `kubeconfig-${serverName || 'none'}`);
    writeFileSync(file, [
      'apiVersion: v1',
      'kind: Config',
      'current-context: tls',
      'clusters:',
      '- name: tls',
      '  cluster:',
      `    server: https://127.0.0.1:${port}`,
      '    certificate-authority: pki/ca.crt',
      ...(serverName ? [`    tls-server-name: ${serverName}`] : []),
      'users:',
      '- name: tester',
      '  user:',
      '    client-certificate: pki/client.crt',
      '    client-key: pki/client.key',
      '    token: tls-token',
      '    as: jane',
      'contexts:',
      '- name: tls',
      '  context: {cluster: tls, user: tester}',
      '',
    ].join('\n'));
    return file;
  };

  const context = loadKubeContext({ kubeconfig: kubeconfig('kube.test') });
  const expected: Seen = { cn: 'tester', authorization: 'Bearer tls-token', impersonate: 'jane' };
  t.deepEqual(await new KubeApiClient(context).get<Seen>('/version'), expected);

  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, await requestOptions(context.credentials, {}));
  const [message] = (await once(ws, 'message')) as [Buffer];
  ws.close();
  t.deepEqual(JSON.parse(message.toString()), expected);

  // Without tls-server-name the certificate, which names only kube.test, is refused.
  const error = await t.throwsAsync(new KubeApiClient(loadKubeContext({ kubeconfig: kubeconfig('') })).get('/version'), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_CONNECT_FAILED');
});
