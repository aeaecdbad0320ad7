// The rpf-server <-> rpf-agent contract (protocol/agent-api.ts): what one side
// encodes, the other parses back unchanged.
import test from 'ava';
import {
  AGENT_SESSIONS_PATH,
  agentSessionPath,
  failureStatus,
  formatAgentCaller,
  formatAgentSessionRequest,
  formatResponseHead,
  formatStatusResponse,
  parseAgentCaller,
  parseAgentSessionPath,
  parseAgentSessionRequest,
  reasonPhrase,
  successStatus,
} from '../../protocol/index.ts';

test('a session request encodes to the agent path and parses back to the same pod, ports and addresses', (t) => {
  const path = formatAgentSessionRequest({ namespace: 'dev', pod: 'web', podUID: 'uid-1', ports: [8080, 0], addresses: ['127.0.0.1', '::1'] });
  t.is(path, '/v1/sessions?namespace=dev&pod=web&podUID=uid-1&ports=8080&ports=0&address=127.0.0.1&address=%3A%3A1');
  const url = new URL(path, 'https://rpf-agent');
  t.is(url.pathname, AGENT_SESSIONS_PATH);
  t.deepEqual(parseAgentSessionRequest(url.searchParams), { namespace: 'dev', pod: 'web', podUID: 'uid-1', ports: ['8080', '0'], addresses: ['127.0.0.1', '::1'] });
});

test('a session request without addresses sends none, and missing names parse as empty', (t) => {
  const url = new URL(formatAgentSessionRequest({ namespace: 'dev', pod: 'web', podUID: 'u', ports: [1], addresses: [] }), 'https://a');
  t.deepEqual(url.searchParams.getAll('address'), []);
  t.deepEqual(parseAgentSessionRequest(new URLSearchParams('')), { namespace: '', pod: '', podUID: '', ports: [], addresses: [] });
});

test('the caller crosses as headers: a UTF-8 user arrives intact, and an empty audit ID is not sent', (t) => {
  const user = 'jürgen@開発';
  const headers = formatAgentCaller({ user, auditId: '' });
  t.deepEqual(Object.keys(headers), ['X-Rpf-User']);
  // Node's parser hands header values over as Latin-1 and lower-cases the names.
  const received = Object.fromEntries(Object.entries(formatAgentCaller({ user, auditId: 'a-1' })).map(([k, v]) => [k.toLowerCase(), v]));
  t.deepEqual(parseAgentCaller(received), { user, auditId: 'a-1' });
  t.deepEqual(parseAgentCaller({}), { user: '', auditId: '' });
});

test('a session DELETE path round-trips its id, and other paths name no session', (t) => {
  t.is(agentSessionPath('web-1a2b'), '/v1/sessions/web-1a2b');
  t.is(parseAgentSessionPath(agentSessionPath('a b/c')), 'a b/c');
  for (const path of ['/v1/sessions', '/v1/sessions/', '/v1/sessions/a/b', '/v1/other/a', '/v1/sessions/%zz']) t.is(parseAgentSessionPath(path), undefined, path);
});

test('a failure Status carries only the defined detail fields; causes are dropped when empty', (t) => {
  const details = { name: 'web', causes: [{ reason: 'R', message: 'm' }], extra: 'not served' };
  t.deepEqual(failureStatus({ status: 409, reason: 'Conflict', message: 'in use', details }), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'in use',
    reason: 'Conflict',
    code: 409,
    details: { name: 'web', causes: [{ reason: 'R', message: 'm' }] },
  });
  t.deepEqual(failureStatus({ status: 400, reason: 'BadRequest', message: 'x', details: { causes: [] } }).details, {});
  t.false('details' in successStatus());
});

test('a Status response is a complete HTTP/1.1 response with the standard reason phrase, its length and Connection: close', (t) => {
  const status = successStatus({ name: 'x' });
  const { head, body } = formatStatusResponse(status, [['X-Extra', '1']]);
  t.is(JSON.parse(body).details.name, 'x');
  t.is(head, `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Extra: 1\r\nConnection: close\r\n\r\n`);
  t.is(reasonPhrase(429), 'Too Many Requests');
  t.is(formatResponseHead(101, 'Switching Protocols', [['Upgrade', 'websocket']]), 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n');
});
