// The reconnect state machine against stand-in tunnels and a clock that
// moves only when slept on: what it asks for again, when it waits, what it
// says, and when it stops.
import test from 'ava';
import { GOAWAY_REASON, RpfProtocolError } from '../../protocol/index.ts';
import { Backoff, ReconnectingForward, RpfClientError, lostError, statusError } from '../../client/index.ts';
import type { Clock, ForwardStateChange, ForwardTunnel, PodLeaving, PortMapping, ReconnectingForwardOptions, ResolvedPod } from '../../client/index.ts';

/** A clock that moves only when slept on; sleeping is instant unless aborted first. */
function fakeClock(): Clock & { slept: number[]; advance(ms: number): void } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      slept.push(ms);
      now += ms;
    },
  };
}

/** A stand-in tunnel whose end the test decides. */
interface StandIn extends ForwardTunnel {
  lose(error: RpfClientError): void;
  closedByClient: boolean;
}

function standIn(pod: ResolvedPod, mappings: readonly PortMapping[], picks: number[] = []): StandIn {
  let end: (error: RpfClientError | undefined) => void = () => {};
  const ended = new Promise<RpfClientError | undefined>((resolve) => (end = resolve));
  const specPorts = mappings.map((m) => (m.remote === 0 ? picks.shift() : m.remote));
  const tunnel: StandIn = {
    pod,
    protocol: 'v1.rpf.kube-rpf.dev',
    listeners: mappings.map((m, i) => ({ address: '127.0.0.1', remotePort: specPorts[i] ?? 0, localPort: m.local })),
    specPorts,
    ended,
    closedByClient: false,
    lose: (error) => end(error),
    close: async () => {
      tunnel.closedByClient = true;
      end(undefined);
    },
  };
  return tunnel;
}

const web1 = { namespace: 'ns', name: 'web-1' };
const lost = () => lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_TRANSPORT_CLOSED', 'closed', { cause: new Error('websocket closed (1006)') }), web1);
const goaway = (reason: number, message: string) => lostError(new RpfProtocolError('RPF_ERR_PROTOCOL_GOAWAY', `the other side ended the tunnel session: ${message}`, { reason }), web1);
const unavailable = () => statusError(503, {}, JSON.stringify({ kind: 'Status', message: 'no rpf-agent is ready on node n1', code: 503 }), 'x');

/** A forward over stand-ins: `attempts` answers each reconnect attempt in turn (a pick list opens a tunnel, an error refuses). */
function harness(options: {
  mappings?: PortMapping[];
  firstPicks?: number[];
  attempts?: Array<RpfClientError | number[] | 'hang'>;
  reconnect?: boolean;
  followsWorkload?: boolean;
  resolve?: () => Promise<ResolvedPod>;
  portReclaimMs?: number;
  podLeaving?: PodLeaving;
}) {
  const mappings = options.mappings ?? [{ remote: 8080, local: 3000 }];
  const clock = fakeClock();
  const first = standIn(web1, mappings, options.firstPicks ?? []);
  const opened: Array<{ pod: ResolvedPod; ports: number[]; tunnel?: StandIn }> = [];
  const attempts = [...(options.attempts ?? [])];
  const log: string[] = [];
  const states: ForwardStateChange[] = [];
  const controller = new AbortController();
  const forwardOptions: ReconnectingForwardOptions = {
    first,
    mappings,
    reconnect: options.reconnect ?? true,
    followsWorkload: options.followsWorkload ?? false,
    targetName: options.followsWorkload ? 'deployment/web' : 'pod/web-1',
    open: async (pod, asked, signal) => {
      const answer = attempts.shift() ?? 'hang';
      const record: { pod: ResolvedPod; ports: number[]; tunnel?: StandIn } = { pod, ports: asked.map((m) => m.remote) };
      opened.push(record);
      if (answer === 'hang') {
        return new Promise<ForwardTunnel>((_, reject) => signal.addEventListener('abort', () => reject(new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'cancelled')), { once: true }));
      }
      if (answer instanceof RpfClientError) throw answer;
      record.tunnel = standIn(pod, asked, answer);
      return record.tunnel;
    },
    resolve: options.resolve ?? (async () => web1),
    clock,
    backoff: new Backoff({ random: () => 0.5 }),
    ...(options.portReclaimMs === undefined ? {} : { portReclaimMs: options.portReclaimMs }),
    ...(options.podLeaving === undefined ? {} : { podLeaving: options.podLeaving }),
    log: (line) => log.push(line),
    onStateChange: (change) => states.push(change),
    signal: controller.signal,
  };
  const forward = new ReconnectingForward(forwardOptions);
  /** Resolves once `n` tunnels were opened. */
  const openedAtLeast = async (n: number) => {
    while (opened.length < n || (opened[n - 1]?.tunnel === undefined && forward.state !== 'ended')) await new Promise((resolve) => setImmediate(resolve));
    return opened[n - 1]!;
  };
  return { forward, first, opened, log, states, clock, controller, openedAtLeast };
}

test('a transient loss reconnects to the same pod and ports, says so once, and reports each state', async (t) => {
  const h = harness({ attempts: [[]] });
  h.first.lose(lost());
  const again = await h.openedAtLeast(1);
  t.deepEqual(again.ports, [8080]);
  t.deepEqual(again.pod, web1);
  // The stderr line is the CLI's contract with its user: its text is asserted.
  t.deepEqual(h.log, ["lost connection to the pod's reverse port-forward: websocket closed (1006); reconnecting"]);
  t.deepEqual(h.clock.slept, [500]);
  t.deepEqual(
    h.states.map((s) => (s.state === 'reconnecting' ? `${s.state} ${s.attempt} ${s.reason.code}` : s.state === 'connected' ? `${s.state} ${s.reconnects}` : s.state)),
    ['connected 0', 'reconnecting 1 RPF_ERR_CLIENT_CONNECTION_LOST', 'connected 1'],
  );
  t.is(h.forward.state, 'connected');
  t.is(h.forward.tunnel, again.tunnel!);
  await h.forward.close();
  t.deepEqual(await h.forward.closed, {});
  t.true(again.tunnel!.closedByClient);
  t.is(h.states.at(-1)?.state, 'ended');
});

test('failed attempts back off 0.5 s doubling, and a reason that repeats is said once', async (t) => {
  const h = harness({ attempts: [unavailable(), unavailable(), unavailable(), []] });
  h.first.lose(goaway(GOAWAY_REASON.SHUTTING_DOWN, 'rpf-agent is shutting down'));
  await h.openedAtLeast(4);
  t.deepEqual(h.clock.slept, [500, 1000, 2000, 4000]);
  t.deepEqual(h.log, [
    "lost connection to the pod's reverse port-forward: the other side ended the tunnel session: rpf-agent is shutting down; reconnecting",
    'still reconnecting: no rpf-agent is ready on node n1',
  ]);
  t.deepEqual(
    h.states.filter((s) => s.state === 'reconnecting').map((s) => (s.state === 'reconnecting' ? [s.attempt, s.delayMs, s.reason.status ?? s.reason.code] : [])),
    [
      [1, 500, 'RPF_ERR_CLIENT_SESSION_ENDED'],
      [2, 1000, 503],
      [3, 2000, 503],
      [4, 4000, 503],
    ],
  );
  await h.forward.close();
});

const finals: Array<{ name: string; error: () => RpfClientError; code: string }> = [
  { name: 'GOAWAY FORBIDDEN', error: () => goaway(GOAWAY_REASON.FORBIDDEN, 'pods "web-1" is forbidden: User "bob" cannot create resource'), code: 'RPF_ERR_CLIENT_FORBIDDEN' },
  { name: 'GOAWAY DELETED', error: () => goaway(GOAWAY_REASON.DELETED, 'the session was deleted by an administrator'), code: 'RPF_ERR_CLIENT_SESSION_ENDED' },
  { name: 'GOAWAY POD_GONE for a plain pod', error: () => goaway(GOAWAY_REASON.POD_GONE, 'gone'), code: 'RPF_ERR_CLIENT_POD_GONE' },
];

for (const c of finals) {
  test(`${c.name} ends the forward with its error, without an attempt or a "reconnecting" line`, async (t) => {
    const h = harness({ attempts: [[]] });
    const error = c.error();
    h.first.lose(error);
    t.deepEqual(await h.forward.closed, { error });
    t.is(error.code, c.code as RpfClientError['code']);
    t.deepEqual(h.opened, []);
    t.deepEqual(h.log, []);
    t.deepEqual(h.states.at(-1), { state: 'ended', error });
  });
}

test('a final answer to an attempt (403) ends the forward with it', async (t) => {
  const forbidden = statusError(403, {}, JSON.stringify({ kind: 'Status', message: 'pods "web-1" is forbidden', code: 403 }), 'x');
  const h = harness({ attempts: [unavailable(), forbidden] });
  h.first.lose(lost());
  t.deepEqual(await h.forward.closed, { error: forbidden });
  t.is(h.opened.length, 2);
});

test('with reconnect off, the first loss ends the forward with it', async (t) => {
  const h = harness({ reconnect: false, attempts: [[]] });
  const error = lost();
  h.first.lose(error);
  t.deepEqual(await h.forward.closed, { error });
  t.deepEqual(h.opened, []);
});

test('a 0:LOCAL spec asks again for the port the pod gave it, next to the fixed ports', async (t) => {
  const h = harness({ mappings: [{ remote: 8080, local: 3000 }, { remote: 0, local: 4000 }], firstPicks: [41000], attempts: [[41000]] });
  h.first.lose(lost());
  t.deepEqual((await h.openedAtLeast(1)).ports, [8080, 41000]);
  await h.forward.close();
});

test('a picked port still taken soon after the drop (our own old session) is asked for again; later, any free port is', async (t) => {
  const inUse = statusError(
    409,
    {},
    JSON.stringify({ kind: 'Status', message: 'error creating reverse port-forward listener: port 41000 already in use', code: 409 }),
    'x',
  );
  const h = harness({ mappings: [{ remote: 0, local: 4000 }], firstPicks: [41000], attempts: [inUse, inUse, inUse, inUse, inUse, [41007], [41007]], portReclaimMs: 10_000 });
  h.first.lose(lost());
  const sixth = await h.openedAtLeast(6);
  // Slept 0.5 + 1 + 2 + 4 = 7.5 s before the 5th attempt, < 10 s: still 41000;
  // 15.5 s before the 6th: the port is someone else's now.
  t.deepEqual(h.opened.map((o) => o.ports[0]), [41000, 41000, 41000, 41000, 41000, 0]);
  t.true(h.log.includes('port 41000 in the pod is taken now; asking for any free port instead'), h.log.join('\n'));
  // The new port is the one asked for after the next loss.
  sixth.tunnel!.lose(lost());
  t.deepEqual((await h.openedAtLeast(7)).ports, [41007]);
  await h.forward.close();
});

test('a workload target follows a pod that is gone: the target is resolved again, and the move is said', async (t) => {
  const web2 = { namespace: 'ns', name: 'web-2' };
  let resolved = 0;
  const h = harness({
    followsWorkload: true,
    attempts: [[]],
    resolve: async () => {
      resolved++;
      return web2;
    },
  });
  h.first.lose(goaway(GOAWAY_REASON.POD_GONE, 'gone'));
  const moved = await h.openedAtLeast(1);
  t.deepEqual(moved.pod, web2);
  t.is(resolved, 1);
  t.deepEqual(h.log.slice(1), ['following deployment/web to pod ns/web-2']);
  await h.forward.close();
});

test('a workload target whose pod vanished between attempts (404) is resolved again; a transient loss is not', async (t) => {
  const notFound = statusError(404, { 'x-rpf-error-code': 'RPF_ERR_SERVER_POD_NOT_FOUND' }, JSON.stringify({ kind: 'Status', message: 'pods "web-1" not found', code: 404 }), 'x');
  let resolved = 0;
  const h = harness({
    followsWorkload: true,
    attempts: [notFound, []],
    resolve: async () => {
      resolved++;
      return { namespace: 'ns', name: 'web-3' };
    },
  });
  h.first.lose(lost());
  await h.openedAtLeast(2);
  t.deepEqual(h.opened.map((o) => o.pod.name), ['web-1', 'web-3']);
  t.is(resolved, 1);
  await h.forward.close();
});

test('close() while reconnecting stops at once: closed resolves without an error, no attempt is left running', async (t) => {
  const h = harness({ attempts: ['hang'] });
  h.first.lose(lost());
  while (h.opened.length < 1) await new Promise((resolve) => setImmediate(resolve));
  await h.forward.close();
  t.deepEqual(await h.forward.closed, {});
  t.is(h.forward.state, 'ended');
  t.is(h.opened.length, 1);
});

test('the caller\'s signal (Ctrl-C) ends a connected forward like close()', async (t) => {
  const h = harness({});
  h.controller.abort();
  t.deepEqual(await h.forward.closed, {});
  t.true(h.first.closedByClient);
});

test('a session that lived longer than the largest delay starts the backoff over; one that dropped at once keeps backing off', async (t) => {
  const h = harness({ attempts: [[], [], []] });
  h.first.lose(lost());
  const second = await h.openedAtLeast(1);
  second.tunnel!.lose(lost()); // at once: a flapping path
  const third = await h.openedAtLeast(2);
  h.clock.advance(60_000);
  third.tunnel!.lose(lost()); // after a minute up
  await h.openedAtLeast(3);
  t.deepEqual(h.clock.slept, [500, 1000, 500]);
  await h.forward.close();
});

/** A PodLeaving whose pods leave when the test says, by name. */
function leavingOnCue() {
  const cues = new Map<string, () => void>();
  const watched: string[] = [];
  const podLeaving: PodLeaving = (pod) => {
    watched.push(pod.name);
    return new Promise<void>((resolve) => cues.set(pod.name, resolve));
  };
  return { podLeaving, watched, leave: (name: string) => cues.get(name)?.() };
}

test('a workload pod that starts terminating: a tunnel to a Ready pod opens first, then the old one is closed', async (t) => {
  const cue = leavingOnCue();
  const h = harness({ followsWorkload: true, attempts: [[]], podLeaving: cue.podLeaving, resolve: async () => ({ namespace: 'ns', name: 'web-2' }) });
  while (cue.watched.length < 1) await new Promise((resolve) => setImmediate(resolve));
  t.false(h.first.closedByClient);
  cue.leave('web-1');
  const moved = await h.openedAtLeast(1);
  t.is(moved.pod.name, 'web-2');
  while (!h.first.closedByClient) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(h.log, ['pod ns/web-1 is terminating; following deployment/web to pod ns/web-2']);
  t.deepEqual(h.clock.slept, [], 'no backoff: nothing was lost');
  t.deepEqual(h.states.map((s) => s.state), ['connected', 'connected']);
  t.is(h.forward.state, 'connected');
  // The new pod is watched in turn.
  while (cue.watched.length < 2) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(cue.watched, ['web-1', 'web-2']);
  await h.forward.close();
  t.deepEqual(await h.forward.closed, {});
});

test('a terminating pod with no Ready replacement yet keeps its tunnel until the agent reports it gone, then the forward follows', async (t) => {
  const cue = leavingOnCue();
  let resolves = 0;
  const h = harness({
    followsWorkload: true,
    attempts: [[]],
    podLeaving: cue.podLeaving,
    resolve: async () => {
      resolves++;
      if (resolves === 1) throw new RpfClientError('RPF_ERR_CLIENT_POD_NOT_RUNNING', 'no ready pod for deployment/web');
      return { namespace: 'ns', name: 'web-2' };
    },
  });
  while (cue.watched.length < 1) await new Promise((resolve) => setImmediate(resolve));
  cue.leave('web-1');
  while (resolves < 1) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.false(h.first.closedByClient, 'the old tunnel still serves');
  t.deepEqual(h.opened, []);
  h.first.lose(goaway(GOAWAY_REASON.POD_GONE, 'gone'));
  const moved = await h.openedAtLeast(1);
  t.is(moved.pod.name, 'web-2');
  await h.forward.close();
});
