// How sessions end: listeners never outlive their session, a dead agent ends
// a client that does not reconnect with a clear error, and long or many tunnels survive
// kube-apiserver's request timeout and Priority and Fairness.
import test from 'ava';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import { componentPid, nodeOf } from './helpers/kube-rpf-pods.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { spawnRpf, startRpf } from './helpers/rpf.ts';
import { createUser } from './helpers/users.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-life');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

async function listening(port: number): Promise<boolean> {
  const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'netstat', '-ltn']);
  return new RegExp(`(127\\.0\\.0\\.1|::1):${port}\\s`).test(result.stdout);
}

test.serial('a client killed with SIGKILL leaves no listener in the pod within 15 s', async (t) => {
  const rpf = await startRpf(['-n', namespace, 'app', '8282:3000'], 2);
  t.true(await listening(8282));
  rpf.child.kill('SIGKILL');
  const started = Date.now();
  await waitFor('the listener to close', async () => ((await listening(8282)) ? undefined : true), 15_000);
  t.log(`listener gone ${Date.now() - started} ms after SIGKILL`);
  t.pass();
});

test.serial('a client that goes silent (SIGSTOP) is declared dead by keepalive and its listeners close within 15 s', async (t) => {
  const rpf = await startRpf(['-n', namespace, 'app', '8292:3000'], 2);
  try {
    t.true(await listening(8292));
    // A frozen client keeps its TCP connection open but answers no PING: only
    // the tunnel's keepalive can notice.
    rpf.child.kill('SIGSTOP');
    const started = Date.now();
    await waitFor('the listener to close', async () => ((await listening(8292)) ? undefined : true), 20_000);
    const elapsed = Date.now() - started;
    t.log(`listener gone ${elapsed} ms after the client froze`);
    t.true(elapsed <= 15_000, `took ${elapsed} ms`);
  } finally {
    rpf.child.kill('SIGKILL');
  }
});

test.serial('with --reconnect=false, the agent killed mid-session makes the client exit non-zero with a clear message', async (t) => {
  // Reconnection (the default) is rpf-reconnect.test.ts's; here the loss itself must be reported.
  const rpf = await startRpf(['-n', namespace, 'app', '8383:3000', '--reconnect=false'], 2);
  // The agent that holds the session: the one on app's node.
  const node = await nodeOf(namespace, 'app');
  process.kill(await componentPid('agent', node), 'SIGKILL');
  const exit = await rpf.exited;
  t.not(exit.code, 0);
  const lines = rpf.stderr().trim().split('\n');
  t.regex(lines[lines.length - 1]!, /lost connection/i);
  // Later tests need an agent back. The crashed pod is replaced rather than
  // left to kubelet's restart, whose back-off grows with every run of the
  // suite on the same cluster (CrashLoopBackOff after a few).
  const agentPods = ['get', 'pods', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/name=rpf-agent', `--field-selector=spec.nodeName=${node}`];
  const crashed = (await kubectlOk([...agentPods, '-o', 'jsonpath={.items[*].metadata.name}'])).trim();
  await kubectlOk(['delete', 'pod', '-n', 'kube-rpf', ...crashed.split(' '), '--timeout=60s']);
  const readyPods = '{range .items[*]}{.metadata.name}={.status.containerStatuses[0].ready}{" "}{end}';
  await waitFor('a new rpf-agent pod to be ready', async () => {
    const pods = (await kubectlOk([...agentPods, '-o', `jsonpath=${readyPods}`])).trim().split(' ');
    return pods.some((p) => p.endsWith('=true') && !crashed.split(' ').includes(p.split('=')[0]!)) ? true : undefined;
  }, 90_000);
});

test.serial('a session open past kube-apiserver\'s 60 s request timeout still carries data', async (t) => {
  const web = await startHttpServer('still here\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8484:${web.port}`], 2);
  try {
    await new Promise((resolve) => setTimeout(resolve, 65_000));
    const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8484/']);
    t.is(result.stdout, 'still here\n', result.stderr);
    t.is(rpf.child.exitCode, null);
  } finally {
    await rpf.stop();
    await web.close();
  }
});

test.serial('20 tunnels at once leave the same user\'s ordinary requests unaffected', async (t) => {
  const user = await createUser(`many-${Math.random().toString(36).slice(2, 7)}`);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  await kubectlOk(['create', 'rolebinding', `${user.name}-rpf`, '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  const web = await startHttpServer('one of many\n');
  const started = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => startRpf(['-n', namespace, 'app', `${9100 + i}:${web.port}`], 2, user.kubeconfig, 60_000)),
  );
  const tunnels = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    t.deepEqual(started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason)), []);
    for (let i = 0; i < 10; i++) {
      const result = await kubectl(['get', 'pods', '-n', namespace, '-o', 'name'], { kubeconfig: user.kubeconfig, timeoutMs: 10_000 });
      t.is(result.code, 0, result.stderr);
    }
    const through = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:9119/']);
    t.is(through.stdout, 'one of many\n');
  } finally {
    await Promise.all(tunnels.map((rpf) => rpf.stop()));
    await web.close();
  }
});

test.serial('Ctrl-C ends the session cleanly with exit 0 and closes the listeners', async (t) => {
  const rpf = spawnRpf(['-n', namespace, 'app', '8585:3000']);
  await waitFor('Forwarding lines', async () => (rpf.forwarding.length === 2 ? true : undefined), 30_000);
  const exit = await rpf.stop();
  t.is(exit.code, 0, rpf.stderr());
  await waitFor('the listener to close', async () => ((await listening(8585)) ? undefined : true), 5_000);
  t.pass();
});
