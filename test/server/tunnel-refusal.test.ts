// The answers of a tunnel request before its upgrade, through server/refusal.ts:
// our own Status (counted rejected or error), an agent's refusal relayed as it
// came (counted agent_rejected), and a client gone (counted, nothing written).
import test from 'ava';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RpfServerError } from '../../server/errors.ts';
import { ServerMetrics } from '../../server/metrics.ts';
import { countClientGone, refuseTunnel, relayAgentRefusal } from '../../server/refusal.ts';
import { formatResponseHead } from '../../server/status.ts';

/** What a client reads when the server side of its connection is answered by `answer` (a socket that records). */
function answered(answer: (socket: Socket) => void): { head: string; body: string; ended: boolean } {
  const written: Buffer[] = [];
  let ended = false;
  const socket = {
    destroyed: false,
    writable: true,
    write(chunk: string | Buffer) {
      written.push(Buffer.from(chunk));
      return true;
    },
    end(chunk?: string | Buffer) {
      if (chunk !== undefined) written.push(Buffer.from(chunk));
      ended = true;
      return this;
    },
    setTimeout() {
      return this;
    },
    destroy() {
      return this;
    },
  };
  answer(socket as unknown as Socket);
  const text = Buffer.concat(written).toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, split), body: text.slice(split + 4), ended };
}

async function value(metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string>): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

test('a response head is the status line, one line per header in order, and a blank line', (t) => {
  t.is(
    formatResponseHead(101, 'Switching Protocols', [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
    ]),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  );
});

const outcomes: { name: string; err: RpfServerError; outcome: string }[] = [
  { name: 'a 4xx of ours is counted as rejected', err: new RpfServerError('RPF_ERR_SERVER_FORBIDDEN', 'no'), outcome: 'rejected' },
  { name: 'a 5xx of ours is counted as error', err: new RpfServerError('RPF_ERR_SERVER_AGENT_TIMEOUT', 'late'), outcome: 'error' },
];

for (const c of outcomes) {
  test(`a refused tunnel request gets a Status, its code and duration are counted: ${c.name}`, async (t) => {
    const metrics = new ServerMetrics();
    const { head, body, ended } = answered((socket) => refuseTunnel(socket, c.err, metrics, 0.25));
    t.true(ended);
    t.regex(head, new RegExp(`^HTTP/1\\.1 ${c.err.status} `));
    t.like(JSON.parse(body) as object, { kind: 'Status', code: c.err.status, reason: c.err.reason });
    t.is(await value(metrics.sessionRequests, { outcome: c.outcome }), 1);
    t.is(await value(metrics.errors, { type: c.err.code }), 1);
    const durations = (await metrics.requestDuration.get()).values.find((v) => v.labels['code'] === String(c.err.status) && v.metricName?.endsWith('_count'));
    t.is(durations?.labels['kind'], 'tunnel');
    t.is(durations?.value, 1);
  });
}

test("an agent's refusal is relayed with its status, body and own headers, without its connection headers", async (t) => {
  const metrics = new ServerMetrics();
  const body = Buffer.from('{"kind":"Status","code":409}');
  const res = {
    statusCode: 409,
    statusMessage: 'Conflict',
    rawHeaders: ['X-Agent', 'stand-in', 'Transfer-Encoding', 'chunked', 'Keep-Alive', 'timeout=5', 'Connection', 'keep-alive'],
    headers: { 'x-agent': 'stand-in', 'transfer-encoding': 'chunked', 'keep-alive': 'timeout=5', connection: 'keep-alive' },
  } as unknown as IncomingMessage;
  const answer = answered((socket) => relayAgentRefusal(socket, res, body, metrics, 0.1));
  t.true(answer.ended);
  t.is(
    answer.head,
    ['HTTP/1.1 409 Conflict', 'X-Agent: stand-in', 'Content-Type: application/json', `Content-Length: ${body.length}`, 'Connection: close'].join('\r\n'),
  );
  t.is(answer.body, body.toString());
  t.is(await value(metrics.sessionRequests, { outcome: 'agent_rejected' }), 1);
  t.is(await value(metrics.errors, { type: 'agent_409' }), 1);
});

test('a client gone before its answer is counted as client_gone, and as no error', async (t) => {
  const metrics = new ServerMetrics();
  countClientGone(metrics);
  t.is(await value(metrics.sessionRequests, { outcome: 'client_gone' }), 1);
  t.deepEqual((await metrics.errors.get()).values, []);
});
