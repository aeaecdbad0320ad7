// Which ends of a session kubectl-rpf reconnects after, follows its workload
// after, or stops with.
import test from 'ava';
import { GOAWAY_REASON, RpfProtocolError } from '../../protocol/index.ts';
import { RpfClientError, lostError, portInUse, reconnectVerdict, statusError } from '../../client/index.ts';
import type { ReconnectVerdict } from '../../client/index.ts';

const pod = { namespace: 'ns', name: 'web-1' };

function goaway(reason: number, message: string): RpfClientError {
  return lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_GOAWAY', `the other side ended the tunnel session: ${message}`, { reason }), pod);
}

function answer(status: number, upstreamCode?: string, message = 'refused'): RpfClientError {
  const body = JSON.stringify({ kind: 'Status', message, code: status, ...(upstreamCode ? { details: { causes: [{ reason: upstreamCode }] } } : {}) });
  return statusError(status, {}, body, 'error upgrading connection');
}

const cases: Array<{ name: string; error: RpfClientError; pod: ReconnectVerdict; workload: ReconnectVerdict }> = [
  { name: 'the WebSocket closed', error: lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_TRANSPORT_CLOSED', 'closed', { cause: new Error('websocket closed (1006)') }), pod), pod: 'retry', workload: 'retry' },
  { name: 'keepalive timeout', error: lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT', 'no message for 15000 ms'), pod), pod: 'retry', workload: 'retry' },
  { name: 'GOAWAY SHUTTING_DOWN (agent rollout)', error: goaway(GOAWAY_REASON.SHUTTING_DOWN, 'rpf-agent is shutting down'), pod: 'retry', workload: 'retry' },
  { name: 'GOAWAY INTERNAL_ERROR', error: goaway(GOAWAY_REASON.INTERNAL_ERROR, 'oops'), pod: 'retry', workload: 'retry' },
  { name: 'GOAWAY POD_GONE', error: goaway(GOAWAY_REASON.POD_GONE, 'pod ns/web-1 is gone'), pod: 'final', workload: 'follow' },
  { name: 'GOAWAY FORBIDDEN (RBAC revoked)', error: goaway(GOAWAY_REASON.FORBIDDEN, 'forbidden'), pod: 'final', workload: 'final' },
  { name: 'GOAWAY DELETED (an administrator)', error: goaway(GOAWAY_REASON.DELETED, 'deleted'), pod: 'final', workload: 'final' },
  { name: 'GOAWAY POLICY (maximum lifetime)', error: goaway(GOAWAY_REASON.POLICY, 'too old'), pod: 'final', workload: 'final' },
  { name: 'GOAWAY IDLE_TIMEOUT', error: goaway(GOAWAY_REASON.IDLE_TIMEOUT, 'idle'), pod: 'final', workload: 'final' },
  { name: 'GOAWAY PROTOCOL_ERROR', error: goaway(GOAWAY_REASON.PROTOCOL_ERROR, 'bad frame'), pod: 'final', workload: 'final' },
  { name: 'a GOAWAY reason this build does not know', error: goaway(99, 'new'), pod: 'final', workload: 'final' },
  { name: 'the agent broke the protocol', error: lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_MALFORMED_FRAME', 'bad'), pod), pod: 'final', workload: 'final' },
  { name: '503 (rpf-server restarting, no agent ready)', error: answer(503, 'RPF_ERR_SERVER_NO_AGENT'), pod: 'retry', workload: 'retry' },
  { name: '502', error: answer(502), pod: 'retry', workload: 'retry' },
  { name: '500', error: answer(500), pod: 'retry', workload: 'retry' },
  { name: '504', error: answer(504), pod: 'retry', workload: 'retry' },
  { name: '429 (the old session still counted)', error: answer(429, 'RPF_ERR_SERVER_USER_SESSION_LIMIT'), pod: 'retry', workload: 'retry' },
  { name: '409 port in use', error: answer(409, 'RPF_ERR_AGENT_PORT_IN_USE'), pod: 'retry', workload: 'retry' },
  { name: '403', error: answer(403), pod: 'final', workload: 'final' },
  { name: '401', error: answer(401), pod: 'final', workload: 'final' },
  { name: '400', error: answer(400, 'RPF_ERR_SERVER_INVALID_QUERY'), pod: 'final', workload: 'final' },
  { name: 'a generic 404', error: answer(404), pod: 'final', workload: 'final' },
  { name: '404 of the pod', error: answer(404, 'RPF_ERR_SERVER_POD_NOT_FOUND'), pod: 'final', workload: 'follow' },
  { name: 'the pod not running', error: answer(400, 'RPF_ERR_SERVER_POD_NOT_RUNNING'), pod: 'final', workload: 'follow' },
  { name: 'the pod terminating', error: answer(400, 'RPF_ERR_SERVER_POD_TERMINATING'), pod: 'final', workload: 'follow' },
  { name: 'the agent not finding the pod', error: answer(404, 'RPF_ERR_AGENT_POD_NOT_FOUND'), pod: 'final', workload: 'follow' },
  { name: 'a protocol version mismatch', error: answer(400, 'RPF_ERR_AGENT_VERSION_MISMATCH'), pod: 'final', workload: 'final' },
  { name: 'the API server unreachable', error: new RpfClientError('RPF_ERR_CLIENT_CONNECT_FAILED', 'unable to connect'), pod: 'retry', workload: 'retry' },
  { name: 'no listeners reported', error: new RpfClientError('RPF_ERR_CLIENT_LISTENING_TIMEOUT', 'no listeners'), pod: 'retry', workload: 'retry' },
  { name: 'a credential plugin failing', error: new RpfClientError('RPF_ERR_CLIENT_CREDENTIALS', 'plugin failed'), pod: 'retry', workload: 'retry' },
  { name: 'the workload deleted', error: new RpfClientError('RPF_ERR_CLIENT_TARGET_NOT_FOUND', 'deployments.apps "web" not found'), pod: 'final', workload: 'final' },
];

for (const c of cases) {
  test(`${c.name}: ${c.pod} for a pod, ${c.workload} for a workload`, (t) => {
    t.is(reconnectVerdict(c.error, false), c.pod);
    t.is(reconnectVerdict(c.error, true), c.workload);
  });
}

test('a revoked tunnel (GOAWAY FORBIDDEN) is FORBIDDEN with the Forbidden text as it is, the CLI\'s one error line', (t) => {
  const text = 'pods "web-1" is forbidden: User "bob" cannot create resource "pods/reverseportforward" in API group "rpf.kube-rpf.dev" in the namespace "ns"';
  const error = goaway(GOAWAY_REASON.FORBIDDEN, text);
  t.is(error.code, 'RPF_ERR_CLIENT_FORBIDDEN');
  // The text after `error: ` is the user's contract (kube-apiserver's wording).
  t.is(error.message, text);
});

test('portInUse reads the port from the agent\'s 409 message, and nothing from other answers', (t) => {
  t.is(portInUse(answer(409, 'RPF_ERR_AGENT_PORT_IN_USE', 'error creating reverse port-forward listener: port 41000 already in use')), 41000);
  t.is(portInUse(answer(409, undefined, 'conflict')), undefined);
  t.is(portInUse(answer(503, undefined, 'port 41000 already in use')), undefined);
});
